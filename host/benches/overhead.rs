//! `cargo xtask bench`: witplug against wasmtime used by hand (the floor),
//! side by side in one run, on the same component, the same engine
//! settings (`witplug_host::compile::engine_config`) and the same machine. Prints
//! `BENCHMARKS.md` on stdout.
//!
//! The floor is what a careful embedder writes without witplug: `bindgen!`
//! for the `plugin` world, a pre-linked `InstancePre`, one `Store` per
//! instance, no-op host imports. The difference is witplug's own cost:
//! pooling, limits, deadlines, metrics and events.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use witplug_host::{Host, Limits};

#[cfg(feature = "nats")]
#[path = "overhead/across.rs"]
mod across;
#[path = "overhead/languages.rs"]
mod languages;
#[path = "overhead/throughput.rs"]
mod throughput;

mod floor {
    wasmtime::component::bindgen!({
        path: "wit/v0.2.0",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The floor for a plugin of contract 0.1: its bindings, their types 0.2's,
/// as the host's are.
mod floor_v0_1 {
    wasmtime::component::bindgen!({
        path: "wit/v0.1.0",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "witplug:plugin/types": super::floor::witplug::plugin::types },
    });
}

use floor::witplug::plugin::types::{Error as WitError, Level};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Fallible<()> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    match args.next() {
        // A child process: hold 1,000 idle instances and print the memory.
        Some(mode) if mode.starts_with("--rss-") => return runtime().block_on(rss_child(&mode)),
        // Only calls, one way (see `profile`), for a profiler:
        // `valgrind --tool=callgrind overhead --profile witplug`.
        Some(mode) if mode == "--profile" => {
            let way = args.next().unwrap_or_default();
            let calls = args.next().map_or(Ok(PROFILE_CALLS), |calls| calls.parse())?;
            return runtime().block_on(profile(&way, calls));
        }
        // Only the timed call rows, for a quick look at the call path.
        Some(mode) if mode == "--calls" => {
            print!("{}", table(&timed_calls()?));
            return Ok(());
        }
        // Only the loads, Rust's then Python's and JavaScript's.
        Some(mode) if mode == "--loads" => {
            let rt = runtime();
            let mut rows = rt.block_on(loads())?;
            rows.extend(rt.block_on(languages::measure())?);
            print!("{}", table(&rows));
            return Ok(());
        }
        // Only the throughput rows (the bus, calls across plugins).
        Some(mode) if mode == "--throughput" => {
            print!("{}", table(&runtime().block_on(throughput::measure())?));
            return Ok(());
        }
        // Only the rows across hosts (`WITPLUG_NATS_URL` names the server).
        #[cfg(feature = "nats")]
        Some(mode) if mode == "--across" => {
            let url = std::env::var("WITPLUG_NATS_URL").map_err(|_| "set WITPLUG_NATS_URL")?;
            print!("{}", across_report(&runtime().block_on(across::measure(&url))?));
            return Ok(());
        }
        // A child process: the timed call rows, measured once (see
        // `timed_calls`).
        Some(mode) if mode == "--calls-once" => {
            let rt = runtime();
            let mut rows = rt.block_on(warm_calls())?;
            rows.push(rt.block_on(fresh_calls())?);
            for (index, row) in rows.iter().enumerate() {
                let paired = row.paired.ok_or("a timed row is paired")?;
                let floor = row.floor.ok_or("a timed row has a floor")?;
                println!("{index} {} {floor} {paired}", row.witplug);
            }
            return Ok(());
        }
        _ => {}
    }
    let rt = runtime();
    let mut rows = Vec::new();
    eprintln!("measuring warm and fresh-instance calls in {PROCESSES} processes...");
    rows.extend(timed_calls()?);
    eprintln!("counting instructions...");
    rows.extend(instructions()?);
    eprintln!("measuring loads...");
    rows.extend(rt.block_on(loads())?);
    eprintln!("loading {MANY} plugins and calling each once...");
    rows.push(rt.block_on(many_plugins())?);
    eprintln!("measuring the Python and JavaScript plugins...");
    rows.extend(rt.block_on(languages::measure())?);
    eprintln!("measuring resident memory...");
    rows.push(rss()?);
    eprintln!("measuring throughput...");
    rows.extend(rt.block_on(throughput::measure())?);
    let mut report = report(&rows);
    #[cfg(feature = "nats")]
    match std::env::var("WITPLUG_NATS_URL") {
        Ok(url) => {
            eprintln!("measuring across two hosts through NATS at {url}...");
            report.push_str(&across_report(&rt.block_on(across::measure(&url))?));
        }
        Err(_) => eprintln!("WITPLUG_NATS_URL is not set: no rows across hosts"),
    }
    print!("{report}");
    Ok(())
}

/// The rows across hosts, beside the same within one host.
#[cfg(feature = "nats")]
fn across_report(across: &across::Across) -> String {
    let tools = |calls: &across::ToolCalls| {
        format!(
            "{:.0} /s, p50 {:.1} µs, p99 {:.1} µs",
            calls.per_second,
            calls.p50.as_secs_f64() * 1e6,
            calls.p99.as_secs_f64() * 1e6
        )
    };
    let (witplug, floor) = (&across.witplug, &across.floor);
    let messages = |messages: &across::Messages| {
        format!("{:.0} /s, {} lost", messages.per_second, messages.lost)
    };
    let mut out = String::new();
    out.push_str(&format!(
        "| messages through NATS, plugin on host A to plugin on host B | {} | {} | {:.2}× | ≤ 1.2× floor (floor: two async-nats clients); 0 lost |\n",
        messages(&witplug.messages),
        messages(&floor.messages),
        across.ratios[0],
    ));
    out.push_str(&format!(
        "| tool calls to a plugin in the same host (8 callers) | {} | {} | {:.2}× | ≤ 1.2× floor (floor: a provider's store per caller) |\n",
        tools(&witplug.local),
        tools(&floor.local),
        across.ratios[1],
    ));
    out.push_str(&format!(
        "| tool calls to a plugin on another host, through NATS (8 callers) | {} | {} | {:.2}× | ≤ 1.2× floor (floor: async-nats request and reply) |\n",
        tools(&witplug.remote),
        tools(&floor.remote),
        across.ratios[2],
    ));
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins")
}

fn component_bytes(name: &str) -> Fallible<Vec<u8>> {
    let path = plugins_dir().join(format!("{name}.wasm"));
    std::fs::read(&path)
        .map_err(|err| format!("{}: {err}: run `cargo xtask build-plugins`", path.display()).into())
}

/// One row of the table: witplug, the floor, what a unit is, and the target.
struct Row {
    what: &'static str,
    witplug: f64,
    floor: Option<f64>,
    /// The ratio of rounds paired with the floor's (see [`Paired`]), where
    /// it is not simply `witplug / floor`.
    paired: Option<f64>,
    unit: &'static str,
    target: &'static str,
}

impl Row {
    /// A timed row: the median times per call in µs, and the median of the
    /// paired ratios (see [`Paired`]).
    fn timed(what: &'static str, witplug: f64, floor: f64, paired: f64) -> Self {
        Self {
            what,
            witplug,
            floor: Some(floor),
            paired: Some(paired),
            unit: "µs",
            target: "≤ 1.1× floor",
        }
    }
}

/// Times of one way and the floor's, taken in the same rounds.
///
/// The machine's noise comes in bursts that slow everything running in
/// them: a round of each way runs back to back, the order rotating from
/// round to round, and each round's own ratio is the witplug time over the
/// floor's from the same round. The ratio reported is the median of those
/// ratios, so a burst weighs on both sides of the ratios it touches instead
/// of on one side of the comparison. The times reported are each way's
/// median round.
#[derive(Default)]
struct Paired {
    witplug: Vec<f64>,
    floor: Vec<f64>,
}

impl Paired {
    /// `rounds` rounds of each way in turn, the order alternating; each
    /// closure runs one round and returns its seconds per operation.
    async fn rounds(
        rounds: usize,
        mut witplug: impl AsyncFnMut() -> Fallible<f64>,
        mut floor: impl AsyncFnMut() -> Fallible<f64>,
    ) -> Fallible<Self> {
        let mut paired = Self::default();
        for round in 0..rounds {
            for way in 0..2 {
                if (round + way) % 2 == 0 {
                    paired.witplug.push(witplug().await?);
                } else {
                    paired.floor.push(floor().await?);
                }
            }
        }
        Ok(paired)
    }

