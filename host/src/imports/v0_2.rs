//! The `witplug:plugin/host` imports, as every plugin sees them: each one
//! checked against the plugin's grants and limits.

use crate::bus::{MAX_HOPS, Message, Published};
use crate::contract::v0_2::witplug::plugin::host::Host;
use crate::contract::v0_2::witplug::plugin::types::{self, Error as WitError, Level};
use crate::instance_state::PluginState;
use crate::instance_state::limiter::LimitHit;
use crate::observe::events::Event;
use crate::text::{self, sanitize};
use crate::tools::call_chain::CallContext;
use crate::tools::remote::ToolRequest;
use crate::tools::{Found, call_host};

/// How the guest SDK prefixes a panic's message when it logs it, so the
/// host can attach the message to the trap that follows.
pub(crate) const PANIC_PREFIX: &str = "plugin panicked: ";

impl types::Host for PluginState {}

impl Host for PluginState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if level == Level::Error
            && let Some(panic) = message.strip_prefix(PANIC_PREFIX)
        {
            let limit = usize::try_from(self.plugin.limits.max_input).unwrap_or(usize::MAX);
            self.call.panic = Some(sanitize(panic, limit.min(4096)));
        }
        self.log_line(level, &message)
    }

    async fn get_config(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.plugin.config.get(&key).cloned())
    }

    async fn send_message(
        &mut self,
        topic: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(err) = self.check_input("message", topic.len() + payload.len()) {
            return Ok(Err(err));
        }
        if !self.plugin.grants.may_publish(&topic) {
            return Ok(Err(WitError::Denied(self.deny(&format!("publish:{topic}")))));
        }
        let hops = self.call.context.hops.saturating_add(1);
        if hops > MAX_HOPS {
            self.plugin.services.events.send(|| Event::MessageDropped {
                plugin: self.plugin.name.clone(),
                topic: sanitize(&topic, text::NAME),
            });
            return Ok(Err(WitError::LimitExceeded(format!(
                "message loop cut: `{topic}` would be the message's hop {hops}, over {MAX_HOPS}"
            ))));
        }
        let bus = &self.plugin.services.bus;
        if let Err(reason) = bus.check_topic(&topic) {
            return Ok(Err(WitError::InvalidInput(format!("topic `{topic}`: {reason}"))));
        }
        let from = Some(self.plugin.name.to_string());
        let message = Message { topic, payload: payload.into(), from, hops, origin: None };
        let topic =
            self.plugin.services.events.listening().then(|| sanitize(&message.topic, text::NAME));
        if bus.publish(message) == Published::Dropped {
            // The bus counted it; say whose message it was.
            self.plugin.services.events.send(|| Event::MessageDropped {
                plugin: self.plugin.name.clone(),
                topic: topic.unwrap_or_default(),
            });
        }
        Ok(Ok(()))
    }

    async fn call_tool(
        &mut self,
        name: String,
        input: String,
    ) -> wasmtime::Result<Result<String, WitError>> {
        if let Err(err) = self.check_input("tool call", name.len() + input.len()) {
            return Ok(Err(err));
        }
        if !self.plugin.grants.may_call(&name) {
            return Ok(Err(WitError::Denied(self.deny(&format!("tool:{name}")))));
        }
        let provider = match self.plugin.services.tools.get(&name) {
            Some(Found::Host(call, spec)) => {
                // The caller's call bounds the check: what remains of it.
                let left = self.call.deadline.remaining();
                return Ok(call_host(&call, spec.as_deref(), &name, input, left).await);
            }
            Some(Found::Plugin(provider)) => provider,
            None => return Ok(self.call_remote_tool(name, input).await),
        };
        // The chain of plugins waiting on each other's tools: a plugin
        // already in it would wait for itself, so the cycle is refused.
        let chain = self.tool_chain();
        let callee = provider.provider();
        if chain.iter().any(|caller| callee == caller) {
            let cycle = format!("{} -> {callee}", chain.join(" -> "));
            return Ok(Err(WitError::Failed(format!("refused a tool cycle: {cycle}"))));
        }
        let call = CallContext {
            chain,
            hops: self.call.context.hops,
            client: self.call.context.client.clone(),
        };
        // Boxed by the provider: a tool call into another plugin can come
        // back here.
        Ok(match provider.run_tool(call, &name, &input).await {
            Ok(output) => Ok(output),
            Err(crate::Error::Plugin { error, .. }) => Err(error),
            Err(other) => Err(WitError::Failed(other.to_string())),
        })
    }
}

impl PluginState {
    /// Writes one log line of the plugin's, from any interface that logs
    /// (`log`, `wasi:logging`): counted against `log-lines` (past it the
    /// plugin traps), cut at `max-input`, made one safe line, tagged with
    /// the plugin.
    pub(crate) fn log_line(&mut self, level: Level, message: &str) -> wasmtime::Result<()> {
        let limit = usize::try_from(self.plugin.limits.max_input).unwrap_or(usize::MAX);
        self.call.log_lines += 1;
        if self.call.log_lines > self.plugin.limits.log_lines {
            return Err(wasmtime::Error::new(LimitHit::LogLines));
        }
        // One line, so a plugin cannot forge other log lines.
        let message = sanitize(message, limit);
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
    /// The plugins waiting on a tool call this plugin makes: those waiting
    /// on its current call, then itself.
    fn tool_chain(&self) -> Vec<String> {
        let mut chain = self.call.context.chain.clone();
        chain.push(self.plugin.name.to_string());
        chain
    }

    /// A tool no one provides in this host: on another host, when the bus
    /// reaches any, within what is left of this call's deadline (less a
    /// margin, so the plugin gets the error rather than a timeout). The
    /// future holds no borrow of the store.
    fn call_remote_tool(
        &self,
        name: String,
        input: String,
    ) -> impl Future<Output = Result<String, WitError>> + Send + 'static {
        let left = self.call.deadline.remaining();
        let request = ToolRequest {
            name,
            input,
            chain: self.tool_chain(),
            hops: self.call.context.hops,
            timeout: left - left / 10,
        };
        let bus = self.plugin.services.bus.clone();
        async move {
            match bus.remote_tools() {
                Some(remote) => remote.call(request).await,
                None => Err(WitError::NotFound(request.name)),
            }
        }
    }

    pub(crate) fn check_input(&self, what: &str, len: usize) -> Result<(), WitError> {
        let limit = self.plugin.limits.max_input;
        if len as u64 > limit {
            return Err(WitError::LimitExceeded(format!(
                "the {what} of {len} bytes is over the limit of {limit} bytes"
            )));
        }
        Ok(())
    }
}
