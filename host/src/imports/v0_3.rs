//! The host imports of `witplug:plugin@0.3.0`'s `host` interface: 0.2's,
//! unchanged, so each delegates to 0.2's (`v0_2.rs`). The `client`
//! interface, new in 0.3, is `client.rs`.

use crate::contract::v0_2::witplug::plugin::host::Host as Newest;
use crate::contract::v0_2::witplug::plugin::types::{Error, Level};
use crate::contract::v0_3::witplug::plugin::host::Host;
use crate::contract::v0_3::witplug::plugin::mcp_types;
use crate::instance_state::PluginState;

impl mcp_types::Host for PluginState {}

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
