//! The `witplug:plugin/host` imports, as every plugin sees them: each one
//! checked against the plugin's grants and limits.

use crate::bindings::witplug::plugin::host::Host;
use crate::bindings::witplug::plugin::types::{self, Error as WitError, Level};
use std::future::Future;
use std::pin::Pin;

use crate::bus::{MAX_HOPS, Message};
use crate::events::Event;
use crate::limits::LimitHit;
use crate::state::{CallContext, PluginState};

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
        let hops = self.call.context.hops + 1;
        if hops > MAX_HOPS {
            self.plugin.services.events.send(Event::MessageDropped {
                plugin: self.plugin.name.clone(),
                topic: topic.clone(),
            });
            return Ok(Err(WitError::LimitExceeded(format!(
                "message loop cut: `{topic}` would be the message's hop {hops}, over {MAX_HOPS}"
            ))));
        }
        let from = Some(self.plugin.name.clone());
        self.plugin.services.bus.publish(Message { topic, payload, from, hops });
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
        let services = &self.plugin.services;
        if let Some(call) = services.tools.call(&name, input.clone()) {
            return Ok(call.await.map_err(WitError::Failed));
        }
        let Some(provider) = services.provider(&name) else {
            return Ok(Err(WitError::NotFound(name)));
        };
        // The chain of plugins waiting on each other's tools: a plugin
        // already in it would wait for itself, so the cycle is refused.
        let mut chain = self.call.context.chain.clone();
        chain.push(self.plugin.name.clone());
        if chain.iter().any(|caller| caller == provider.name()) {
            let cycle = format!("{} -> {}", chain.join(" -> "), provider.name());
            return Ok(Err(WitError::Failed(format!("refused a tool cycle: {cycle}"))));
        }
        let call = CallContext { chain, hops: self.call.context.hops };
        // Boxed: a tool call into another plugin can come back here.
        let run: Pin<Box<dyn Future<Output = crate::Result<String>> + Send + '_>> =
            Box::pin(async move { provider.run_tool(call, &name, &input).await });
        Ok(match run.await {
            Ok(output) => Ok(output),
            Err(crate::Error::Plugin { error, .. }) => Err(error),
            Err(other) => Err(WitError::Failed(other.to_string())),
        })
    }
}

impl PluginState {
    fn deny(&self, capability: String) -> WitError {
        let plugin = self.plugin.name.clone();
        tracing::warn!(target: "witplug::host", plugin, "denied {capability}");
        let denied = Event::Denied { plugin, capability: capability.clone() };
        self.plugin.services.events.send(denied);
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
