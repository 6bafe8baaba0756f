//! The message bus: plugins (`send-message`) and host code publish on
//! topics, subscribers receive what matches their pattern. [`MessageBus`]
//! is the interface, [`Bus`] the in-process implementation
//! (`nats::NatsBus`, with the `nats` feature, carries it across hosts);
//! `Host::subscribe` gives a [`Subscription`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use bytes::Bytes;
use tokio::sync::mpsc;

use crate::tools::remote::RemoteTools;

/// How many undelivered messages a subscriber may hold before new ones are
/// dropped (and counted) instead of blocking the publisher.
pub const DEFAULT_QUEUE: usize = 1024;

/// How many bytes of undelivered messages (topics and payloads) a
/// subscriber may hold before new ones are dropped and counted: 16 MiB.
pub const DEFAULT_QUEUE_BYTES: u64 = 16 << 20;

/// The most plugins a message may pass through: a message that a plugin
/// publishes while handling one that has already been passed on this many
/// times is refused, which cuts loops between plugins.
pub const MAX_HOPS: u32 = 8;

/// One message on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published on, e.g. `orders.created`.
    pub topic: String,
    /// Its bytes; their format is the publisher's to choose. Every
    /// subscriber's copy of the message shares them.
    pub payload: Bytes,
    /// The plugin that published it, or `None` for host code.
    pub from: Option<String>,
    /// How many plugins published it in a chain: 0 from host code, 1 from a
    /// plugin called by the host, 2 from a plugin handling that message...
    pub hops: u32,
    /// The host it came from, when it crossed the network from another
    /// host; `None` when it was published in this process.
    pub origin: Option<String>,
}

impl Message {
    /// A message from host code.
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self { topic: topic.into(), payload: payload.into(), from: None, hops: 0, origin: None }
    }

    /// The bytes it takes in a queue: its topic and its payload.
    pub fn size(&self) -> u64 {
        (self.topic.len() + self.payload.len()) as u64
    }
}

/// How much one subscriber's queue may hold: messages, and their bytes
/// ([`Message::size`]). Past either, a new message is dropped for that
/// subscriber and counted; a message larger than the whole byte bound is
/// never queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBounds {
    /// Messages (at least 1).
    pub messages: usize,
    /// Bytes of topics and payloads.
    pub bytes: u64,
}

impl QueueBounds {
    /// At most `messages` messages and `bytes` bytes.
    pub const fn new(messages: usize, bytes: u64) -> Self {
        Self { messages, bytes }
    }
}

impl Default for QueueBounds {
    /// [`DEFAULT_QUEUE`] messages, [`DEFAULT_QUEUE_BYTES`] bytes.
    fn default() -> Self {
        Self::new(DEFAULT_QUEUE, DEFAULT_QUEUE_BYTES)
    }
}

impl From<usize> for QueueBounds {
    /// `messages` messages, and [`DEFAULT_QUEUE_BYTES`] bytes.
    fn from(messages: usize) -> Self {
        Self::new(messages, DEFAULT_QUEUE_BYTES)
    }
}

/// A count of what is held (bytes, or messages), up to a bound: taken
/// before something is queued, given back when it leaves the queue.
#[derive(Debug, Clone)]
pub(crate) struct Allowance {
    held: Arc<AtomicU64>,
    bound: u64,
}

impl Allowance {
    pub(crate) fn new(bound: u64) -> Self {
        Self { held: Arc::new(AtomicU64::new(0)), bound }
    }

    /// Takes `bytes` if they fit under the bound with what is held.
    pub(crate) fn take(&self, bytes: u64) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(bytes).filter(|total| *total <= self.bound)
            })
            .is_ok()
    }

    /// Gives back `bytes` taken before.
    pub(crate) fn give(&self, bytes: u64) {
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// The bytes held now.
    pub(crate) fn held(&self) -> u64 {
        self.held.load(Ordering::Acquire)
    }
}

/// What became of a published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Queued for this many subscribers of this process (0: nobody
    /// subscribed).
    Queued(usize),
    /// Handed to the network, for whichever hosts subscribe there.
    Sent,
    /// Dropped before it left this host, because the bus's outgoing buffer
    /// was full; the bus counted it.
    Dropped,
}