    fn row(self, what: &'static str) -> Row {
        let ratios = self.witplug.iter().zip(&self.floor).map(|(w, f)| w / f).collect();
        Row::timed(what, middle(self.witplug), middle(self.floor), middle(ratios))
    }
}

/// The median of `rounds` runs of `run`, which returns the seconds one
/// operation took in that run.
async fn median<F: AsyncFnMut() -> Fallible<f64>>(rounds: usize, mut run: F) -> Fallible<f64> {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        samples.push(run().await?);
    }
    Ok(middle(samples))
}

// ---- the floor: wasmtime by hand ------------------------------------------

struct FloorState {
    wasi: WasiCtx,
    http: wasmtime_wasi_http::WasiHttpCtx,
    table: ResourceTable,
    /// Where `send-message` goes.
    outbox: Outbox,
    /// What `call-tool` reaches.
    tools: Tools,
}

/// Where a plugin by hand sends its messages: nowhere, into a tokio
/// channel per subscriber, or to NATS.
enum Outbox {
    None,
    Channels(Vec<tokio::sync::mpsc::UnboundedSender<(String, Vec<u8>)>>),
    #[cfg(feature = "nats")]
    Nats(async_nats::Client),
}

/// What a plugin by hand's `call-tool` reaches: nothing, an instance of
/// the provider in a store of its own, or a provider on NATS (request and
/// reply).
enum Tools {
    None,
    Local(Box<(Store<FloorState>, floor::Plugin)>),
    #[cfg(feature = "nats")]
    Nats(async_nats::Client),
}

impl WasiView for FloorState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wasmtime_wasi_http::WasiHttpView for FloorState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

