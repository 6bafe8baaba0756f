//! The message bus across hosts, on NATS: [`NatsBus`] carries what plugins
//! publish to the plugins of every host connected to the same NATS server
//! (or cluster), and the tools plugins provide to the plugins of other
//! hosts (see `nats/tools.rs`).
//!
//! ```no_run
//! # async fn run() -> witplug_host::Result<()> {
//! use witplug_host::{Host, nats::NatsBus, nats::NatsOptions};
//!
//! let bus = NatsBus::connect(NatsOptions::new("nats://127.0.0.1:4222")).await?;
//! let host = Host::builder().bus(bus).build()?;
//! host.load_dir("plugins").await?;
//! # Ok(()) }
//! ```
//!
//! # Delivery
//!
//! Core NATS delivers at most once. A message a plugin publishes waits in
//! this host's outgoing buffer while the connection is down and is sent
//! when it comes back; past the buffer (16,384 messages or 64 MiB of
//! topics and payloads by default) it is dropped and counted
//! ([`NatsStats::dropped`], and an `Event::MessageDropped` naming the
//! publisher). Messages in flight when a connection breaks, or that a
//! server drops, are lost: every message carries its host's sequence
//! number for its topic, so a subscriber counts each gap
//! ([`NatsStats::lost`], and the subscribing plugin's `messages_dropped`).
//! Nothing is lost silently; nothing lost is sent again.
//!
//! # Memory
//!
//! What this host holds for the network is bounded in bytes as well as in
//! messages: the outgoing buffer by [`NatsOptions::outgoing_buffer_bytes`],
//! each subscribing plugin's queue by its `message-queue-bytes`, and the
//! NATS client's own queues by a number of messages ([`CLIENT_QUEUE`]
//! commands on their way out, [`SUBSCRIPTION_QUEUE`] messages read but not
//! yet moved to their subscriber), each at most the server's largest
//! payload. A message received is shared by every queue it goes to.

mod kv;
mod names;
mod options;
mod subject;
mod tools;

pub use kv::JetStreamKeyValue;
pub use options::{
    CLIENT_QUEUE, DEFAULT_OUTGOING, DEFAULT_OUTGOING_BYTES, NatsOptions, SUBSCRIPTION_QUEUE,
};

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Client, HeaderMap};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::bus::{
    Allowance, Message, MessageBus, Offered, Published, QueueBounds, QueueSender, SubscribeFuture,
    Subscription,
};
use crate::tools::remote::RemoteTools;
use crate::{Error, Result};

/// How many topics a host numbers at once, publishing or receiving; past
/// it the numbering starts again (a gap is then not noticed once).
const MAX_SEQUENCES: usize = 65_536;

/// The longest `Witplug-Origin` whose numbering is followed.
const MAX_ORIGIN: usize = 64;

/// The largest gap in a publisher's numbering counted as messages lost:
/// more than an outgoing buffer and a subscriber's queue hold together.
const MAX_GAP: u64 = 1 << 24;

/// What a [`NatsBus`] has done since it connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NatsStats {
    /// Messages handed to the connection.
    pub sent: u64,
    /// Messages dropped before they left this host: the outgoing buffer
    /// was full, or the server refused them (a payload over its limit).
    pub dropped: u64,
    /// Messages this host's subscriptions received.
    pub received: u64,
    /// Messages other hosts sent that never arrived here: gaps in their
    /// sequence numbers, counted by each subscription that saw the gap.
    pub lost: u64,
    /// Times the connection came back after it was lost.
    pub reconnects: u64,
}

#[derive(Default)]
struct Counters {
    /// Whether the connection was lost and has not come back yet.
    down: AtomicBool,
    /// Whether the connection is up, for those waiting until it is.
    up: tokio::sync::watch::Sender<bool>,
    sent: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
    lost: AtomicU64,
    reconnects: AtomicU64,
}

/// A [`MessageBus`] on NATS, shared by every host connected to the same
/// server, which also carries tool calls between hosts.
///
/// Topics map to subjects under a prefix (`witplug.` by default): the
/// pattern `orders.*` subscribes to `witplug.orders.>`, `*` to
/// `witplug.>`. A pattern NATS cannot express (a wildcard inside a topic,
/// an empty segment, white space) is refused when the plugin loads. The
/// publishing plugin and the hop count travel in headers, so a loop of
/// plugins is cut across hosts too. The module documentation says what is
/// delivered when, and how losses are counted.
pub struct NatsBus {
    client: Client,
    url: String,
    prefix: String,
    tool_prefix: String,
    /// This host, in the `Witplug-Origin` header of what it publishes.
    origin: String,
    outgoing: mpsc::Sender<Outgoing>,
    /// The bytes of the messages in `outgoing`.
    outgoing_bytes: Allowance,
    counters: Arc<Counters>,
}

