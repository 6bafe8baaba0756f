//! Tools across hosts on NATS: a call is a request on the tool's subject,
//! answered by one of the hosts that offer it (a queue group per tool).
//! The caller's chain of plugins and its time left travel in headers; an
//! error travels as its WIT kind in a header and its message as payload.

use std::sync::Arc;
use std::time::Duration;

use async_nats::client::RequestErrorKind;
use async_nats::connection::State;
use async_nats::{HeaderMap, Request};
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use super::{NatsBus, one_line, subject};
use crate::PluginError;
use crate::text::{self, sanitize};
use crate::tools::remote::{
    ListFuture, RemoteTools, ReplyFuture, ServeFuture, ToolHandler, ToolReply, ToolRequest,
    ToolService,
};

/// How many calls of one tool a host runs at once for other hosts; more
/// are answered `failed` at once rather than queued without bound.
const MAX_IN_FLIGHT: usize = 1024;

/// The most callers a request's chain names: a longer one is forged.
const MAX_CHAIN: usize = 64;

/// How long a listing waits for hosts to answer.
const LIST_WINDOW: Duration = Duration::from_millis(300);

/// The most tools a listing takes in.
const MAX_LISTED: usize = 4096;

/// The most bytes of descriptions a listing takes in.
const MAX_LISTED_BYTES: usize = 16 << 20;

/// The longest a caller may ask a provider to work on a call.
const MAX_TIMEOUT: Duration = Duration::from_secs(60);

impl RemoteTools for NatsBus {
    fn call(&self, request: ToolRequest) -> ReplyFuture<'_> {
        Box::pin(async move {
            let name = request.name.clone();
            if subject::check_topic(&name).is_err() {
                // No host can offer a tool by that name.
                return Err(PluginError::NotFound(name));
            }
            if let Err(reason) = subject::check_length(&self.tool_prefix, &name) {
                return Err(PluginError::InvalidInput(format!("tool `{name}`: {reason}")));
            }
            if self.client.connection_state() != State::Connected {
                return Err(PluginError::Failed(format!(
                    "remote tool `{name}`: no connection to NATS at {}",
                    self.url
                )));
            }
            let timeout = request.timeout;
            let ms = timeout.as_millis();
            let subject = subject::topic_subject(&self.tool_prefix, &name);
            let mut headers = HeaderMap::new();
            headers.insert(subject::CHAIN, request.chain.join(","));
            headers.insert(subject::HOPS, request.hops.to_string());
            headers.insert(subject::TIMEOUT_MS, ms.to_string());
            let nats_request = Request::new()
                .headers(headers)
                .payload(request.input.into())
                .timeout(Some(timeout));
            let answer = self.client.send_request(subject, nats_request);
            // Sending itself may wait while the connection goes down.
            let Ok(answer) = tokio::time::timeout(timeout, answer).await else {
                return Err(no_answer(&name, ms));
            };
            match answer {
                Ok(reply) => decode_reply(&name, reply),
                Err(err) => Err(match err.kind() {
                    RequestErrorKind::NoResponders => PluginError::NotFound(name),
                    RequestErrorKind::TimedOut => no_answer(&name, ms),
                    RequestErrorKind::MaxPayloadExceeded => PluginError::LimitExceeded(format!(
                        "remote tool `{name}`: the input is over the NATS server's payload limit"
                    )),
                    _ => PluginError::Failed(format!("remote tool `{name}`: {}", one_line(&err))),
                }),
            }
        })
    }

    fn serve(&self, name: &str, handler: ToolHandler) -> ServeFuture<'_> {
        self.offer(name, None, handler)
    }

    fn serve_described(
        &self,
        name: &str,
        description: String,
        handler: ToolHandler,
    ) -> ServeFuture<'_> {
        self.offer(name, Some(description), handler)
    }

    fn list(&self) -> ListFuture<'_> {
        Box::pin(async move {
            if self.client.connection_state() != State::Connected {
                return Vec::new();
            }
            let inbox = self.client.new_inbox();
            let Ok(mut replies) = self.client.subscribe(inbox.clone()).await else {
                return Vec::new();
            };
            let asked = self.client.publish_with_reply(self.list_subject(), inbox, "".into());
            if asked.await.is_err() || self.client.flush().await.is_err() {
                return Vec::new();
            }
            // Every host answers for each tool it offers; those that answer
            // within the window are listed.
            let mut found: Vec<(String, String)> = Vec::new();
            let mut bytes = 0;
            let window = tokio::time::sleep(LIST_WINDOW);
            tokio::pin!(window);
            while found.len() < MAX_LISTED {
                let reply = tokio::select! {
                    () = &mut window => break,
                    reply = replies.next() => reply,
                };
                let Some(reply) = reply else { break };
                bytes += reply.payload.len();
                if bytes > MAX_LISTED_BYTES {
                    break;
                }
                if let Some((name, spec)) = decode_offer(&reply.payload)
                    && !found.iter().any(|(known, _)| *known == name)
                {
                    found.push((name, spec));
                }
            }
            found
        })
    }
}

