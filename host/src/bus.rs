//! The in-process message bus: plugins and host code publish on topics,
//! subscribers receive what matches their pattern.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

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
}

impl Message {
    /// A message from host code.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self { topic: topic.into(), payload: payload.into(), from: None, hops: 0 }
    }
}

/// A message bus: what the host and its plugins publish and subscribe on.
///
/// [`Bus`], in-process, is the default; another implementation (say, over
/// the network) can be given to [`HostBuilder::bus`](crate::HostBuilder::bus)
/// without changing any plugin.
pub trait MessageBus: Send + Sync + fmt::Debug {
    /// Queues `message` for every subscriber with a matching pattern, and
    /// returns how many queued it. It never waits for a subscriber.
    fn publish(&self, message: Message) -> usize;

    /// Subscribes to every topic matching any of `patterns`, with a queue of
    /// `queue` messages.
    fn subscribe_many(&self, patterns: Vec<String>, queue: usize) -> Subscription;
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
    fn publish(&self, message: Message) -> usize {
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
        delivered
    }

    fn subscribe_many(&self, patterns: Vec<String>, queue: usize) -> Subscription {
        let (sender, receiver) = mpsc::channel(queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        self.lock().push(Subscriber { patterns, sender, dropped: dropped.clone() });
        Subscription { receiver, dropped }
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
}

impl Subscription {
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
        assert_eq!(bus.publish(message("orders.a")), 1);
        assert_eq!(bus.publish(message("orders.b")), 1);
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
        assert_eq!(bus.publish(message("a.x")), 1);
        assert!(both.try_recv().is_some());
        assert!(both.try_recv().is_none());
    }

    #[test]
    fn dropped_subscriptions_are_forgotten() {
        let bus = Bus::default();
        drop(bus.subscribe("t"));
        assert_eq!(bus.publish(message("t")), 0);
        assert_eq!(bus.lock().len(), 0);
    }
}