/// What waits in the outgoing buffer.
enum Outgoing {
    Message(Message),
    /// Answered once everything before it was handed to the connection.
    Flush(tokio::sync::oneshot::Sender<()>),
}

impl NatsBus {
    /// Connects to the server `options` names, and starts sending what is
    /// published. The connection comes back by itself after an outage,
    /// with every subscription.
    ///
    /// # Errors
    ///
    /// [`Error::Nats`] when the server cannot be reached in time (unless
    /// [`NatsOptions::retry_on_start`]), refuses the credentials, or a
    /// token or credentials file cannot be read.
    pub async fn connect(options: NatsOptions) -> Result<Arc<NatsBus>> {
        let url = options.url.clone();
        let fail = |reason: String| Error::Nats { url: url.clone(), reason };
        subject::check_prefixes(&options.prefix, &options.tool_prefix).map_err(fail)?;
        let counters = Arc::new(Counters::default());
        let events = counters.clone();
        let name = url.clone();
        let mut connect = async_nats::ConnectOptions::new()
            .name("witplug")
            .connection_timeout(options.connect_timeout)
            .max_reconnects(None)
            .client_capacity(CLIENT_QUEUE)
            .subscription_capacity(SUBSCRIPTION_QUEUE)
            .event_callback(move |event| {
                let counters = events.clone();
                let url = name.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            if counters.down.swap(false, Ordering::Relaxed) {
                                counters.reconnects.fetch_add(1, Ordering::Relaxed);
                            }
                            counters.up.send_replace(true);
                            tracing::info!(target: "witplug::nats", "connected to {url}");
                        }
                        async_nats::Event::Disconnected => {
                            counters.down.store(true, Ordering::Relaxed);
                            counters.up.send_replace(false);
                            tracing::warn!(target: "witplug::nats", "lost the connection to {url}; reconnecting");
                        }
                        other => tracing::warn!(target: "witplug::nats", "{url}: {other}"),
                    }
                }
            });
        if let Some(path) = &options.token_file {
            let token = std::fs::read_to_string(path)
                .map_err(|err| fail(format!("reading the token file {}: {err}", path.display())))?;
            connect = connect.token(token.trim().to_owned());
        }
        if let Some(path) = &options.credentials_file {
            connect = connect.credentials_file(path).await.map_err(|err| {
                fail(format!("reading the credentials file {}: {err}", path.display()))
            })?;
        }
        if options.url.split(',').any(|url| url.trim_start().starts_with("tls://")) {
            connect = connect.require_tls(true);
        }
        if options.retry {
            connect = connect.retry_on_initial_connect();
        }
        let servers: Vec<&str> = options.url.split(',').map(str::trim).collect();
        let client = tokio::time::timeout(
            options.connect_timeout + Duration::from_millis(500),
            connect.connect(servers.as_slice()),
        )
        .await
        .map_err(|_| fail(format!("no answer within {:?}", options.connect_timeout)))?
        .map_err(|err| fail(one_line(&err)))?;

        // Never back to false: a `Connected` event may have come first.
        if client.connection_state() == State::Connected {
            counters.up.send_replace(true);
        }
        let (outgoing, queue) = mpsc::channel(options.outgoing);
        let outgoing_bytes = Allowance::new(options.outgoing_bytes);
        let bus = NatsBus {
            client,
            url: options.url,
            prefix: options.prefix,
            tool_prefix: options.tool_prefix,
            origin: origin_id(),
            outgoing,
            outgoing_bytes: outgoing_bytes.clone(),
            counters,
        };
        tokio::spawn(send_loop(
            bus.client.clone(),
            bus.prefix.clone(),
            bus.origin.clone(),
            (queue, outgoing_bytes),
            bus.counters.clone(),
        ));
        Ok(Arc::new(bus))
    }

    /// What the bus has done since it connected.
    pub fn stats(&self) -> NatsStats {
        let c = &self.counters;
        NatsStats {
            sent: c.sent.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
        }
    }

    /// Whether the connection is up now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// Waits until the connection is up: at once if it is, else until the
    /// bus reconnects (or first connects, with
    /// [`NatsOptions::retry_on_start`]).
    pub async fn connected(&self) {
        self.until_up_is(true).await;
    }

    /// Waits until the bus has seen the connection go: at once if it is
    /// down, else until it is lost.
    pub async fn disconnected(&self) {
        self.until_up_is(false).await;
    }

    async fn until_up_is(&self, wanted: bool) {
        let mut up = self.counters.up.subscribe();
        let _ = up.wait_for(|up| *up == wanted).await;
    }

    /// The server's URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The NATS client it uses, for more of NATS on the same connection:
    /// [`JetStreamKeyValue`], say.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Waits until every message published so far has left this host (or
    /// was dropped), and the server has seen it.
    ///
    /// # Errors
    ///
    /// [`Error::Nats`] when the connection is down.
    pub async fn flush(&self) -> Result<()> {
        // The send loop takes the buffer in order: once it answers this,
        // everything before it was handed to the client.
        let (done, handed) = tokio::sync::oneshot::channel();
        if self.outgoing.send(Outgoing::Flush(done)).await.is_ok() {
            let _ = handed.await;
        }
        round_trip(&self.client)
            .await
            .map_err(|reason| Error::Nats { url: self.url.clone(), reason })
    }

    /// A subscription to the subjects of `patterns`, fed once `streams`
    /// (their NATS subscriptions) are open.
    fn subscription(
        &self,
        queue: QueueBounds,
        streams: impl Future<Output = Vec<async_nats::Subscriber>> + Send + 'static,
    ) -> Subscription {
        let (sender, subscription) = Subscription::channel(queue);
        let forward = Forward {
            prefix: self.prefix.clone(),
            origin: self.origin.clone(),
            counters: self.counters.clone(),
            last: HashMap::new(),
        };
        let task = tokio::spawn(async move {
            let streams = futures_util::stream::select_all(streams.await);
            forward.run(streams, sender).await;
        });
        subscription.fed_by(task.abort_handle())
    }

    /// Opens one NATS subscription per pattern, none covering another.
    async fn streams(
        client: &Client,
        prefix: &str,
        patterns: &[String],
    ) -> Result<Vec<async_nats::Subscriber>, String> {
        let mut streams = Vec::new();
        for pattern in subject::minimal(patterns) {
            subject::check_pattern(&pattern)?;
            let subject = subject::pattern_subject(prefix, &pattern);
            let stream = client.subscribe(subject.clone()).await;
            streams.push(stream.map_err(|err| format!("subscribing to {subject}: {err}"))?);
        }
        Ok(streams)
    }
}

