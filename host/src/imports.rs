//! What a plugin imports from the host, each import checked against the
//! plugin's grants and limits: witplug's `host` interface (`host.rs`, the
//! newest version; `v0_1.rs` delegates to it), the standard WASI
//! interfaces beside it (`config.rs`: `wasi:config/store`; `logging.rs`:
//! `wasi:logging/logging`; `keyvalue.rs`: `wasi:keyvalue`), and the same functions for core wasm modules
//! (`core_abi.rs`).
//!
//! Uses `store` and the layers below it.

use wasmtime::component::{HasSelf, Linker};

use crate::contract;
use crate::instance_state::PluginState;

mod config;
pub(crate) mod core_abi;
mod keyvalue;
mod logging;
mod v0_1;
pub(crate) mod v0_2;

/// Links the host imports of every contract version into `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    contract::v0_2::Plugin::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    contract::v0_1::witplug::plugin::host::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    // 0.1's `types` holds types only; its instance must still exist.
    linker.instance("witplug:plugin/types@0.1.0")?;
    // The standard interfaces beside the contract, for components not
    // written for witplug.
    config::add_to_linker(linker)?;
    contract::logging::wasi::logging::logging::add_to_linker::<_, HasSelf<_>>(linker, |state| {
        state
    })?;
    keyvalue::add_to_linker(linker)?;
    Ok(())
}