impl NatsBus {
    /// Where hosts are asked for the tools they offer: beside the tools'
    /// subjects, never among them (`witplug-tool.` gives `witplug-tool-list`).
    fn list_subject(&self) -> String {
        match self.tool_prefix.strip_suffix('.') {
            Some(stem) if !stem.is_empty() => format!("{stem}-list"),
            _ => "witplug-tool-list".to_owned(),
        }
    }

    /// Offers tool `name`: calls on its subject (a queue group, so one host
    /// answers each), and, with a description, an answer to every listing.
    fn offer(
        &self,
        name: &str,
        description: Option<String>,
        handler: ToolHandler,
    ) -> ServeFuture<'_> {
        let name = name.to_owned();
        Box::pin(async move {
            subject::check_topic(&name)
                .and_then(|()| subject::check_length(&self.tool_prefix, &name))
                .map_err(|reason| format!("tool `{name}`: {reason}"))?;
            let subject = subject::topic_subject(&self.tool_prefix, &name);
            let mut requests = self
                .client
                .queue_subscribe(subject.clone(), subject.clone())
                .await
                .map_err(|err| one_line(&err))?;
            let mut listings = match &description {
                Some(_) => Some(
                    self.client
                        .subscribe(self.list_subject())
                        .await
                        .map_err(|err| one_line(&err))?,
                ),
                None => None,
            };
            let offer = description.map(|spec| encode_offer(&name, &spec));
            // Other hosts reach the tool once the server has the subscription.
            super::round_trip(&self.client).await?;
            let client = self.client.clone();
            let tool = name.clone();
            let task = tokio::spawn(async move {
                let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
                loop {
                    let incoming = tokio::select! {
                        incoming = requests.next() => incoming,
                        Some(listing) = next_listing(&mut listings) => {
                            if let (Some(reply_to), Some(offer)) = (listing.reply, &offer) {
                                let _ = client.publish(reply_to, offer.clone()).await;
                            }
                            continue;
                        }
                    };
                    let Some(incoming) = incoming else { break };
                    let Some(reply_to) = incoming.reply.clone() else { continue };
                    let client = client.clone();
                    let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                        let busy = Err(PluginError::Failed(format!(
                            "tool `{tool}`: this host is running {MAX_IN_FLIGHT} calls of it already"
                        )));
                        let (headers, payload) = encode_reply(busy);
                        let _ = client.publish_with_headers(reply_to, headers, payload).await;
                        continue;
                    };
                    let answer = match decode_request(&tool, incoming) {
                        Ok(request) => handler(request),
                        Err(err) => Box::pin(std::future::ready(Err(err))),
                    };
                    tokio::spawn(async move {
                        let (headers, payload) = encode_reply(answer.await);
                        let _ = client.publish_with_headers(reply_to, headers, payload).await;
                        drop(permit);
                    });
                }
            });
            Ok(ToolService::new(name, task.abort_handle()))
        })
    }
}

/// The next listing request, or never when the tool is not described.
async fn next_listing(
    listings: &mut Option<async_nats::Subscriber>,
) -> Option<async_nats::Message> {
    match listings {
        Some(listings) => listings.next().await,
        None => std::future::pending().await,
    }
}

/// A tool's answer to a listing: its name and its description.
fn encode_offer(name: &str, spec: &str) -> bytes::Bytes {
    serde_json::json!({ "name": name, "spec": spec }).to_string().into()
}

