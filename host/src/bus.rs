//! The message bus: plugins and host code publish on topics, subscribers
//! receive what matches their pattern. [`MessageBus`] is the interface,
//! [`Bus`] the in-process implementation (`NatsBus`, with the `nats`
//! feature, carries it across hosts).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::remote::RemoteTools;

/// How many undelivered messages a subscriber may hold before new ones are
/// dropped (and counted) instead of blocking the publisher.
pub const DEFAULT_QUEUE: usize = 1024;

/// The most plugins a message may pass through: a message that a plugin
/// publishes while handling one that has already been passed on this many
/// times is refused, which cuts loops between plugins.
pub const MAX_HOPS: u32 = 8;

/// One message on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published on, e.g. `orders.created`.
    pub topic: String,
    /// Its bytes; their format is the publisher's to choose.
    pub payload: Vec<u8>,
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
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self { topic: topic.into(), payload: payload.into(), from: None, hops: 0, origin: None }
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

    /// Subscribes to every topic matching any of `patterns`, with a queue of
    /// `queue` messages.
    fn subscribe_many(&self, patterns: Vec<String>, queue: usize) -> Subscription;

    /// Subscribes like [`subscribe_many`](Self::subscribe_many), and
    /// resolves once the subscription is in place: what is published after
    /// that, anywhere the bus reaches, reaches it. The in-process bus is in
    /// place at once; a network bus waits for its server.
    ///
    /// # Errors
    ///
    /// Why the subscription could not be made, as one line.
    fn subscribe_ready(&self, patterns: Vec<String>, queue: usize) -> SubscribeFuture<'_> {
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
/// every topic. Each subscriber has its own bounded queue and receives the
/// messages of a topic in the order they were published. A slow subscriber
/// never blocks a publisher: when its queue is full, the message is dropped
/// for that subscriber and counted in [`Subscription::dropped`].
#[derive(Default)]
pub struct Bus {
    subscribers: Mutex<Vec<Subscriber>>,
}

struct Subscriber {
    patterns: Vec<String>,
    sender: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

impl Bus {
    /// Subscribes to `pattern` with a queue of [`DEFAULT_QUEUE`] messages.
    pub fn subscribe(&self, pattern: impl Into<String>) -> Subscription {
        self.subscribe_many(vec![pattern.into()], DEFAULT_QUEUE)
    }

    /// Subscribes to `pattern` with a queue of `queue` messages (at least 1).
    pub fn subscribe_with_queue(&self, pattern: impl Into<String>, queue: usize) -> Subscription {
        self.subscribe_many(vec![pattern.into()], queue)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        // The list stays consistent even if a holder panicked: recover it.
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MessageBus for Bus {
    fn publish(&self, message: Message) -> Published {
        let mut delivered = 0;
        self.lock().retain(|subscriber| {
            if !subscriber.patterns.iter().any(|p| matches(p, &message.topic)) {
                return !subscriber.sender.is_closed();
            }
            match subscriber.sender.try_send(message.clone()) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    subscriber.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        Published::Queued(delivered)
    }

    fn subscribe_many(&self, patterns: Vec<String>, queue: usize) -> Subscription {
        let (sender, subscription) = Subscription::channel(queue);
        let dropped = subscription.dropped.clone();
        self.lock().push(Subscriber { patterns, sender, dropped });
        subscription
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus").field("subscribers", &self.lock().len()).finish()
    }
}

/// The receiving end of [`Bus::subscribe`]; dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    receiver: mpsc::Receiver<Message>,
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
    /// A subscription with a queue of `queue` messages (at least 1), and
    /// the sender that fills it: what a [`MessageBus`] implementation
    /// keeps for each subscriber. A message it drops because the queue is
    /// full is added to [`Subscription::dropped_counter`].
    pub fn channel(queue: usize) -> (mpsc::Sender<Message>, Subscription) {
        let (sender, receiver) = mpsc::channel(queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        (sender, Subscription { receiver, dropped, feeder: None })
    }

    /// Stops `task` when this subscription is dropped: the task that feeds
    /// it from elsewhere.
    pub fn fed_by(mut self, task: tokio::task::AbortHandle) -> Self {
        self.feeder = Some(task);
        self
    }

    /// The counter of dropped messages, for the sender's side to add to.
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    /// Waits for the next message.
    pub async fn recv(&mut self) -> Option<Message> {
        self.receiver.recv().await
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Option<Message> {
        self.receiver.try_recv().ok()
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

/// Whether `topic` matches `pattern` (see [`Bus`]).
pub fn matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => topic.starts_with(prefix),
        _ => pattern == topic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(topic: &str) -> Message {
        Message::new(topic, b"x".to_vec())
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
        let mut both = bus.subscribe_many(vec!["a.*".into(), "*".into()], 8);
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