impl floor::witplug::plugin::types::Host for FloorState {}

impl floor::witplug::plugin::host::Host for FloorState {
    async fn log(&mut self, _level: Level, _message: String) -> wasmtime::Result<()> {
        Ok(())
    }

    async fn get_config(&mut self, _key: String) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }

    async fn send_message(
        &mut self,
        topic: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        match &self.outbox {
            Outbox::None => {}
            Outbox::Channels(subscribers) => {
                for subscriber in subscribers {
                    let _ = subscriber.send((topic.clone(), payload.clone()));
                }
            }
            #[cfg(feature = "nats")]
            Outbox::Nats(client) => {
                let sent = client.publish(format!("floor.bus.{topic}"), payload.into()).await;
                if let Err(err) = sent {
                    return Ok(Err(WitError::Failed(err.to_string())));
                }
            }
        }
        Ok(Ok(()))
    }

    async fn call_tool(
        &mut self,
        name: String,
        input: String,
    ) -> wasmtime::Result<Result<String, WitError>> {
        match &mut self.tools {
            Tools::None => Ok(Err(WitError::NotFound(name))),
            Tools::Local(provider) => {
                let (store, plugin) = &mut **provider;
                plugin.witplug_plugin_guest().call_run_tool(store, &name, &input).await
            }
            #[cfg(feature = "nats")]
            Tools::Nats(client) => {
                match client.request(format!("floor.tool.{name}"), input.into()).await {
                    Ok(answer) => Ok(String::from_utf8(answer.payload.to_vec())
                        .map_err(|err| WitError::Failed(err.to_string()))),
                    Err(err) => Ok(Err(WitError::Failed(err.to_string()))),
                }
            }
        }
    }
}

impl floor_v0_1::witplug::plugin::host::Host for FloorState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        floor::witplug::plugin::host::Host::log(self, level, message).await
    }

    async fn get_config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        floor::witplug::plugin::host::Host::get_config(self, key).await
    }

    async fn send_message(
        &mut self,
        topic: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        floor::witplug::plugin::host::Host::send_message(self, topic, payload).await
    }

    async fn call_tool(
        &mut self,
        name: String,
        input: String,
    ) -> wasmtime::Result<Result<String, WitError>> {
        floor::witplug::plugin::host::Host::call_tool(self, name, input).await
    }
}

/// A store for the floor's instances in `engine`.
fn floor_store(engine: &Engine) -> Store<FloorState> {
    let state = FloorState {
        wasi: WasiCtx::builder().build(),
        http: wasmtime_wasi_http::WasiHttpCtx::new(),
        table: ResourceTable::new(),
        outbox: Outbox::None,
        tools: Tools::None,
    };
    let mut store = Store::new(engine, state);
    // Epoch interruption is on in the shared settings; without a ticker the
    // floor never reaches its deadline.
    store.set_epoch_deadline(u64::MAX / 2);
    store
}

/// The counter as built against contract 0.1, committed for good
/// (`tests/fixtures/v0.1`).
fn counter_v0_1() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/v0.1/counter.wasm")
}

/// The floor of the 0.1 counter: wasmtime by hand through 0.1's bindings.
struct FloorV01 {
    engine: Engine,
    pre: floor_v0_1::PluginPre<FloorState>,
}