impl MessageBus for NatsBus {
    fn publish(&self, message: Message) -> Published {
        if subject::check_topic(&message.topic).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Published::Dropped;
        }
        let size = message.size();
        if !self.outgoing_bytes.take(size) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Published::Dropped;
        }
        match self.outgoing.try_send(Outgoing::Message(message)) {
            Ok(()) => Published::Sent,
            Err(_) => {
                self.outgoing_bytes.give(size);
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                Published::Dropped
            }
        }
    }

    fn subscribe_many(&self, patterns: Vec<String>, queue: QueueBounds) -> Subscription {
        // In place shortly after this returns; `subscribe_ready` waits.
        let client = self.client.clone();
        let prefix = self.prefix.clone();
        self.subscription(queue, async move {
            Self::streams(&client, &prefix, &patterns).await.unwrap_or_else(|err| {
                tracing::warn!(target: "witplug::nats", "{err}");
                Vec::new()
            })
        })
    }

    fn subscribe_ready(&self, patterns: Vec<String>, queue: QueueBounds) -> SubscribeFuture<'_> {
        Box::pin(async move {
            let streams = Self::streams(&self.client, &self.prefix, &patterns).await?;
            round_trip(&self.client).await?;
            Ok(self.subscription(queue, std::future::ready(streams)))
        })
    }

    fn check_topic(&self, topic: &str) -> Result<(), String> {
        subject::check_topic(topic)?;
        subject::check_length(&self.prefix, topic)
    }

    fn check_pattern(&self, pattern: &str) -> Result<(), String> {
        subject::check_pattern(pattern)?;
        subject::check_length(&self.prefix, pattern)
    }

    fn remote_tools(&self) -> Option<&dyn RemoteTools> {
        Some(self)
    }
}

impl fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBus")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

