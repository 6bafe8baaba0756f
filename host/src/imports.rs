//! The `witplug:plugin/host` imports, as every plugin sees them.

use crate::bindings::witplug::plugin::host::Host;
use crate::bindings::witplug::plugin::types::{self, Error as WitError, Level};
use crate::bus::Message;
use crate::state::PluginState;

impl types::Host for PluginState {}

impl Host for PluginState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let plugin = self.plugin.name.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "witplug::plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "witplug::plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "witplug::plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "witplug::plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "witplug::plugin", plugin, "{message}"),
        }
        Ok(())
    }

    async fn get_config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.plugin.config.get(&key).cloned())
    }

    async fn send_message(
        &mut self,
        topic: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        let from = Some(self.plugin.name.clone());
        self.plugin.services.bus.publish(Message { topic, payload, from });
        Ok(Ok(()))
    }

    async fn call_tool(
        &mut self,
        name: String,
        input: String,
    ) -> wasmtime::Result<Result<String, WitError>> {
        let Some(call) = self.plugin.services.tools.call(&name, input) else {
            return Ok(Err(WitError::NotFound(name)));
        };
        Ok(call.await.map_err(WitError::Failed))
    }
}
