//! The `witplug:plugin/client` imports (contract 0.3): what a call asks of
//! the agent's client. Progress is counted and bounded per call; sampling
//! and elicitation need their grant, count against `client-requests`, and
//! wait for the client at most what is left of the call's deadline (less a
//! margin, so the plugin gets the error rather than a timeout). Waiting
//! burns no fuel.

use std::time::Duration;

use crate::contract::v0_2::witplug::plugin::types::Error as WitError;
use crate::contract::v0_3::witplug::plugin::client::Host;
use crate::contract::v0_3::witplug::plugin::mcp_types::{
    Content, ElicitReply, SampleReply, SampleRequest,
};
use crate::instance_state::PluginState;
use crate::mcp::{self, Checked, ClientError, ResourceUpdate};
use crate::observe::events::Event;
use crate::text::{self, sanitize};

impl Host for PluginState {
    async fn report_progress(
        &mut self,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    ) -> wasmtime::Result<()> {
        let asks = &mut self.call.asks;
        asks.progress += 1;
        if asks.progress > self.plugin.limits.progress_reports {
            return Ok(());
        }
        // MCP wants progress to increase; a report that does not, or is not
        // a number, is dropped.
        let increasing = asks.last_progress.is_none_or(|last| progress > last);
        if !progress.is_finite() || !increasing || total.is_some_and(|t| !t.is_finite()) {
            return Ok(());
        }
        asks.last_progress = Some(progress);
        if let Some(client) = &self.call.context.client {
            let message = message.map(|message| sanitize(&message, text::DESCRIPTION));
            client.0.progress(progress, total, message);
        }
        Ok(())
    }

    async fn sample(
        &mut self,
        request: SampleRequest,
    ) -> wasmtime::Result<Result<SampleReply, WitError>> {
        if !self.plugin.grants.sampling {
            return Ok(Err(WitError::Denied(self.deny("sampling"))));
        }
        if let Err(err) = self.ask("sampling", || sample_size(&request)) {
            return Ok(Err(err));
        }
        let tokens = self.plugin.limits.sample_tokens;
        if u64::from(request.max_tokens) > tokens {
            return Ok(Err(WitError::LimitExceeded(format!(
                "a sampling request for {} tokens is over the sample-tokens limit of {tokens}",
                request.max_tokens
            ))));
        }
        for message in &request.messages {
            let allowed =
                matches!(message.content, Content::Text(_) | Content::Image(_) | Content::Audio(_));
            if !allowed {
                return Ok(Err(WitError::InvalidInput(
                    "a sampled message holds text, an image or audio".to_owned(),
                )));
            }
            if let Err(reason) = Checked::default().content(&message.content) {
                return Ok(Err(WitError::InvalidInput(reason)));
            }
        }
        let Some(client) = self.call.context.client.clone() else {
            return Ok(Err(no_client("sampling")));
        };
        let reply = wait(self.patience(), "sampling", client.0.sample(request)).await;
        Ok(reply.and_then(|reply| {
            let mut checked = Checked::default();
            checked.content(&reply.content).map_err(|reason| {
                WitError::Failed(format!("the client's sampled message: {reason}"))
            })?;
            self.fits("sampled message", checked.bytes + reply.model.len())?;
            Ok(reply)
        }))
    }

    async fn elicit(
        &mut self,
        message: String,
        requested_schema: String,
    ) -> wasmtime::Result<Result<ElicitReply, WitError>> {
        if !self.plugin.grants.elicitation {
            return Ok(Err(WitError::Denied(self.deny("elicitation"))));
        }
        if let Err(err) = self.ask("elicitation", || message.len() + requested_schema.len()) {
            return Ok(Err(err));
        }
        let schema = match serde_json::from_str::<serde_json::Value>(&requested_schema) {
            Ok(schema @ serde_json::Value::Object(_)) => schema,
            Ok(_) => {
                return Ok(Err(WitError::InvalidInput(
                    "the requested schema is not a JSON object".to_owned(),
                )));
            }
            Err(err) => {
                return Ok(Err(WitError::InvalidInput(format!(
                    "the requested schema is not JSON: {err}"
                ))));
            }
        };
        let Some(client) = self.call.context.client.clone() else {
            return Ok(Err(no_client("elicitation")));
        };
        // The user reads it: one safe line, and whose question it is.
        let message = format!(
            "plugin `{}` asks: {}",
            self.plugin.name,
            sanitize(&message, text::DESCRIPTION * 4)
        );
        let reply = wait(self.patience(), "elicitation", client.0.elicit(message, schema)).await;
        Ok(reply.and_then(|reply| {
            self.fits("elicitation answer", reply.content.as_ref().map_or(0, String::len))?;
            Ok(reply)
        }))
    }