impl FloorV01 {
    fn new() -> Fallible<Self> {
        let engine = Engine::new(&witplug_host::compile::engine_config(&Limits::default()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        floor_v0_1::witplug::plugin::host::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        linker.instance("witplug:plugin/types@0.1.0")?;
        let component = Component::new(&engine, std::fs::read(counter_v0_1())?)?;
        let pre = floor_v0_1::PluginPre::new(linker.instantiate_pre(&component)?)?;
        Ok(Self { engine, pre })
    }

    async fn instance(&self, store: &mut Store<FloorState>) -> Fallible<floor_v0_1::Plugin> {
        let plugin = self.pre.instantiate_async(&mut *store).await?;
        plugin.witplug_plugin_guest().call_init(&mut *store).await?.map_err(|e| e.to_string())?;
        Ok(plugin)
    }
}

/// The floor's linker: WASI, `wasi:http` (which the Python and JavaScript
/// toolchains import whether or not a plugin uses it) and the contract.
fn linker(engine: &Engine) -> Fallible<Linker<FloorState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    floor::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

struct Floor {
    engine: Engine,
    pre: floor::PluginPre<FloorState>,
}

impl Floor {
    fn new(name: &str) -> Fallible<Self> {
        let engine = Engine::new(&witplug_host::compile::engine_config(&Limits::default()))?;
        let component = Component::new(&engine, component_bytes(name)?)?;
        Self::of(engine, &component)
    }

    /// `component`, linked as a careful embedder links it (see [`linker`]).
    fn of(engine: Engine, component: &Component) -> Fallible<Self> {
        let pre = floor::PluginPre::new(linker(&engine)?.instantiate_pre(component)?)?;
        Ok(Self { engine, pre })
    }

    fn store(&self) -> Store<FloorState> {
        floor_store(&self.engine)
    }

    /// A call of `handle` on a new instance, dropped after it.
    async fn fresh_call(&self) -> Fallible<()> {
        let mut store = self.store();
        let plugin = self.instance(&mut store).await?;
        let guest = plugin.witplug_plugin_guest();
        guest.call_handle(&mut store, "get").await?.map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn instance(&self, store: &mut Store<FloorState>) -> Fallible<floor::Plugin> {
        let plugin = self.pre.instantiate_async(&mut *store).await?;
        plugin.witplug_plugin_guest().call_init(&mut *store).await?.map_err(|e| e.to_string())?;
        Ok(plugin)
    }
}

// ---- the measurements -----------------------------------------------------

/// Calls of the `--profile` way when the command line gives no number.
const PROFILE_CALLS: u32 = 100_000;

/// Warm calls per round: some 10 ms, short enough that most rounds fall
/// between the machine's bursts of noise.
const WARM_CALLS: u32 = 15_000;
/// (Odd, for a median, and a multiple of the five ways, so that each way
/// comes in each place equally often.)
const WARM_ROUNDS: usize = 65;

/// The timed rows, in the order a `--calls-once` child prints them.
const TIMED: [&str; 4] = [
    "warm call of `handle` (contract 0.2: counter)",
    "warm call of `handle` through a `Lease`",
    "warm call of `handle` (contract 0.1: counter, tests/fixtures/v0.1)",
    "call on a fresh instance (instantiate, init, call, drop)",
];

/// How many processes measure the timed rows.
const PROCESSES: usize = 7;

/// The timed rows, measured in [`PROCESSES`] child processes of this
/// benchmark. Each process lays out its code and memory afresh, and that
/// alone moves either way's time by a few percent from one process to the
/// next, which no number of rounds within one process averages out: each
/// row is the median of the processes' own results (times and paired
/// ratios).
fn timed_calls() -> Fallible<Vec<Row>> {
    let exe = std::env::current_exe()?;
    let mut runs: Vec<Vec<[f64; 3]>> = vec![Vec::new(); TIMED.len()];
    for _ in 0..PROCESSES {
        let output = Command::new(&exe).arg("--calls-once").output()?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("the timed calls failed: {stderr}").into());
        }
        let stdout = String::from_utf8(output.stdout)?;
        let lines: Vec<&str> = stdout.lines().collect();
        if lines.len() != TIMED.len() {
            return Err(format!("the timed calls printed {} rows: {stdout}", lines.len()).into());
        }
        for (index, (row, line)) in runs.iter_mut().zip(lines).enumerate() {
            let (printed, numbers) = line.split_once(' ').ok_or("an empty row")?;
            if printed.parse::<usize>()? != index {
                return Err(format!("row {index} came as row {printed}").into());
            }
            let numbers: Vec<f64> = numbers.split(' ').map(str::parse).collect::<Result<_, _>>()?;
            row.push(numbers.try_into().map_err(|_| format!("not three numbers: {line}"))?);
        }
    }
    let median =
        |run: &[[f64; 3]], at: usize| middle(run.iter().map(|numbers| numbers[at]).collect());
    Ok(TIMED
        .iter()
        .zip(&runs)
        .map(|(what, run)| Row::timed(what, median(run, 0), median(run, 1), median(run, 2)))
        .collect())
}

/// Warm calls of `handle` through witplug, through a lease and by hand, in
/// rounds paired as [`Paired`] says (each way's round in turn, the order
/// rotating).
async fn warm_calls() -> Fallible<Vec<Row>> {
    let host = Host::builder().build()?;
    let counter = host.load_file(plugins_dir().join("counter.wasm")).await?;
    counter.warm(1).await?;
    let floor = Floor::new("counter")?;
    let mut store = floor.store();
    let plugin = floor.instance(&mut store).await?;
    // The same measure for the counter built against contract 0.1.
    // (Under another name: one host holds one plugin of a name.)
    let old_path = tempdir("warm-v0.1")?.join("counter-v0-1.wasm");
    std::fs::copy(counter_v0_1(), &old_path)?;
    let old_counter = host.load_file(&old_path).await?;
    old_counter.warm(1).await?;
    let floor_v0_1 = FloorV01::new()?;
    let mut store_v0_1 = floor_store(&floor_v0_1.engine);
    let plugin_v0_1 = floor_v0_1.instance(&mut store_v0_1).await?;
    let per_call = |started: Instant| started.elapsed().as_secs_f64() / f64::from(WARM_CALLS);
    let (mut witplug, mut leased, mut old) =
        (Paired::default(), Paired::default(), Paired::default());
    for round in 0..WARM_ROUNDS {
        let (mut floor_time, mut old_floor_time) = (0.0, 0.0);
        for way in 0..5 {
            match (round + way) % 5 {
                0 => {
                    let started = Instant::now();
                    for _ in 0..WARM_CALLS {
                        counter.handle("get").await?;
                    }
                    witplug.witplug.push(per_call(started));
                }
                1 => {
                    let mut lease = counter.lease().await?;
                    let started = Instant::now();
                    for _ in 0..WARM_CALLS {
                        lease.handle("get").await?;
                    }
                    leased.witplug.push(per_call(started));
                }
                2 => {
                    let started = Instant::now();
                    for _ in 0..WARM_CALLS {
                        let guest = plugin.witplug_plugin_guest();
                        guest.call_handle(&mut store, "get").await?.map_err(|e| e.to_string())?;
                    }
                    floor_time = per_call(started);
                }
                3 => {
                    let started = Instant::now();
                    for _ in 0..WARM_CALLS {
                        old_counter.handle("get").await?;
                    }
                    old.witplug.push(per_call(started));
                }
                _ => {
                    let started = Instant::now();
                    for _ in 0..WARM_CALLS {
                        let guest = plugin_v0_1.witplug_plugin_guest();
                        let answer = guest.call_handle(&mut store_v0_1, "get").await?;
                        answer.map_err(|e| e.to_string())?;
                    }
                    old_floor_time = per_call(started);
                }
            }
        }
        witplug.floor.push(floor_time);
        leased.floor.push(floor_time);
        old.floor.push(old_floor_time);
    }
    Ok(vec![witplug.row(TIMED[0]), leased.row(TIMED[1]), old.row(TIMED[2])])
}

/// The median of `samples`.
fn middle(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The same warm calls counted in instructions by callgrind, which the
/// machine's noise does not move: each way runs twice in a child process,
/// with two numbers of calls, and the difference is divided by the
/// difference in calls (so loading and compiling cancel out). No rows when
/// valgrind is not installed.
fn instructions() -> Fallible<Vec<Row>> {
    let valgrind = |args: &[&str]| Command::new("valgrind").args(args).output();
    if !valgrind(&["--version"]).is_ok_and(|output| output.status.success()) {
        eprintln!("valgrind is not installed: no rows counted in instructions");
        return Ok(Vec::new());
    }
    let exe = std::env::current_exe()?;
    let exe = exe.to_str().ok_or("the benchmark's path is not UTF-8")?;
    let count = |way: &str, calls: u32| -> Fallible<f64> {
        let calls = calls.to_string();
        let args = ["--tool=callgrind", "--callgrind-out-file=/dev/null", exe, "--profile"];
        let output = valgrind(&[&args[..], &[way, &calls]].concat())?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            return Err(format!("callgrind on the {way} calls failed: {stderr}").into());
        }
        let collected = stderr
            .lines()
            .find_map(|line| line.split_once("Collected :").map(|(_, n)| n.trim().to_owned()))
            .ok_or("callgrind printed no count")?;
        Ok(collected.parse::<f64>()?)
    };
    // Warm calls are few instructions: many of them. A fresh instance's
    // call is some 90,000: fewer.
    let per_call = |way: &str| -> Fallible<f64> {
        let (few, many) = if way.starts_with("fresh") { (100, 1_100) } else { (1_000, 21_000) };
        Ok((count(way, many)? - count(way, few)?) / f64::from(many - few))
    };
    let row = |what, way, floor: f64| -> Fallible<Row> {
        Ok(Row {
            what,
            witplug: per_call(way)?,
            floor: Some(floor),
            paired: None,
            unit: "instructions",
            target: "",
        })
    };
    let warm = per_call("floor")?;
    let fresh = per_call("fresh-floor")?;
    Ok(vec![
        row("warm call of `handle`, counted by callgrind", "witplug", warm)?,
        row("warm call of `handle` through a `Lease`, counted by callgrind", "lease", warm)?,
        row("call on a fresh instance, counted by callgrind", "fresh", fresh)?,
    ])
}

/// `calls` calls of `handle` one way, for a profiler; prints the time per
/// call. Warm calls through witplug, a lease or by hand (`witplug`,
/// `lease`, `floor`), calls on a fresh instance each (`fresh`,
/// `fresh-floor`), or loads of the counter from the cache, each in a host
/// of its own (`cached`, `cached-floor`).
async fn profile(way: &str, calls: u32) -> Fallible<()> {
    let started;
    match way {
        "floor" => {
            let floor = Floor::new("counter")?;
            let mut store = floor.store();
            let plugin = floor.instance(&mut store).await?;
            started = Instant::now();
            for _ in 0..calls {
                let guest = plugin.witplug_plugin_guest();
                guest.call_handle(&mut store, "get").await?.map_err(|e| e.to_string())?;
            }
        }
        "fresh-floor" => {
            let floor = Floor::new("counter")?;
            started = Instant::now();
            for _ in 0..calls {
                floor.fresh_call().await?;
            }
        }
        "fresh" => {
            let dir = fresh_pool_dir()?;
            let host = Host::builder().build()?;
            let counter = host.load_file(dir.join("counter.wasm")).await?;
            started = Instant::now();
            for _ in 0..calls {
                counter.handle("get").await?;
            }
            std::fs::remove_dir_all(&dir)?;
        }
        "witplug" | "lease" => {
            let host = Host::builder().build()?;
            let counter = host.load_file(plugins_dir().join("counter.wasm")).await?;
            counter.warm(1).await?;
            if way == "lease" {
                let mut lease = counter.lease().await?;
                started = Instant::now();
                for _ in 0..calls {
                    lease.handle("get").await?;
                }
            } else {
                started = Instant::now();
                for _ in 0..calls {
                    counter.handle("get").await?;
                }
            }
        }
        #[cfg(feature = "nats")]
        "tool" | "tool-floor" => {
            started = Instant::now();
            across::profile_tools(way, calls).await?;
        }
        "bus" | "bus-floor" => {
            started = Instant::now();
            throughput::profile_bus(way, u64::from(calls)).await?;
        }
        "cached" | "cached-floor" => {
            let dir = tempdir("profile-cached")?;
            let path = plugins_dir().join("counter.wasm");
            let by_hand = Precompiled::new("counter", &tempdir("profile-cached-floor")?)?;
            Host::builder().cache_dir(&dir).build()?.load_file(&path).await?;
            std::thread::sleep(Duration::from_millis(1100));
            Host::builder().cache_dir(&dir).build()?.load_file(&path).await?;
            // Only the loads are timed, not making the hosts.
            let mut loading = Duration::ZERO;
            for _ in 0..calls {
                let host = Host::builder().cache_dir(&dir).build()?;
                let load = Instant::now();
                if way == "cached" {
                    host.load_file(&path).await?;
                } else {
                    by_hand.load().await?;
                }
                loading += load.elapsed();
            }
            std::fs::remove_dir_all(&dir)?;
            std::fs::remove_dir_all(tempdir("profile-cached-floor")?)?;
            started = Instant::now() - loading;
        }
        _ => {
            return Err(format!(
                "`--profile {way}`: not witplug, lease, floor, fresh, fresh-floor, cached or \
                 cached-floor"
            )
            .into());
        }
    }
    let per_call = started.elapsed().as_secs_f64() / f64::from(calls);
    eprintln!("{way}: {:.3} µs per call of `handle`", per_call * 1e6);
    Ok(())
}

/// A folder holding the counter plugin with a manifest that makes its pool
/// fresh: a new instance for every call.
fn fresh_pool_dir() -> Fallible<PathBuf> {
    let dir = tempdir("fresh")?;
    std::fs::write(dir.join("counter.wasm"), component_bytes("counter")?)?;
    std::fs::write(dir.join("counter.toml"), "[pool]\nfresh = true\n")?;
    Ok(dir)
}

/// Calls on a fresh instance each, through witplug (a `fresh` pool) and
/// by hand, in rounds paired as [`Paired`] says.
async fn fresh_calls() -> Fallible<Row> {
    /// Some 10 ms a round.
    const FRESH_CALLS: u32 = 300;
    const ROUNDS: usize = 31;
    let dir = fresh_pool_dir()?;
    let host = Host::builder().build()?;
    let counter = host.load_file(dir.join("counter.wasm")).await?;
    let floor = Floor::new("counter")?;
    let per_call = |started: Instant| started.elapsed().as_secs_f64() / f64::from(FRESH_CALLS);
    let witplug = async || {
        let started = Instant::now();
        for _ in 0..FRESH_CALLS {
            counter.handle("get").await?;
        }
        Ok(per_call(started))
    };
    let by_hand = async || {
        let started = Instant::now();
        for _ in 0..FRESH_CALLS {
            floor.fresh_call().await?;
        }
        Ok(per_call(started))
    };
    let paired = Paired::rounds(ROUNDS, witplug, by_hand).await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(paired.row(TIMED[3]))
}

/// Four measurements of loading a component: through witplug with no
/// cache (compile, link, read `info`), by hand (compile only), through
/// witplug from a filled cache, and by hand from a file precompiled once
/// (`Component::deserialize_file`, link, instantiate, read `info`).
struct Loads {
    cold: f64,
    compile: f64,
    cached: f64,
    cached_floor: f64,
}

/// A component precompiled into a file, loaded by hand as a careful
/// embedder loads it: deserialized from the file (mapped, not read),
/// pre-linked, instantiated, its `info` read.
struct Precompiled {
    engine: Engine,
    linker: Linker<FloorState>,
    file: PathBuf,
}

impl Precompiled {
    fn new(name: &str, dir: &std::path::Path) -> Fallible<Self> {
        let engine = Engine::new(&witplug_host::compile::engine_config(&Limits::default()))?;
        let file = dir.join(format!("{name}.cwasm"));
        std::fs::write(&file, engine.precompile_component(&component_bytes(name)?)?)?;
        let linker = linker(&engine)?;
        Ok(Self { engine, linker, file })
    }

