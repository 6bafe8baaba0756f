//! The `witplug:plugin/host` imports, as every plugin sees them: each one
//! checked against the plugin's grants and limits.

use crate::bindings::witplug::plugin::host::Host;
use crate::bindings::witplug::plugin::types::{self, Error as WitError, Level};
use crate::bus::Message;
use crate::limits::LimitHit;
use crate::state::PluginState;

/// How the guest SDK prefixes a panic's message when it logs it, so the
/// host can attach the message to the trap that follows.
pub(crate) const PANIC_PREFIX: &str = "plugin panicked: ";

impl types::Host for PluginState {}

impl Host for PluginState {
    async fn log(&mut self, level: Level, mut message: String) -> wasmtime::Result<()> {
        if level == Level::Error
            && let Some(panic) = message.strip_prefix(PANIC_PREFIX)
        {
            self.call.panic = Some(panic.to_owned());
        }
        self.call.log_lines += 1;
        if self.call.log_lines > self.plugin.limits.log_lines {
            return Err(wasmtime::Error::new(LimitHit::LogLines));
        }
        truncate(&mut message, self.plugin.limits.max_input);
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
        if !self.plugin.grants.may_publish(&topic) {
            return Ok(Err(self.deny(format!("publish:{topic}"))));
        }
        if let Err(err) = self.check_input("message payload", payload.len()) {
            return Ok(Err(err));
        }
        let from = Some(self.plugin.name.clone());
        self.plugin.services.bus.publish(Message { topic, payload, from });
        Ok(Ok(()))
    }

    async fn call_tool(
        &mut self,
        name: String,
        input: String,
    ) -> wasmtime::Result<Result<String, WitError>> {
        if !self.plugin.grants.may_call(&name) {
            return Ok(Err(self.deny(format!("tool:{name}"))));
        }
        if let Err(err) = self.check_input("tool input", input.len()) {
            return Ok(Err(err));
        }
        let Some(call) = self.plugin.services.tools.call(&name, input) else {
            return Ok(Err(WitError::NotFound(name)));
        };
        Ok(call.await.map_err(WitError::Failed))
    }
}

impl PluginState {
    fn deny(&self, capability: String) -> WitError {
        tracing::warn!(target: "witplug::host", plugin = self.plugin.name.as_str(), "denied {capability}");
        WitError::Denied(capability)
    }

    fn check_input(&self, what: &str, len: usize) -> Result<(), WitError> {
        let limit = self.plugin.limits.max_input;
        if len as u64 > limit {
            return Err(WitError::LimitExceeded(format!(
                "the {what} of {len} bytes is over the limit of {limit} bytes"
            )));
        }
        Ok(())
    }
}

/// Cuts `text` to at most `limit` bytes, on a character boundary, and says so.
fn truncate(text: &mut String, limit: u64) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" [truncated]");
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_keeps_whole_characters() {
        let mut text = "héllo".to_owned();
        truncate(&mut text, 2);
        assert_eq!(text, "h [truncated]");
        let mut short = "ok".to_owned();
        truncate(&mut short, 10);
        assert_eq!(short, "ok");
    }
}