/// The future of [`MessageBus::subscribe_ready`].
pub type SubscribeFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Subscription, String>> + Send + 'a>>;

/// A message bus: what the host and its plugins publish and subscribe on.
///
/// [`Bus`], in-process, is the default; another implementation (say, over
/// the network) can be given to [`HostBuilder::bus`](crate::HostBuilder::bus)
/// without changing any plugin.
pub trait MessageBus: Send + Sync + fmt::Debug {
    /// Queues `message` for every subscriber with a matching pattern, and
    /// says what became of it. It never waits for a subscriber or the
    /// network.
    fn publish(&self, message: Message) -> Published;

    /// Subscribes to every topic matching any of `patterns`, with a queue
    /// bounded by `queue`.
    fn subscribe_many(&self, patterns: Vec<String>, queue: QueueBounds) -> Subscription;

    /// Subscribes like [`subscribe_many`](Self::subscribe_many), and
    /// resolves once the subscription is in place: what is published after
    /// that, anywhere the bus reaches, reaches it. The in-process bus is in
    /// place at once; a network bus waits for its server.
    ///
    /// # Errors
    ///
    /// Why the subscription could not be made, as one line.
    fn subscribe_ready(&self, patterns: Vec<String>, queue: QueueBounds) -> SubscribeFuture<'_> {
        let subscription = self.subscribe_many(patterns, queue);
        Box::pin(std::future::ready(Ok(subscription)))
    }

    /// Whether this bus can carry `topic`, or why not. A plugin publishing
    /// on a topic it cannot carry gets `error::invalid-input`.
    ///
    /// # Errors
    ///
    /// The reason, as one line. The in-process bus carries any topic.
    fn check_topic(&self, topic: &str) -> Result<(), String> {
        let _ = topic;
        Ok(())
    }

    /// Whether this bus can subscribe to `pattern`, or why not; a plugin
    /// granted a pattern its host's bus cannot express fails to load.
    ///
    /// # Errors
    ///
    /// The reason, as one line. The in-process bus takes any pattern.
    fn check_pattern(&self, pattern: &str) -> Result<(), String> {
        let _ = pattern;
        Ok(())
    }

    /// The tools of other hosts, when this bus reaches any: a tool no local
    /// plugin or host closure provides is looked for there, and tools local
    /// plugins provide are offered there. `None` for the in-process bus.
    fn remote_tools(&self) -> Option<&dyn RemoteTools> {
        None
    }
}

/// Topic-based publish and subscribe within one process.
///
/// A pattern is a topic (`orders.created`), a prefix ending in `.*`
/// (`orders.*` matches `orders.created` and `orders.eu.created`), or `*` for
/// every topic. Each subscriber has its own queue, bounded in messages and
/// bytes ([`QueueBounds`]), and receives the messages of a topic in the
/// order they were published; the subscribers of one message share its
/// payload. A slow subscriber never blocks a publisher: when its queue is
/// full, the message is dropped for that subscriber and counted in
/// [`Subscription::dropped`].
#[derive(Default)]
pub struct Bus {
    subscribers: Mutex<Vec<Subscriber>>,
}

struct Subscriber {
    patterns: Vec<String>,
    sender: QueueSender,
}

impl Bus {
    /// Subscribes to `pattern` with the default bounds
    /// ([`QueueBounds::default`]).
    pub fn subscribe(&self, pattern: impl Into<String>) -> Subscription {
        self.subscribe_many(vec![pattern.into()], QueueBounds::default())
    }