    #[expect(unsafe_code, reason = "the file is one this benchmark precompiled just now")]
    fn deserialize(&self) -> Fallible<Component> {
        // SAFETY: `file` holds what `precompile_component` wrote for this
        // engine, and nothing changes it while it is mapped.
        Ok(unsafe { Component::deserialize_file(&self.engine, &self.file)? })
    }

    async fn load(&self) -> Fallible<()> {
        let component = self.deserialize()?;
        let pre = floor::PluginPre::new(self.linker.instantiate_pre(&component)?)?;
        let mut store = floor_store(&self.engine);
        let plugin = pre.instantiate_async(&mut store).await?;
        plugin.witplug_plugin_guest().call_info(&mut store).await?;
        Ok(())
    }
}

async fn measure_loads(name: &str, cached_rounds: usize) -> Fallible<Loads> {
    let cache = tempdir(&format!("cache-{name}"))?;
    let path = plugins_dir().join(format!("{name}.wasm"));
    let cold = median(3, async || {
        let host = Host::builder().build()?;
        let started = Instant::now();
        host.load_file(&path).await?;
        Ok(started.elapsed().as_secs_f64())
    })
    .await?;
    // Fill the cache once, outside the timed part, and precompile the
    // floor's file.
    Host::builder().cache_dir(&cache).build()?.load_file(&path).await?;
    let floor_dir = tempdir(&format!("precompiled-{name}"))?;
    let by_hand = Precompiled::new(name, &floor_dir)?;
    // A host restarting finds entries written earlier, not a moment ago.
    std::thread::sleep(Duration::from_millis(2100));
    let (mut cached, mut cached_floor) = (Vec::new(), Vec::new());
    for round in 0..cached_rounds * 2 {
        if round % 2 == 0 {
            let host = Host::builder().cache_dir(&cache).build()?;
            let started = Instant::now();
            host.load_file(&path).await?;
            cached.push(started.elapsed().as_secs_f64());
            if host.cache_stats().map(|s| s.hits) != Some(1) {
                return Err("the cached load did not come from the cache".into());
            }
        } else {
            let started = Instant::now();
            by_hand.load().await?;
            cached_floor.push(started.elapsed().as_secs_f64());
        }
    }
    std::fs::remove_dir_all(&cache)?;
    std::fs::remove_dir_all(&floor_dir)?;

    let engine = Engine::new(&witplug_host::compile::engine_config(&Limits::default()))?;
    let bytes = component_bytes(name)?;
    let compile = median(3, async || {
        let started = Instant::now();
        Component::new(&engine, &bytes)?;
        Ok(started.elapsed().as_secs_f64())
    })
    .await?;
    Ok(Loads { cold, compile, cached: middle(cached), cached_floor: middle(cached_floor) })
}

async fn loads() -> Fallible<Vec<Row>> {
    let Loads { cold, compile: floor_cold, cached, cached_floor } =
        measure_loads("counter", 11).await?;
    Ok(vec![
        Row {
            what: "load a plugin, cold (compile, link, read `info`)",
            witplug: cold,
            floor: Some(floor_cold),
            paired: None,
            unit: "ms",
            target: "(floor: compile only)",
        },
        Row {
            what: "load a plugin from the cache",
            witplug: cached,
            floor: Some(cached_floor),
            paired: None,
            unit: "ms",
            target: "≤ 1.2× floor (floor: `deserialize_file`, link, `info`)",
        },
    ])
}

/// How many plugins one host loads in the row of many.
const MANY: usize = 5_000;

/// A small component of one memory and one function, as the row of many
/// loads it: the cost of a plugin to the host, not of its toolchain.
const SMALL: &str = r#"(component
    (core module $m
      (memory (export "memory") 1)
      (func (export "answer") (result i32) i32.const 42))
    (core instance $i (instantiate $m))
    (func (export "answer") (result u32) (canon lift (core func $i "answer"))))"#;

