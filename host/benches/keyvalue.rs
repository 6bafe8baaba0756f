//! `cargo xtask bench`, key-value rows: `get` and `set` of a 100-byte value
//! by a plugin (kv-counter, through `wasi:keyvalue`), beside the floor: the
//! same operation on the same store used directly from Rust, in the same
//! run. Prints the rows of `BENCHMARKS.md`'s key-value table on stdout.
//!
//! - redb: the floor is a redb database of its own, opened as witplug
//!   opens its own (several writing processes allowed), each write its own
//!   transaction committed with the default durability (synced), a read
//!   its own read transaction. witplug's `get` includes the whole call into
//!   the plugin: the target is 2× the floor; its `set` is dominated by the
//!   sync to disk, so its target is 1.2×.
//! - JetStream (when `WITPLUG_NATS_URL` names a server with JetStream):
//!   the floor is async-nats's Key-Value client on a bucket of its own.
//!   Target 1.3×.
//!
//! Rounds of each alternate, so the machine's noise weighs on both; each
//! row gives the median round's rate and the p50 and p99 of every call.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{ConcurrencyMode, Database, ReadableDatabase, ReadableTable, TableDefinition};
use witplug_host::{Host, HostBuilder};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

const VALUE: [u8; 100] = [b'v'; 100];
const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("floor");

/// Calls and the time each took, in µs.
#[derive(Default)]
struct Samples {
    each: Vec<f64>,
    rounds: Vec<f64>,
}