/// Takes published messages from the outgoing buffer, numbers them per
/// topic, and hands them to the connection, in order. While the connection
/// is down the client's own queue fills and this waits, so the buffer
/// fills behind it and `publish` starts dropping: plugins never wait.
async fn send_loop(
    client: Client,
    prefix: String,
    origin: String,
    (mut queue, bytes): (mpsc::Receiver<Outgoing>, Allowance),
    counters: Arc<Counters>,
) {
    // Per topic: its subject, made once, and the last number sent on it.
    let mut sequences: HashMap<String, (async_nats::Subject, u64)> = HashMap::new();
    while let Some(outgoing) = queue.recv().await {
        let message = match outgoing {
            Outgoing::Message(message) => {
                bytes.give(message.size());
                message
            }
            Outgoing::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let (subject, seq) = match sequences.get_mut(&message.topic) {
            Some(known) => known,
            None => {
                if sequences.len() >= MAX_SEQUENCES {
                    sequences.clear();
                }
                let subject = subject::topic_subject(&prefix, &message.topic).into();
                sequences.entry(message.topic.clone()).or_insert((subject, 0))
            }
        };
        *seq += 1;
        let mut headers = HeaderMap::new();
        headers.insert(subject::ORIGIN, origin.as_str());
        headers.insert(subject::SEQ, seq.to_string());
        headers.insert(subject::HOPS, message.hops.to_string());
        if let Some(from) = &message.from {
            headers.insert(subject::FROM, from.as_str());
        }
        match client.publish_with_headers(subject.clone(), headers, message.payload).await {
            Ok(()) => counters.sent.fetch_add(1, Ordering::Relaxed),
            Err(err) => {
                tracing::debug!(target: "witplug::nats", "dropped a message on `{}`: {err}", crate::text::sanitize(&message.topic, crate::text::NAME));
                counters.dropped.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// Moves what a subscription's NATS streams receive into its queue,
/// counting the gaps in each publisher's numbering as lost.
struct Forward {
    prefix: String,
    origin: String,
    counters: Arc<Counters>,
    /// The last number seen per publishing host, then per topic.
    last: HashMap<String, HashMap<String, u64>>,
}

impl Forward {
    async fn run(
        mut self,
        mut stream: futures_util::stream::SelectAll<async_nats::Subscriber>,
        sender: QueueSender,
    ) {
        while let Some(incoming) = stream.next().await {
            self.counters.received.fetch_add(1, Ordering::Relaxed);
            let Some(message) = self.decode(incoming, &sender) else { continue };
            if sender.offer(message) == Offered::Closed {
                break;
            }
        }
    }

    fn decode(&mut self, incoming: async_nats::Message, sender: &QueueSender) -> Option<Message> {
        let topic = subject::topic_of(&self.prefix, incoming.subject.as_str())?;
        let headers = incoming.headers.unwrap_or_default();
        let header = |name: &str| headers.get(name).map(|value| value.as_str());
        let origin = header(subject::ORIGIN);
        if let (Some(origin), Some(seq)) = (origin, header(subject::SEQ)) {
            // A number that is not one is no evidence of a loss.
            if let Ok(seq) = seq.trim().parse() {
                self.count_gap(origin, topic, seq, sender);
            }
        }
        Some(Message {
            topic: topic.to_owned(),
            payload: incoming.payload,
            from: header(subject::FROM).map(str::to_owned),
            hops: subject::hops(header(subject::HOPS)),
            // What this host published itself counts as local.
            origin: origin.filter(|origin| *origin != self.origin).map(str::to_owned),
        })
    }

    fn count_gap(&mut self, origin: &str, topic: &str, seq: u64, sender: &QueueSender) {
        // A host's origin is 16 hex digits: a longer one is forged, and is
        // not kept (its key could hold up to a payload's worth).
        if origin.len() > MAX_ORIGIN || topic.len() > subject::MAX_SUBJECT {
            return;
        }
        // Looked up by reference: a message from a known publisher and topic
        // allocates nothing here.
        let known = self.last.get_mut(origin).and_then(|topics| topics.get_mut(topic));
        let last = match known {
            Some(last) => last,
            None => {
                if self.last.values().map(HashMap::len).sum::<usize>() >= MAX_SEQUENCES {
                    self.last.clear();
                }
                let topics = self.last.entry(origin.to_owned()).or_default();
                topics.entry(topic.to_owned()).or_insert(seq)
            }
        };
        // The first message seen, or a publisher that numbers afresh; a
        // jump larger than any buffer could lose is a forged or restarted
        // numbering, not a loss, and poisons no counter.
        let lost = seq.checked_sub(*last).and_then(|ahead| ahead.checked_sub(1)).unwrap_or(0);
        if lost > 0 && lost <= MAX_GAP {
            self.counters.lost.fetch_add(lost, Ordering::Relaxed);
            sender.count_dropped(lost);
        }
        *last = seq;
    }
}

/// Waits until the server has processed everything this client sent
/// before: a message to itself comes back only after the server handled
/// what preceded it on the connection (`Client::flush` only writes to the
/// socket).
async fn round_trip(client: &Client) -> Result<(), String> {
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await.map_err(|err| one_line(&err))?;
    client.publish(inbox, bytes::Bytes::new()).await.map_err(|err| one_line(&err))?;
    client.flush().await.map_err(|err| one_line(&err))?;
    match tokio::time::timeout(Duration::from_secs(10), echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the connection closed".to_owned()),
        Err(_) => Err("the server did not answer within 10 s".to_owned()),
    }
}

/// An id for this host that no other host has: the `Witplug-Origin` of
/// what it publishes.
fn origin_id() -> String {
    let seed = (std::process::id(), std::time::SystemTime::now(), std::thread::current().id());
    let random = std::collections::hash_map::RandomState::new().hash_one(format!("{seed:?}"));
    format!("{random:016x}")
}

/// An error and its causes, as one line.
fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    crate::error::chain_line(err)
}