/// One host loading `MANY` small plugins and calling each once (each call
/// instantiates it), beside wasmtime by hand compiling, instantiating and
/// calling as many, each in a store of its own, all kept alive.
async fn many_plugins() -> Fallible<Row> {
    let host = Host::builder().build()?;
    let started = Instant::now();
    let mut plugins = Vec::with_capacity(MANY);
    for n in 0..MANY {
        plugins.push(host.load_wat(&format!("p{n}"), SMALL).await?);
    }
    for plugin in &plugins {
        plugin.call_wave("answer", &[] as &[&str]).await?;
    }
    let witplug = started.elapsed().as_secs_f64();
    drop(plugins);
    drop(host);

    let engine = Engine::new(&witplug_host::compile::engine_config(&Limits::default()))?;
    let linker = Linker::<()>::new(&engine);
    let bytes = wat::parse_str(SMALL)?;
    let started = Instant::now();
    let mut kept = Vec::with_capacity(MANY);
    for _ in 0..MANY {
        let component = Component::new(&engine, &bytes)?;
        kept.push(linker.instantiate_pre(&component)?);
    }
    let mut live = Vec::with_capacity(MANY);
    for pre in &kept {
        let mut store = Store::new(&engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = pre.instantiate_async(&mut store).await?;
        let answer = instance.get_typed_func::<(), (u32,)>(&mut store, "answer")?;
        answer.call_async(&mut store, ()).await?;
        live.push((store, instance));
    }
    let floor = started.elapsed().as_secs_f64();
    Ok(Row {
        what: "load 5,000 small plugins and call each once",
        witplug,
        floor: Some(floor),
        paired: None,
        unit: "ms",
        target: "all served",
    })
}

const IDLE: usize = 1_000;

/// Runs this benchmark again as a child that holds 1,000 idle instances,
/// once through witplug and once by hand, and reads their memory.
fn rss() -> Fallible<Row> {
    let exe = std::env::current_exe()?;
    let measure = |mode: &str| -> Fallible<f64> {
        let output = Command::new(&exe).arg(mode).output()?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned().into());
        }
        Ok(String::from_utf8(output.stdout)?.trim().parse::<f64>()?)
    };
    let witplug = measure("--rss-witplug")?;
    let floor = measure("--rss-floor")?;
    Ok(Row {
        what: "resident memory per idle instance (1,000 instances)",
        witplug,
        floor: Some(floor),
        paired: None,
        unit: "KiB",
        target: "≤ 1.5× floor",
    })
}

