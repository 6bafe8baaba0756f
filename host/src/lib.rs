//! Load WebAssembly component plugins from a folder and call them.
//!
//! A [`Host`] holds one wasmtime engine and the imports every plugin gets:
//! `log`, `get-config`, `send-message` and `call-tool` from `wit/host.wit`,
//! and WASI with nothing granted. [`Host::load_dir`] loads every `*.wasm` in
//! a folder as a [`Plugin`], each with its own instance and `Store`; files
//! that are not valid plugins are reported, never fatal.
//!
//! # A host in ten lines
//!
//! ```no_run
//! # async fn run() -> witplug_host::Result<()> {
//! use witplug_host::Host;
//!
//! let host = Host::builder().tool("upper", |input| Ok(input.to_uppercase())).build()?;
//! let report = host.load_dir("plugins").await?;
//! for error in &report.failed {
//!     eprintln!("skipped: {error}");
//! }
//! let counter = host.plugin("counter")?;
//! println!("{}", counter.handle("tick").await?); // typed, through `bindgen!`
//! let greeting = host.plugin("greeter-fr")?.call_wave("greet", &["\"JP\""]).await?;
//! println!("{}", greeting[0]); // "Bonjour, JP!"
//! # Ok(()) }
//! ```
//!
//! # Calls
//!
//! - Typed: plugins of the default `plugin` world have [`Plugin::handle`],
//!   [`Plugin::on_message`]; [`Plugin::init`] and [`Plugin::stop`] drive
//!   their lifecycle.
//! - Dynamic: [`Plugin::call`] with [`Val`]s, or [`Plugin::call_wave`] with
//!   WAVE text, reaches any export of any world by name.
//! - Batches: [`Plugin::lease`] holds one instance for many calls.
//!
//! A warm call takes no lock and allocates nothing beyond its own output:
//! instances wait in lock-free queues, each instance slot keeps its own
//! counters, and events are only built while an [`EventStream`] is open.
//! - Your own world: generate it with `wasmtime::component::bindgen!`,
//!   reusing [`bindings`] for the host interface through `with`, and
//!   instantiate [`Plugin::instance_pre`] in a [`Plugin::new_store`]; see
//!   `examples/i18n_greeter.rs`.
//!
//! # Messages and tools
//!
//! `send-message` publishes on the host's [`Bus`]; host code subscribes with
//! [`Host::subscribe`]. `call-tool` calls the closures registered with
//! [`HostBuilder::tool`] and [`HostBuilder::tool_async`].
//!
//! # Errors
//!
//! Every fallible call returns [`Error`], whose variants a caller can match
//! and whose messages are one line naming the plugin or file.

#![deny(missing_docs)]

// The modules in layers, each using only those above it in this list:
// - bottom: `units` (sizes, durations), `name` (shared names), `bus`
//   (messages), `remote` (tools across hosts), `events`, `call` (where a
//   call comes from), `tools` (the tool registry), `text` (plugin text
//   made safe), `error`, `files`
//   (bounded reads of regular files), `contract` (the versions spoken, one
//   `bindgen!` each, in `contract/`);
// - configuration: `limits`, `network` (what `connect` grants reach),
//   `origins` (what `http` grants reach), `stderr` (the tail a trap
//   quotes), `grants`, `manifest` (with the pool's config);
// - the store: `store` (per-instance state), `limiter` (memory, tables,
//   the limit markers), `held` (sockets and header maps charged to their
//   instance), `imports` (the WIT host imports), `lookups` (name lookups
//   behind the `resolve` grant), `core_abi`;
// - calls: `deadline` (ticker, arming, backstop), `trap` (a failure as an
//   `Error`), `metrics` (counters and histograms);
// - compiling: `engine`, `cache`, `load`, `inspect`;
// - `plugin` (pool, lifecycle, checkout, instances, calls), then `host`
//   (builder, loading, delivery, watching);
// - beside them, with the `nats` feature: `nats` (the bus and remote
//   tools on NATS), using only the bottom layer.

mod bus;
mod cache;
mod call;
mod clock;
pub mod contract;
mod core_abi;
mod deadline;
mod described;
mod engine;
mod error;
mod events;
mod files;
mod grants;
mod held;
mod host;
mod imports;
mod inspect;
mod limiter;
mod limits;
mod load;
mod lookups;
mod manifest;
mod metrics;
mod name;
#[cfg(feature = "nats")]
mod nats;
mod network;
mod origins;
mod plugin;
mod remote;
mod stderr;
mod store;
mod text;
mod tools;
mod trap;
pub mod units;

pub use bus::{
    Bus, Bytes, DEFAULT_QUEUE, DEFAULT_QUEUE_BYTES, MAX_HOPS, Message, MessageBus, Offered,
    Published, QueueBounds, QueueSender, SubscribeFuture, Subscription,
};
pub use cache::CacheStats;
/// The bindings of the newest contract version (`contract::v0_2`), for a
/// host world of its own that reuses the host interface through `with`.
pub use contract::v0_2 as bindings;
pub use contract::v0_2::witplug::plugin::types::{Error as PluginError, Level};
pub use contract::{CONTRACTS, Contract};
pub use core_abi::MODULE as CORE_ABI_MODULE;
pub use described::{Provider, ToolHints, ToolInfo, ToolSpec};
pub use engine::engine_config;
pub use error::{Error, Result, describe};
pub use events::{EVENT_BUFFER, Event, EventStream, Outcome, RecvError, TryRecvError};
pub use grants::{DirGrant, DirMode, Grants};
pub use host::{DEFAULT_MAX_FILE_SIZE, Host, HostBuilder, LoadReport, SyncReport, Watcher};
pub use inspect::{Inspection, inspect, inspect_file};
pub use limits::{Budget, Limits, LimitsSpec};
pub use load::hex_sha256;
pub use manifest::{ConfigValue, Manifest, PoolConfig, PoolSpec, Provides};
pub use metrics::{Metrics, Stats};
pub use name::Name;
#[cfg(feature = "nats")]
pub use nats::{
    CLIENT_QUEUE, DEFAULT_OUTGOING, DEFAULT_OUTGOING_BYTES, NatsBus, NatsOptions, NatsStats,
    SUBSCRIPTION_QUEUE,
};
pub use plugin::{CoreExport, Export, Lease, Lifecycle, Plugin, PluginInfo};
pub use remote::{
    RemoteTools, ReplyFuture, ServeFuture, ToolHandler, ToolReply, ToolRequest, ToolService,
};
pub use store::PluginState;
pub use tools::{ToolFuture, ToolResult, Tools};
pub use wasmtime::Val as CoreVal;
pub use wasmtime::component::Val;