/// A listing's answer, when it is one: the tool's name, made safe, and its
/// description as JSON text (parsed and compiled by the lister, as any
/// description from a plugin).
fn decode_offer(payload: &[u8]) -> Option<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let name = value.get("name")?.as_str()?;
    subject::check_topic(name).ok()?;
    let spec = value.get("spec")?.as_str()?;
    Some((sanitize(name, text::NAME), spec.to_owned()))
}

fn no_answer(name: &str, ms: u128) -> PluginError {
    PluginError::Failed(format!("remote tool `{name}` did not answer within {ms} ms"))
}

fn decode_request(name: &str, incoming: async_nats::Message) -> Result<ToolRequest, PluginError> {
    let headers = incoming.headers.unwrap_or_default();
    let header = |key: &str| headers.get(key).map(|value| value.as_str().to_owned());
    let input = String::from_utf8(incoming.payload.to_vec())
        .map_err(|_| PluginError::InvalidInput(format!("tool `{name}`: the input is not UTF-8")))?;
    // The chain is quoted in refusals: made safe, and no longer than the
    // longest chain a loop cut allows.
    let chain = header(subject::CHAIN)
        .map(|chain| {
            chain
                .split(',')
                .filter(|s| !s.is_empty())
                .take(MAX_CHAIN)
                .map(|name| sanitize(name, text::NAME))
                .collect()
        })
        .unwrap_or_default();
    let timeout = header(subject::TIMEOUT_MS)
        .and_then(|ms| ms.parse().ok())
        .map_or(MAX_TIMEOUT, Duration::from_millis)
        .min(MAX_TIMEOUT);
    let hops = subject::hops(header(subject::HOPS).as_deref());
    Ok(ToolRequest { name: name.to_owned(), input, chain, hops, timeout })
}

/// The WIT kind of each error, as the `Witplug-Error` header names it.
fn kind(error: &PluginError) -> (&'static str, &str) {
    match error {
        PluginError::InvalidInput(message) => ("invalid-input", message),
        PluginError::Denied(message) => ("denied", message),
        PluginError::NotFound(message) => ("not-found", message),
        PluginError::LimitExceeded(message) => ("limit-exceeded", message),
        PluginError::Failed(message) => ("failed", message),
    }
}

fn encode_reply(reply: ToolReply) -> (HeaderMap, bytes::Bytes) {
    let mut headers = HeaderMap::new();
    match reply {
        Ok(output) => (headers, output.into()),
        Err(error) => {
            let (kind, message) = kind(&error);
            headers.insert(subject::ERROR, kind);
            (headers, message.to_owned().into())
        }
    }
}

fn decode_reply(name: &str, reply: async_nats::Message) -> ToolReply {
    let text = String::from_utf8_lossy(&reply.payload).into_owned();
    let error = reply.headers.as_ref().and_then(|headers| headers.get(subject::ERROR));
    let Some(error) = error else { return Ok(text) };
    Err(match error.as_str() {
        "invalid-input" => PluginError::InvalidInput(text),
        "denied" => PluginError::Denied(text),
        "not-found" => PluginError::NotFound(text),
        "limit-exceeded" => PluginError::LimitExceeded(text),
        "failed" => PluginError::Failed(text),
        other => PluginError::Failed(format!(
            "remote tool `{name}` answered an unknown error `{}`: {text}",
            sanitize(other, text::NAME)
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_crosses_the_network_unchanged() {
        let errors = [
            PluginError::InvalidInput("a".into()),
            PluginError::Denied("b".into()),
            PluginError::NotFound("c".into()),
            PluginError::LimitExceeded("d".into()),
            PluginError::Failed("e".into()),
        ];
        for error in errors {
            let (headers, payload) = encode_reply(Err(error.clone()));
            let message = async_nats::Message {
                subject: "x".into(),
                reply: None,
                payload,
                headers: Some(headers),
                status: None,
                description: None,
                length: 0,
            };
            let decoded = decode_reply("t", message).unwrap_err();
            assert_eq!(format!("{decoded:?}"), format!("{error:?}"));
        }
    }
}