impl Samples {
    async fn round<F: AsyncFnMut() -> Fallible<()>>(
        &mut self,
        calls: usize,
        mut op: F,
    ) -> Fallible<()> {
        let started = Instant::now();
        for _ in 0..calls {
            let one = Instant::now();
            op().await?;
            self.each.push(one.elapsed().as_secs_f64() * 1e6);
        }
        self.rounds.push(calls as f64 / started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Calls per second (the median round's), p50 and p99 in µs.
    fn summary(mut self) -> (f64, f64, f64) {
        self.rounds.sort_by(f64::total_cmp);
        self.each.sort_by(f64::total_cmp);
        let at = |p: f64| self.each[((self.each.len() - 1) as f64 * p) as usize];
        (self.rounds[self.rounds.len() / 2], at(0.5), at(0.99))
    }
}

/// A row: each side's rate and latencies, and the median of the rounds'
/// own ratios (each round of witplug's beside the floor's that ran next to
/// it), so that a burst of noise weighs on both sides of a ratio.
fn row(what: &str, witplug: Samples, floor: Samples, target: &str) -> String {
    let mut ratios: Vec<f64> =
        floor.rounds.iter().zip(&witplug.rounds).map(|(floor, witplug)| floor / witplug).collect();
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    let (rate, p50, p99) = witplug.summary();
    let (floor_rate, floor_p50, floor_p99) = floor.summary();
    format!(
        "| {what} | {rate:.0} /s, p50 {p50:.1} µs, p99 {p99:.1} µs | {floor_rate:.0} /s, p50 \
         {floor_p50:.1} µs, p99 {floor_p99:.1} µs | {ratio:.2}× | {target} |"
    )
}

fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins")
}

/// A plugins folder holding kv-counter, granted the bucket `default`.
fn plugins(scratch: &Path) -> Fallible<PathBuf> {
    let dir = scratch.join("plugins");
    std::fs::create_dir_all(&dir)?;
    let component = plugins_dir().join("kv-counter.wasm");
    std::fs::copy(&component, dir.join("kv-counter.wasm")).map_err(|err| {
        format!("{}: {err}: run `cargo xtask build-plugins`", component.display())
    })?;
    std::fs::write(dir.join("kv-counter.toml"), "[grants]\nkeyvalue = [\"default\"]\n")?;
    Ok(dir)
}

async fn host(builder: &mut HostBuilder, plugins: &Path) -> Fallible<Host> {
    let host = builder.build()?;
    host.load_dir(plugins).await?;
    Ok(host)
}

fn main() -> Fallible<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let scratch = std::env::temp_dir().join(format!("witplug-kv-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let result = rt.block_on(run(&scratch));
    let _ = std::fs::remove_dir_all(&scratch);
    for line in result? {
        println!("{line}");
    }
    Ok(())
}

async fn run(scratch: &Path) -> Fallible<Vec<String>> {
    let plugins = plugins(scratch)?;
    let mut rows = redb_rows(scratch, &plugins).await?;
    match std::env::var("WITPLUG_NATS_URL") {
        Ok(url) => rows.extend(jetstream_rows(&url, &plugins).await?),
        Err(_) => eprintln!("WITPLUG_NATS_URL is not set: no JetStream rows"),
    }
    Ok(rows)
}

async fn redb_rows(scratch: &Path, plugins: &Path) -> Fallible<Vec<String>> {
    let host = host(Host::builder().data_dir(scratch.join("data")), plugins).await?;
    let plugin = host.plugin("kv-counter")?;
    let set = format!("set key {}", std::str::from_utf8(&VALUE)?);
    plugin.handle(&set).await?;

    let db = Database::builder()
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .create(scratch.join("floor.redb"))?;
    let write = || -> Fallible<()> {
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?.insert("key", &VALUE[..])?;
        tx.commit()?;
        Ok(())
    };
    write()?;

    let (mut get, mut get_floor) = (Samples::default(), Samples::default());
    for _ in 0..15 {
        get.round(2_000, async || {
            plugin.handle("get key").await?;
            Ok(())
        })
        .await?;
        get_floor
            .round(2_000, async || {
                let tx = db.begin_read()?;
                let value = tx.open_table(TABLE)?.get("key")?.map(|v| v.value().to_vec());
                std::hint::black_box(value);
                Ok(())
            })
            .await?;
    }
    let (mut put, mut put_floor) = (Samples::default(), Samples::default());
    for _ in 0..9 {
        put.round(60, async || {
            plugin.handle(&set).await?;
            Ok(())
        })
        .await?;
        put_floor.round(60, async || write()).await?;
    }
    Ok(vec![
        row(
            "get of a 100-byte value by a plugin, redb (floor: redb read transaction)",
            get,
            get_floor,
            "≤ 2× floor",
        ),
        row(
            "set of a 100-byte value by a plugin, redb, synced (floor: redb write transaction)",
            put,
            put_floor,
            "≤ 1.2× floor",
        ),
    ])
}

async fn jetstream_rows(url: &str, plugins: &Path) -> Fallible<Vec<String>> {
    use async_nats::jetstream::{self, kv};

    let client = async_nats::connect(url).await?;
    let store =
        Arc::new(witplug_host::nats::JetStreamKeyValue::with_prefix(client.clone(), "bench"));
    let host = host(Host::builder().key_value(store), plugins).await?;
    let plugin = host.plugin("kv-counter")?;
    let set = format!("set key {}", std::str::from_utf8(&VALUE)?);
    plugin.handle(&set).await?;

    let context = jetstream::new(client);
    let floor = context
        .create_or_update_key_value(kv::Config {
            bucket: "bench_floor".into(),
            history: 1,
            ..Default::default()
        })
        .await?;
    floor.put("key", VALUE.to_vec().into()).await?;

    let (mut get, mut get_floor) = (Samples::default(), Samples::default());
    for _ in 0..21 {
        get.round(200, async || {
            plugin.handle("get key").await?;
            Ok(())
        })
        .await?;
        get_floor
            .round(200, async || {
                std::hint::black_box(floor.get("key").await?);
                Ok(())
            })
            .await?;
    }
    let (mut put, mut put_floor) = (Samples::default(), Samples::default());
    for _ in 0..21 {
        put.round(200, async || {
            plugin.handle(&set).await?;
            Ok(())
        })
        .await?;
        put_floor
            .round(200, async || {
                floor.put("key", VALUE.to_vec().into()).await?;
                Ok(())
            })
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(vec![
        row(
            "get of a 100-byte value by a plugin, JetStream (floor: async-nats KV get)",
            get,
            get_floor,
            "≤ 1.3× floor",
        ),
        row(
            "set of a 100-byte value by a plugin, JetStream (floor: async-nats KV put)",
            put,
            put_floor,
            "≤ 1.3× floor",
        ),
    ])
}