async fn rss_child(mode: &str) -> Fallible<()> {
    let before;
    let after;
    if mode == "--rss-witplug" {
        let dir = tempdir("rss")?;
        std::fs::write(dir.join("counter.wasm"), component_bytes("counter")?)?;
        std::fs::write(dir.join("counter.toml"), format!("[pool]\nsize = {IDLE}\n"))?;
        let host = Host::builder().build()?;
        let counter = host.load_file(dir.join("counter.wasm")).await?;
        counter.warm(1).await?;
        before = resident_bytes()?;
        counter.warm(IDLE).await?;
        after = resident_bytes()?;
        assert_eq!(counter.idle_instances(), IDLE);
        std::fs::remove_dir_all(&dir)?;
    } else {
        let floor = Floor::new("counter")?;
        let mut first = floor.store();
        let _first = floor.instance(&mut first).await?;
        before = resident_bytes()?;
        let mut held = Vec::with_capacity(IDLE);
        for _ in 1..IDLE {
            let mut store = floor.store();
            let plugin = floor.instance(&mut store).await?;
            held.push((store, plugin));
        }
        after = resident_bytes()?;
    }
    // Per instance, in KiB: the first instance (and the compiled code) is
    // in `before` for both.
    println!("{}", (after.saturating_sub(before)) as f64 / 1024.0 / (IDLE - 1) as f64);
    Ok(())
}

