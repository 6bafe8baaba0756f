//! The agent's side of one `tools/call`, as a plugin reaches it: a
//! [`witplug_host::mcp::Client`] bound to the client session that made the
//! call. Progress goes out as `notifications/progress` with the call's
//! progress token, in order, through a bounded queue (a report that finds
//! it full is dropped); sampling and elicitation become requests to the
//! client, refused when it did not declare the capability, abandoned when
//! the client cancels the call.

#![expect(
    deprecated,
    reason = "sampling is deprecated in MCP's newest draft; clients of 2025-11-25 still use it"
)]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{
    CreateMessageRequestParams, ElicitRequestParams, ElicitationAction, ElicitationSchema,
    ProgressNotificationParam, ProgressToken,
};
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use witplug_host::mcp::{
    Client, ClientError, ClientFuture, ElicitAction, ElicitReply, Role, SampleReply, SampleRequest,
};

use crate::content;

/// How many progress reports may wait to be sent; more are dropped.
const PROGRESS_QUEUE: usize = 64;

/// The client session that made one call.
pub(crate) struct Agent {
    peer: Peer<RoleServer>,
    /// Where progress reports wait, and the task that sends them: made at
    /// the first report of a call that asked for progress; `Ended` once the
    /// call has ended.
    progress: Mutex<Progress>,
    token: Option<ProgressToken>,
    /// Cancelled when the client cancels the call.
    cancelled: CancellationToken,
}

impl Agent {
    /// The agent of a call from `peer`, which asked for progress with
    /// `token` (or not); `cancelled` ends its requests.
    pub fn new(
        peer: Peer<RoleServer>,
        token: Option<ProgressToken>,
        cancelled: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self { peer, progress: Mutex::new(Progress::None), token, cancelled })
    }

    /// Ends the call's progress: reports still queued are sent (for at most
    /// a second) before the result, later ones dropped.
    pub async fn finish(&self) {
        let progress = std::mem::replace(
            &mut *self.progress.lock().unwrap_or_else(PoisonError::into_inner),
            Progress::Ended,
        );
        if let Progress::Sending(queue, mut sending, _) = progress {
            drop(queue);
            if tokio::time::timeout(Duration::from_secs(1), &mut sending).await.is_err() {
                // A client that does not read its progress holds no task.
                sending.abort();
            }
        }
    }

    /// The queue of the call's progress, made at its first report, when
    /// `value` follows the last report sent (MCP wants progress to grow, and
    /// the plugins a call reaches through tools share its token).
    fn queue(
        &self,
        progress: &mut Progress,
        value: f64,
    ) -> Option<mpsc::Sender<ProgressNotificationParam>> {
        if let Progress::None = progress {
            let (sender, mut reports) = mpsc::channel::<ProgressNotificationParam>(PROGRESS_QUEUE);
            let peer = self.peer.clone();
            let sending = tokio::spawn(async move {
                while let Some(report) = reports.recv().await {
                    if peer.notify_progress(report).await.is_err() {
                        break;
                    }
                }
            });
            *progress = Progress::Sending(sender, sending, f64::NEG_INFINITY);
        }
        match progress {
            Progress::Sending(queue, _, last) if value > *last => {
                *last = value;
                Some(queue.clone())
            }
            _ => None,
        }
    }

    /// Whether the client declared `capability` (`sampling`, `elicitation`).
    fn declared(&self, capability: &str) -> bool {
        self.peer.peer_info().is_some_and(|info| {
            serde_json::to_value(&info.capabilities)
                .ok()
                .and_then(|capabilities| capabilities.get(capability).cloned())
                .is_some_and(|declared| !declared.is_null())
        })
    }
}

