//! The Python and JavaScript counters: warm calls, loads cold and from the
//! cache, and a host starting with both, each beside wasmtime by hand on
//! the same component.

use std::time::Instant;

use witplug_host::Host;

use super::{
    Fallible, Floor, Paired, Precompiled, Row, component_bytes, measure_loads, middle, plugins_dir,
    tempdir,
};

/// The counters in Python and JavaScript, with their rows' names.
const LANGUAGES: [(&str, [&str; 3]); 2] = [
    (
        "py-counter",
        [
            "Python (py-counter): warm call of `handle`",
            "Python (py-counter): load, cold (compile, link, read `info`)",
            "Python (py-counter): load from the cache",
        ],
    ),
    (
        "js-counter",
        [
            "JavaScript (js-counter): warm call of `handle`",
            "JavaScript (js-counter): load, cold (compile, link, read `info`)",
            "JavaScript (js-counter): load from the cache",
        ],
    ),
];

/// Warm calls per round, and rounds.
const WARM_CALLS: u32 = 2_000;
const WARM_ROUNDS: usize = 15;

/// For each of the Python and JavaScript counters: a warm call beside the
/// same call by hand, a cold load beside compiling by hand, a load from
/// the cache beside loading a precompiled file by hand; then a host
/// starting with both from the cache beside loading both by hand.
pub async fn measure() -> Fallible<Vec<Row>> {
    let cache = tempdir("languages")?;
    let mut rows = Vec::new();
    for (name, [warm, cold, cached]) in LANGUAGES {
        let path = plugins_dir().join(format!("{name}.wasm"));
        let loads = measure_loads(name, 5).await?;
        let host = Host::builder().cache_dir(&cache).build()?;
        let plugin = host.load_file(&path).await?;
        plugin.warm(1).await?;
        let floor = Floor::new(name)?;
        let mut store = floor.store();
        let by_hand = floor.instance(&mut store).await?;
        let per_call = |started: Instant| started.elapsed().as_secs_f64() / f64::from(WARM_CALLS);
        let witplug = async || {
            let started = Instant::now();
            for _ in 0..WARM_CALLS {
                plugin.handle("x").await?;
            }
            Ok(per_call(started))
        };
        let floor = async || {
            let started = Instant::now();
            for _ in 0..WARM_CALLS {
                let guest = by_hand.witplug_plugin_guest();
                guest.call_handle(&mut store, "x").await?.map_err(|e| e.to_string())?;
            }
            Ok(per_call(started))
        };
        let paired = Paired::rounds(WARM_ROUNDS, witplug, floor).await?;
        let mut row = paired.row(warm);
        row.target = "≤ 1.2× floor";
        rows.push(row);
        rows.push(Row {
            what: cold,
            witplug: loads.cold,
            floor: Some(loads.compile),
            paired: None,
            unit: "ms",
            target: "(floor: compile only)",
        });
        rows.push(Row {
            what: cached,
            witplug: loads.cached,
            floor: Some(loads.cached_floor),
            paired: None,
            unit: "ms",
            target: "≤ 1.2× floor",
        });
    }
    rows.push(start_with_both(&cache).await?);
    std::fs::remove_dir_all(&cache)?;
    Ok(rows)
}

/// A host starting with both counters from a filled cache (`cache`),
/// beside loading both precompiled files by hand, one after the other.
async fn start_with_both(cache: &std::path::Path) -> Fallible<Row> {
    let both = tempdir("both")?;
    let floor_dir = tempdir("both-by-hand")?;
    let mut by_hand = Vec::new();
    for (name, _) in LANGUAGES {
        std::fs::write(both.join(format!("{name}.wasm")), component_bytes(name)?)?;
        by_hand.push(Precompiled::new(name, &floor_dir)?);
    }
    let (mut witplug, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let host = Host::builder().cache_dir(cache).build()?;
        let started = Instant::now();
        let report = host.load_dir(&both).await?;
        witplug.push(started.elapsed().as_secs_f64());
        if report.loaded.len() != 2 {
            let failed: Vec<String> = report.failed.iter().map(ToString::to_string).collect();
            return Err(format!("{} loaded; failed: {failed:?}", report.loaded.len()).into());
        }
        let started = Instant::now();
        for precompiled in &by_hand {
            precompiled.load().await?;
        }
        floor.push(started.elapsed().as_secs_f64());
    }
    std::fs::remove_dir_all(&both)?;
    std::fs::remove_dir_all(&floor_dir)?;
    Ok(Row {
        what: "a host starting with both, from the cache",
        witplug: middle(witplug),
        floor: Some(middle(floor)),
        paired: None,
        unit: "ms",
        target: "≤ 1.2× floor",
    })
}