    /// Subscribes to `pattern` with a queue bounded by `queue`: a number of
    /// messages, or [`QueueBounds`].
    pub fn subscribe_with_queue(
        &self,
        pattern: impl Into<String>,
        queue: impl Into<QueueBounds>,
    ) -> Subscription {
        self.subscribe_many(vec![pattern.into()], queue.into())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        // The list stays consistent even if a holder panicked: recover it.
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MessageBus for Bus {
    fn publish(&self, message: Message) -> Published {
        let wants = |subscriber: &Subscriber, topic: &str| {
            subscriber.patterns.iter().any(|pattern| matches(pattern, topic))
        };
        let mut subscribers = self.lock();
        // The last subscriber that wants it takes the message itself; those
        // before it take a clone (which shares the payload).
        let last = subscribers.iter().rposition(|subscriber| wants(subscriber, &message.topic));
        let mut message = Some(message);
        let (mut delivered, mut at) = (0, 0);
        subscribers.retain(|subscriber| {
            let this = at;
            at += 1;
            let offered = match (&message, last) {
                (Some(kept), Some(last)) if this < last && wants(subscriber, &kept.topic) => {
                    subscriber.sender.offer(kept.clone())
                }
                (Some(_), Some(last)) if this == last => match message.take() {
                    Some(message) => subscriber.sender.offer(message),
                    None => return !subscriber.sender.is_closed(),
                },
                _ => return !subscriber.sender.is_closed(),
            };
            match offered {
                Offered::Queued => {
                    delivered += 1;
                    true
                }
                Offered::Dropped => true,
                Offered::Closed => false,
            }
        });
        Published::Queued(delivered)
    }

    fn subscribe_many(&self, patterns: Vec<String>, queue: QueueBounds) -> Subscription {
        let (sender, subscription) = Subscription::channel(queue);
        self.lock().push(Subscriber { patterns, sender });
        subscription
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus").field("subscribers", &self.lock().len()).finish()
    }
}

/// The sending end of a [`Subscription`]'s queue, made by
/// [`Subscription::channel`]: what a [`MessageBus`] keeps for each
/// subscriber. It counts a message it drops in the subscription's
/// [`dropped`](Subscription::dropped).
#[derive(Debug, Clone)]
pub struct QueueSender {
    sender: mpsc::UnboundedSender<Message>,
    /// The queue's bounds, kept by two counters rather than a bounded
    /// channel's semaphore, which takes a lock for every message received.
    messages: Allowance,
    bytes: Allowance,
    dropped: Arc<AtomicU64>,
}

/// What [`QueueSender::offer`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// It is in the queue.
    Queued,
    /// The queue was full, in messages or bytes: dropped, and counted.
    Dropped,
    /// The subscription is gone.
    Closed,
}

impl QueueSender {
    /// Queues `message` if it fits, without waiting.
    pub fn offer(&self, message: Message) -> Offered {
        if self.sender.is_closed() {
            return Offered::Closed;
        }
        let size = message.size();
        if !self.messages.take(1) {
            self.count_dropped(1);
            return Offered::Dropped;
        }
        if !self.bytes.take(size) {
            self.messages.give(1);
            self.count_dropped(1);
            return Offered::Dropped;
        }
        match self.sender.send(message) {
            Ok(()) => Offered::Queued,
            Err(_) => {
                self.messages.give(1);
                self.bytes.give(size);
                Offered::Closed
            }
        }
    }

    /// Counts `messages` lost on the way to this queue (a gap a network bus
    /// noticed).
    pub fn count_dropped(&self, messages: u64) {
        self.dropped.fetch_add(messages, Ordering::Relaxed);
    }

    /// Whether the subscription is gone.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// The receiving end of [`Bus::subscribe`]; dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    receiver: mpsc::UnboundedReceiver<Message>,
    messages: Allowance,
    bytes: Allowance,
    dropped: Arc<AtomicU64>,
    /// What feeds the queue when it is not the publisher itself (a task
    /// reading the network), stopped with the subscription.
    feeder: Option<tokio::task::AbortHandle>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(feeder) = &self.feeder {
            feeder.abort();
        }
    }
}

