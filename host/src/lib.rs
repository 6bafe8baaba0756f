//! Load WebAssembly component plugins from a folder and call them.
//!
//! A [`Host`] holds one wasmtime engine and the imports every plugin gets:
//! `log`, `get-config`, `send-message` and `call-tool` from
//! `wit/v0.2.0/host.wit` (0.1 plugins too: `docs/versions.md`),
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
//! `send-message` publishes on the host's [`bus::Bus`]; host code subscribes
//! with [`Host::subscribe`]. `call-tool` calls the closures registered with
//! [`HostBuilder::tool`] and [`HostBuilder::tool_async`].
//!
//! # Errors
//!
//! Every fallible call returns [`Error`], whose variants a caller can match
//! and whose messages are one line naming the plugin or file.
//! [`Error::kind`] sorts them into a few [`ErrorKind`]s (the plugin's own
//! error, a limit, a trap, a denial, not found, busy, stopped, usage, a
//! host failure): the verdict `witplug`'s exit codes, its MCP server and
//! the host's events all give the same failure.
//!
//! # The wings
//!
//! The root holds what most hosts use. The rest is in a module per
//! concept:
//!
//! - [`config`]: limits, grants, manifests, `witplug.toml`, units;
//! - [`plugin`]: a plugin's exports, lifecycle, leases and store data;
//! - [`observe`]: events and metrics;
//! - [`tools`]: host tools, tool descriptions, tools across hosts;
//! - [`mcp`]: what plugins of contract 0.3 serve agents (rich results,
//!   resources, prompts) and the [`mcp::Client`] a call reaches;
//! - [`bus`]: the message bus;
//! - [`kv`]: key-value buckets and their stores;
//! - [`cache`]: the cache of compiled plugins;
//! - [`compile`]: the engine's configuration, inspecting a component;
//! - `nats` (feature `nats`): the bus, tools and buckets across hosts;
//! - [`contract`]: the contract versions and their bindings ([`bindings`]
//!   is the newest); [`text`]: plugin text made safe.
//!
//! The names the root had before (0.1) still resolve, deprecated, for one
//! release.

#![deny(missing_docs)]

// The modules in layers, each using only those listed before it
// (`tests/all/layers.rs` checks it), so no folder imports another in a
// cycle (docs/architecture.md walks through them):
// - `contract/`: the versions spoken, one `bindgen!` each, and their
//   exports whatever the version; the types every layer speaks;
// - the root: `error` (the crate's error), `text` (plugin text made safe,
//   sizes shown), `name` (shared names), `clock` (moments and spans),
//   `offload` (work kept off the async workers);
// - `config/`: what the operator decides: units, limits, grants, network,
//   HTTP origins, manifest, and the bounded reads of their files;
// - `mcp`: contract 0.3's values, the checks they pass, the agent's
//   client;
// - `tools/`: the registry, what a tool says of itself, its schema, the
//   chain of calls, tools across hosts;
// - `bus`: the message bus;
// - `kv/`: what plugins keep: key-value buckets on redb, held to quotas;
// - `nats/` (feature `nats`): the bus, tools and key-value buckets across
//   hosts on NATS;
// - `observe/`: events and metrics;
// - `instance_state/`: what one instance's `Store` holds (`PluginState`),
//   the limiter, what the host holds for an instance, the stderr tail;
// - `imports/`: what plugins import: witplug's host interface (a file per
//   contract version, each delegating to the newest), the standard WASI
//   interfaces beside it, the core ABI;
// - `compile/`: engine, cache, code, inspect, the version a component
//   targets;
// - `plugin/` (pool, lifecycle, checkout, instances, the call and its
//   deadline and traps), then `host/` (builder, loading, delivery,
//   watching).

pub mod bus;
mod clock;
mod compat;
pub mod compile;
pub mod config;
pub mod contract;
mod digest;
mod error;
mod host;
mod imports;
mod instance_state;
pub mod kv;
pub mod mcp;
mod name;
#[cfg(feature = "nats")]
pub mod nats;
pub mod observe;
mod offload;
pub mod plugin;
pub mod text;
pub mod tools;

/// The cache of compiled plugins on disk: what it holds and its
/// administration ([`HostBuilder::cache_dir`] turns it on).
pub mod cache {
    pub use crate::compile::cache::{CacheEntries, CacheFolder, CacheStats};
}

/// The bindings of the newest contract version (`contract::v0_2`), for a
/// host world of its own that reuses the host interface through `with`.
pub use contract::v0_2 as bindings;
pub use contract::v0_2::witplug::plugin::types::{Error as PluginError, Level};
pub use error::{Error, ErrorKind, Result, describe};
pub use host::{Host, HostBuilder, LoadReport, SyncReport, Watcher};
pub use wasmtime::component::Val;

pub use config::{Grants, HostConfig, Limits, Manifest};
pub use observe::{Event, EventStream, Metrics};
pub use plugin::{Export, Lease, Plugin, PluginInfo};

#[doc(hidden)]
#[allow(deprecated)]
pub use compat::*;
