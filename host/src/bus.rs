//! The in-process message bus: plugins and host code publish on topics,
//! subscribers receive what matches their pattern.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

/// How many undelivered messages a subscriber may hold before new ones are
/// dropped (and counted) instead of blocking the publisher.
pub const DEFAULT_QUEUE: usize = 1024;

/// One message on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published on, e.g. `orders.created`.
    pub topic: String,
    /// Its bytes; their format is the publisher's to choose.
    pub payload: Vec<u8>,
    /// The plugin that published it, or `None` for host code.
    pub from: Option<String>,
}

/// Topic-based publish and subscribe within one process.
///
/// A pattern is a topic (`orders.created`), a prefix ending in `.*`
/// (`orders.*` matches `orders.created` and `orders.eu.created`), or `*` for
/// every topic. Each subscriber has its own bounded queue, so a slow
/// subscriber never blocks a publisher: when its queue is full, the message
/// is dropped for that subscriber and counted in
/// [`Subscription::dropped`].
#[derive(Default)]
pub struct Bus {
    subscribers: Mutex<Vec<Subscriber>>,
}

struct Subscriber {
    pattern: String,
    sender: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

impl Bus {
    /// Subscribes to `pattern` with a queue of [`DEFAULT_QUEUE`] messages.
    pub fn subscribe(&self, pattern: impl Into<String>) -> Subscription {
        self.subscribe_with_queue(pattern, DEFAULT_QUEUE)
    }

    /// Subscribes to `pattern` with a queue of `queue` messages (at least 1).
    pub fn subscribe_with_queue(&self, pattern: impl Into<String>, queue: usize) -> Subscription {
        let (sender, receiver) = mpsc::channel(queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        self.lock().push(Subscriber { pattern: pattern.into(), sender, dropped: dropped.clone() });
        Subscription { receiver, dropped }
    }

    /// Delivers `message` to every matching subscriber and returns how many
    /// queued it. Subscribers that were dropped are forgotten.
    pub fn publish(&self, message: Message) -> usize {
        let mut delivered = 0;
        self.lock().retain(|subscriber| {
            if !matches(&subscriber.pattern, &message.topic) {
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        // The list stays consistent even if a holder panicked: recover it.
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner)
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
        Message { topic: topic.into(), payload: b"x".to_vec(), from: None }
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
    fn dropped_subscriptions_are_forgotten() {
        let bus = Bus::default();
        drop(bus.subscribe("t"));
        assert_eq!(bus.publish(message("t")), 0);
        assert_eq!(bus.lock().len(), 0);
    }
}
