//! What a plugin imports from the host, each import checked against the
//! plugin's grants and limits: witplug's host interface, a file per
//! contract version (`v0_2.rs`; `v0_1.rs` and `v0_3.rs` delegate to it;
//! `client.rs`: 0.3's `client`, what a call asks of the agent's client),
//! the standard interfaces beside it (`config.rs`: `wasi:config/store`;
//! `logging.rs`: `wasi:logging/logging`; `keyvalue.rs`: `wasi:keyvalue`),
//! WASI's own with its guards (`sockets.rs`: name lookups and sockets;
//! `http.rs`: what the host holds for HTTP, charged), and the same
//! functions for core wasm modules (`core_abi.rs`). [`add_to_linker`]
//! builds the whole linker.
//!
//! Uses `instance_state` and the layers below it.

use wasmtime::component::{HasSelf, Linker};

use crate::contract;
use crate::instance_state::PluginState;

mod client;
mod config;
pub(crate) mod core_abi;
mod http;
mod keyvalue;
mod logging;
mod sockets;
mod v0_1;
pub(crate) mod v0_2;
mod v0_3;

/// Builds the whole component linker: WASI (with nothing granted), HTTP,
/// the guards that check a grant or charge a budget before wasmtime-wasi's
/// own functions run, the host imports of every contract version, and the
/// standard interfaces beside them.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    // The guards replace some of what was just linked.
    linker.allow_shadowing(true);
    let guarded = sockets::add_to_linker(linker).and_then(|()| http::add_to_linker(linker));
    linker.allow_shadowing(false);
    guarded?;
    contract::v0_2::Plugin::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    contract::v0_1::witplug::plugin::host::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    // 0.1's `types` holds types only; its instance must still exist.
    linker.instance("witplug:plugin/types@0.1.0")?;
    // 0.3: its `host` (0.2's, delegating), and what serves agents.
    contract::v0_3::witplug::plugin::host::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    contract::v0_3::witplug::plugin::mcp_types::add_to_linker::<_, HasSelf<_>>(linker, |state| {
        state
    })?;
    contract::v0_3::witplug::plugin::client::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    linker.instance("witplug:plugin/types@0.3.0")?;
    // The standard interfaces beside the contract, for components not
    // written for witplug.
    config::add_to_linker(linker)?;
    contract::logging::wasi::logging::logging::add_to_linker::<_, HasSelf<_>>(linker, |state| {
        state
    })?;
    keyvalue::add_to_linker(linker)?;
    Ok(())
}