impl Client for Agent {
    fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let Some(token) = &self.token else { return };
        let mut state = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = self.queue(&mut state, progress) else { return };
        let mut report = ProgressNotificationParam::new(token.clone(), progress);
        report.total = total;
        report.message = message;
        // A full queue drops the report: progress never makes a plugin wait.
        let _ = queue.try_send(report);
    }

    fn sample(&self, request: SampleRequest) -> ClientFuture<SampleReply> {
        if !self.declared("sampling") {
            return unsupported("the client did not declare sampling");
        }
        let params = match sampling_params(&request) {
            Ok(params) => params,
            Err(reason) => return Box::pin(std::future::ready(Err(ClientError::Invalid(reason)))),
        };
        let peer = self.peer.clone();
        let cancelled = self.cancelled.clone();
        Box::pin(async move {
            let answer = peer.create_message(params);
            let result = tokio::select! {
                () = cancelled.cancelled() => return Err(ClientError::Failed("the call was cancelled".into())),
                result = answer => result,
            };
            let result = result.map_err(|err| ClientError::Failed(err.to_string()))?;
            sampled(&serde_json::to_value(&result).unwrap_or_default())
        })
    }

    fn elicit(&self, message: String, schema: Value) -> ClientFuture<ElicitReply> {
        if !self.declared("elicitation") {
            return unsupported("the client did not declare elicitation");
        }
        // MCP allows flat objects of strings, numbers, booleans and enums:
        // the SDK's schema type says which.
        if let Err(err) = serde_json::from_value::<ElicitationSchema>(schema.clone()) {
            let reason = format!("the requested schema is not one MCP allows: {err}");
            return Box::pin(std::future::ready(Err(ClientError::Invalid(reason))));
        }
        let params = json!({ "mode": "form", "message": message, "requestedSchema": schema });
        let params = match serde_json::from_value::<ElicitRequestParams>(params) {
            Ok(params) => params,
            Err(err) => {
                let reason = format!("the elicitation request is not one MCP allows: {err}");
                return Box::pin(std::future::ready(Err(ClientError::Invalid(reason))));
            }
        };
        let peer = self.peer.clone();
        let cancelled = self.cancelled.clone();
        Box::pin(async move {
            let answer = peer.create_elicitation(params);
            let result = tokio::select! {
                () = cancelled.cancelled() => return Err(ClientError::Failed("the call was cancelled".into())),
                result = answer => result,
            };
            let result = result.map_err(|err| ClientError::Failed(err.to_string()))?;
            let action = match result.action {
                ElicitationAction::Accept => ElicitAction::Accept,
                ElicitationAction::Decline => ElicitAction::Decline,
                _ => ElicitAction::Cancel,
            };
            Ok(ElicitReply { action, content: result.content.map(|content| content.to_string()) })
        })
    }
}

/// The progress of one call.
enum Progress {
    /// Nothing reported yet.
    None,
    /// Reports are being sent; the last one sent.
    Sending(mpsc::Sender<ProgressNotificationParam>, JoinHandle<()>, f64),
    /// The call has ended: later reports are dropped.
    Ended,
}

fn unsupported<T: Send + 'static>(why: &str) -> ClientFuture<T> {
    Box::pin(std::future::ready(Err(ClientError::Unsupported(why.to_owned()))))
}

/// The protocol's `sampling/createMessage` parameters for `request`.
fn sampling_params(request: &SampleRequest) -> Result<CreateMessageRequestParams, String> {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|message| {
            json!({ "role": role(message.role), "content": content::block(&message.content) })
        })
        .collect();
    let mut params = json!({ "messages": messages, "maxTokens": request.max_tokens });
    if let Some(system) = &request.system_prompt {
        params["systemPrompt"] = json!(system);
    }
    if let Some(temperature) = request.temperature {
        params["temperature"] = json!(temperature);
    }
    if !request.stop_sequences.is_empty() {
        params["stopSequences"] = json!(request.stop_sequences);
    }
    if !request.model_hints.is_empty() {
        let hints: Vec<Value> =
            request.model_hints.iter().map(|name| json!({ "name": name })).collect();
        params["modelPreferences"] = json!({ "hints": hints });
    }
    serde_json::from_value(params)
        .map_err(|err| format!("not a sampling request MCP allows: {err}"))
}

fn role(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// The model's message, from the protocol's result.
fn sampled(result: &Value) -> Result<SampleReply, ClientError> {
    let role = match result.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        _ => Role::Assistant,
    };
    // One content block, or the first of several.
    let block = match result.get("content") {
        Some(Value::Array(blocks)) => blocks.first().cloned().unwrap_or(Value::Null),
        Some(block) => block.clone(),
        None => Value::Null,
    };
    let content = content::from_block(&block).ok_or_else(|| {
        ClientError::Failed("the client's message has no text, image or audio".into())
    })?;
    let text = |key: &str| result.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(SampleReply {
        role,
        content,
        model: text("model").unwrap_or_default(),
        stop_reason: text("stopReason"),
    })
}
