//! What a plugin's `Store` holds: its identity, its WASI context and the
//! host services its imports reach.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bus::Bus;
use crate::tools::Tools;

/// The data of one plugin instance's `Store`.
///
/// Built by [`Plugin::new_store`](crate::Plugin::new_store); a host that
/// instantiates a plugin through its own `bindgen!` world uses it as `T`.
pub struct PluginState {
    pub(crate) plugin: Arc<PluginContext>,
    wasi: WasiCtx,
    table: ResourceTable,
}

/// What every instance of one plugin shares.
#[derive(Debug)]
pub(crate) struct PluginContext {
    pub name: String,
    pub config: BTreeMap<String, String>,
    pub services: Arc<Services>,
}

/// What every plugin of one host shares.
#[derive(Debug, Default)]
pub(crate) struct Services {
    pub tools: Tools,
    pub bus: Bus,
}

impl PluginState {
    pub(crate) fn new(plugin: Arc<PluginContext>) -> Self {
        // Nothing is granted: no files, no environment, no arguments, no
        // network, stdin closed, stdout and stderr discarded.
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self { plugin, wasi, table: ResourceTable::new() }
    }

    /// The name of the plugin this instance belongs to.
    pub fn plugin_name(&self) -> &str {
        &self.plugin.name
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl std::fmt::Debug for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginState").field("plugin", &self.plugin.name).finish_non_exhaustive()
    }
}
