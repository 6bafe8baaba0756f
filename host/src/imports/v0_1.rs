//! The host imports of `witplug:plugin@0.1.0`: each delegates to the
//! newest version's (`host.rs`), so grants, limits, events and metrics are
//! the same for both.

use crate::contract::v0_1::witplug::plugin::host::Host;
use crate::contract::v0_2::witplug::plugin::host::Host as Newest;
use crate::contract::v0_2::witplug::plugin::types::{Error, Level};
use crate::instance_state::PluginState;

impl Host for PluginState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        Newest::log(self, level, message).await
    }

    async fn get_config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Newest::get_config(self, key).await
    }

    async fn send_message(
        &mut self,
        topic: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Newest::send_message(self, topic, payload).await
    }

    async fn call_tool(
        &mut self,
        name: String,
        input: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        Newest::call_tool(self, name, input).await
    }
}