    async fn resource_updated(&mut self, uri: String) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(reason) = mcp::check_uri(&uri) {
            return Ok(Err(WitError::InvalidInput(reason)));
        }
        self.call.asks.updates += 1;
        if self.call.asks.updates > mcp::MAX_UPDATES {
            return Ok(Err(WitError::LimitExceeded(format!(
                "more than {} resource updates in one call",
                mcp::MAX_UPDATES
            ))));
        }
        let plugin = self.plugin.name.clone();
        let update = ResourceUpdate { plugin: plugin.to_string(), uri: uri.clone() };
        self.plugin.services.resources.send(update);
        self.plugin.services.events.send(|| Event::ResourceUpdated { plugin, uri });
        Ok(Ok(()))
    }
}

impl PluginState {
    /// Counts one request to the client against `client-requests`, and
    /// bounds its size by `max-input`.
    fn ask(&mut self, what: &str, size: impl FnOnce() -> usize) -> Result<(), WitError> {
        self.check_input(&format!("{what} request"), size())?;
        self.call.asks.requests += 1;
        let requests = self.plugin.limits.client_requests;
        if self.call.asks.requests > requests {
            return Err(WitError::LimitExceeded(format!(
                "a {what} request over the client-requests limit of {requests} per call"
            )));
        }
        Ok(())
    }

    /// How long a request to the client may wait: what is left of the
    /// call's deadline less a tenth (the plugin then has time to handle
    /// the answer).
    fn patience(&self) -> Duration {
        let left = self.call.deadline.remaining();
        left.saturating_sub(left / 10).max(Duration::from_millis(1))
    }

    /// Refuses an answer from the client larger than the plugin may take
    /// in one call's result (`max-output`).
    fn fits(&self, what: &str, size: usize) -> Result<(), WitError> {
        let limit = self.plugin.limits.max_output;
        if size as u64 > limit {
            return Err(WitError::LimitExceeded(format!(
                "the client's {what} of {size} bytes is over the plugin's max-output of {limit}"
            )));
        }
        Ok(())
    }
}

/// Waits for the client's answer to a `what` request, at most `patience`.
async fn wait<T>(
    patience: Duration,
    what: &str,
    answer: mcp::ClientFuture<T>,
) -> Result<T, WitError> {
    match tokio::time::timeout(patience, answer).await {
        Err(_) => Err(WitError::Failed(format!(
            "the client did not answer the {what} request within the call's deadline ({} ms left)",
            patience.as_millis()
        ))),
        Ok(Err(ClientError::Unsupported(why))) => {
            Err(WitError::NotFound(format!("{what}: {}", sanitize(&why, text::DESCRIPTION))))
        }
        Ok(Err(ClientError::Invalid(why))) => {
            Err(WitError::InvalidInput(sanitize(&why, text::DESCRIPTION)))
        }
        Ok(Err(ClientError::Failed(why))) => {
            Err(WitError::Failed(format!("{what}: {}", sanitize(&why, text::DESCRIPTION))))
        }
        Ok(Ok(answer)) => Ok(answer),
    }
}

/// The error of a request made where no client is reachable.
fn no_client(what: &str) -> WitError {
    WitError::NotFound(format!("{what}: this call comes from no agent's client"))
}

/// The bytes a sampling request carries.
fn sample_size(request: &SampleRequest) -> usize {
    let mut checked = Checked::default();
    for message in &request.messages {
        // Its validity is checked later; here only its size counts.
        let _ = checked.content(&message.content);
    }
    let strings = request.stop_sequences.iter().chain(&request.model_hints);
    checked.bytes
        + request.system_prompt.as_ref().map_or(0, String::len)
        + strings.map(String::len).sum::<usize>()
}
