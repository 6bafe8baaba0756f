//! `wasi:config/store`: the plugin's configuration, the same values
//! `get-config` returns, through the implementation `wasmtime-wasi-config`
//! ships; it keeps the values in a map of its own type, built once per
//! plugin (`store::WasiConfig`).

use wasmtime::component::Linker;

use crate::instance_state::PluginState;

/// Links `wasi:config/store`, reading each instance's plugin's values.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    wasmtime_wasi_config::add_to_linker(linker, |state| {
        wasmtime_wasi_config::WasiConfig::new(&state.plugin.wasi_config.0)
    })
}