fn resident_bytes() -> Fallible<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm.split_whitespace().nth(1).ok_or("bad /proc/self/statm")?.parse()?;
    Ok(pages * 4096)
}

fn tempdir(what: &str) -> Fallible<PathBuf> {
    let dir = std::env::temp_dir().join(format!("witplug-bench-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

// ---- the report -----------------------------------------------------------

fn report(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Written by `cargo xtask bench` (`cargo bench -p witplug-host --features nats --bench \
         overhead`, with `WITPLUG_NATS_URL` naming a local `nats-server` for the rows across \
         hosts).\n",
    );
    out.push_str(
        "The floor is wasmtime used by hand with the same engine settings and component: the \
         same plugins, instantiated, linked and called by a careful embedder's code; for loads \
         from the cache, the component precompiled into a file and loaded with \
         `Component::deserialize_file`; for messages, a tokio channel (in one host) or two \
         async-nats clients (across hosts); for tool calls, a store of the provider's held by \
         each caller, or async-nats request and reply. For a rate (/s) the ratio is the floor's \
         rate over witplug's, so that above 1 is slower, as for times.\n",
    );
    out.push_str(
        "Timed calls run in short rounds, witplug's and the floor's in turn, in each of \
         several processes: a process's times are each way's median round, and its ratio is the \
         median of the rounds' own ratios (witplug's time over the floor's in the same round), \
         so that a burst of noise from the machine weighs on both sides of a ratio. Each row is \
         the median over the processes, since each lays out its code and memory afresh and that \
         alone moves a time by a few percent.\n\n",
    );
    out.push_str(&format!("Machine: {}\n\n", machine()));
    out.push_str(&table(rows));
    out
}

/// The table's head and `rows`.
fn table(rows: &[Row]) -> String {
    let scale = |unit: &str, seconds: f64| match unit {
        "µs" => seconds * 1e6,
        "ms" => seconds * 1e3,
        _ => seconds,
    };
    let mut out = String::from(
        "| measurement | witplug | floor | ratio | target |\n| --- | ---: | ---: | ---: | --- |\n",
    );
    for row in rows {
        let witplug = scale(row.unit, row.witplug);
        let floor = row.floor.map(|f| scale(row.unit, f));
        // A rate's ratio is the floor's over witplug's: how many times
        // longer witplug takes, as for times.
        let ratio =
            row.paired.or(floor.map(|f| if row.unit == "/s" { f / witplug } else { witplug / f }));
        let ratio = ratio.map_or("-".to_owned(), |ratio| format!("{ratio:.2}×"));
        let digits = if matches!(row.unit, "instructions" | "/s") { 0 } else { 2 };
        let floor = floor.map_or("-".to_owned(), |f| format!("{f:.digits$} {}", row.unit));
        out.push_str(&format!(
            "| {} | {witplug:.digits$} {} | {floor} | {ratio} | {} |\n",
            row.what, row.unit, row.target
        ));
    }
    out
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {} {}; {rustc}", std::env::consts::OS, std::env::consts::ARCH)
}