impl Subscription {
    /// A subscription with a queue bounded by `queue`, and the sender that
    /// fills it: what a [`MessageBus`] implementation keeps for each
    /// subscriber.
    pub fn channel(queue: QueueBounds) -> (QueueSender, Subscription) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let messages = Allowance::new(queue.messages.max(1) as u64);
        let bytes = Allowance::new(queue.bytes);
        let sender = QueueSender {
            sender,
            messages: messages.clone(),
            bytes: bytes.clone(),
            dropped: dropped.clone(),
        };
        (sender, Subscription { receiver, messages, bytes, dropped, feeder: None })
    }

    /// Stops `task` when this subscription is dropped: the task that feeds
    /// it from elsewhere.
    pub fn fed_by(mut self, task: tokio::task::AbortHandle) -> Self {
        self.feeder = Some(task);
        self
    }

    /// Waits for the next message.
    pub async fn recv(&mut self) -> Option<Message> {
        let message = self.receiver.recv().await?;
        self.messages.give(1);
        self.bytes.give(message.size());
        Some(message)
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Option<Message> {
        let message = self.receiver.try_recv().ok()?;
        self.messages.give(1);
        self.bytes.give(message.size());
        Some(message)
    }

    /// The bytes of the messages queued now.
    pub fn queued_bytes(&self) -> u64 {
        self.bytes.held()
    }

    /// Takes no new message; those already queued can still be received.
    pub fn close(&mut self) {
        self.receiver.close();
    }

    /// How many messages were dropped because this queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

pub(crate) use crate::config::grants::matches;

#[cfg(test)]
mod tests {
    use super::*;

    fn message(topic: &str) -> Message {
        Message::new(topic, b"x".to_vec())
    }

    #[test]
    fn a_queue_full_in_bytes_drops_and_counts_and_frees_what_is_received() {
        let bus = Bus::default();
        let mut slow = bus.subscribe_with_queue("t", QueueBounds::new(100, 1_000));
        let big = || Message::new("t", vec![0; 399]);
        for _ in 0..5 {
            bus.publish(big());
        }
        // Two of 400 bytes fit under 1,000; the other three are dropped.
        assert_eq!((slow.dropped(), slow.queued_bytes()), (3, 800));
        assert!(slow.try_recv().is_some());
        assert_eq!(slow.queued_bytes(), 400);
        assert_eq!(bus.publish(big()), Published::Queued(1));
        // One larger than the whole bound never fits.
        assert_eq!(bus.publish(Message::new("t", vec![0; 1_000])), Published::Queued(0));
        assert_eq!(slow.dropped(), 4);
    }

    #[test]
    fn subscribers_share_one_payload() {
        let bus = Bus::default();
        let mut a = bus.subscribe("t");
        let mut b = bus.subscribe("*");
        let payload = Bytes::from(vec![7; 4096]);
        bus.publish(Message::new("t", payload.clone()));
        let (a, b) = (a.try_recv().unwrap(), b.try_recv().unwrap());
        assert_eq!(a.payload.as_ptr(), payload.as_ptr());
        assert_eq!(b.payload.as_ptr(), payload.as_ptr());
    }

    #[test]
    fn patterns_match_exact_prefix_and_all() {
        assert!(matches("orders", "orders"));
        assert!(!matches("orders", "orders.new"));
        assert!(matches("orders.*", "orders.new"));
        assert!(matches("orders.*", "orders.eu.new"));
        assert!(!matches("orders.*", "orders"));
        assert!(!matches("orders.*", "ordersx.new"));
        assert!(matches("*", "anything"));
    }

    #[test]
    fn delivers_in_order_to_matching_subscribers() {
        let bus = Bus::default();
        let mut orders = bus.subscribe("orders.*");
        let mut other = bus.subscribe("other");
        assert_eq!(bus.publish(message("orders.a")), Published::Queued(1));
        assert_eq!(bus.publish(message("orders.b")), Published::Queued(1));
        assert_eq!(orders.try_recv().unwrap().topic, "orders.a");
        assert_eq!(orders.try_recv().unwrap().topic, "orders.b");
        assert!(other.try_recv().is_none());
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let bus = Bus::default();
        let mut slow = bus.subscribe_with_queue("t", 2);
        for _ in 0..5 {
            bus.publish(message("t"));
        }
        assert_eq!(slow.dropped(), 3);
        assert!(slow.try_recv().is_some());
        assert!(slow.try_recv().is_some());
        assert!(slow.try_recv().is_none());
    }

    #[test]
    fn one_subscription_can_match_several_patterns_once() {
        let bus = Bus::default();
        let mut both = bus.subscribe_many(vec!["a.*".into(), "*".into()], 8.into());
        assert_eq!(bus.publish(message("a.x")), Published::Queued(1));
        assert!(both.try_recv().is_some());
        assert!(both.try_recv().is_none());
    }

    #[test]
    fn dropped_subscriptions_are_forgotten() {
        let bus = Bus::default();
        drop(bus.subscribe("t"));
        assert_eq!(bus.publish(message("t")), Published::Queued(0));
        assert_eq!(bus.lock().len(), 0);
    }
}
