//! Events: what happens to plugins, as a broadcast stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;
pub use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::name::Name;

/// How many events a slow receiver may fall behind before it misses some
/// (it then gets `RecvError::Lagged` with the count).
pub const EVENT_BUFFER: usize = 4096;

/// Something that happened to a plugin.
///
/// In JSON (`witplug run --json`, one event a line), the kind is the
/// `event` field in kebab case, and a duration is in nanoseconds:
/// `{"event":"call-finished","plugin":"counter","export":"handle",
/// "duration_ns":21300,"outcome":"ok"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// A component has been compiling for over a second: its first load
    /// (or a load with no cache). Shown so that a wait of seconds is not
    /// silent; [`Event::Compiled`] follows.
    Compiling {
        /// The plugin.
        plugin: Name,
        /// Whether the result goes to the cache, so later loads skip it.
        cached_afterwards: bool,
    },
    /// A compile that took over a second has finished.
    Compiled {
        /// The plugin.
        plugin: Name,
        /// How long it took.
        #[serde(rename = "took_ns", serialize_with = "crate::observe::as_nanos")]
        took: Duration,
    },
    /// The plugin's file was compiled and linked.
    Loaded {
        /// The plugin.
        plugin: Name,
    },
    /// An instance's `init` succeeded.
    Initialised {
        /// The plugin.
        plugin: Name,
    },
    /// An instance's `init` failed; the plugin is failed.
    InitFailed {
        /// The plugin.
        plugin: Name,
        /// The error, as one line.
        reason: String,
    },
    /// A call finished, well or not.
    CallFinished {
        /// The plugin.
        plugin: Name,
        /// The export called, e.g. `handle`.
        export: Name,
        /// How long it took.
        #[serde(rename = "duration_ns", serialize_with = "crate::observe::as_nanos")]
        duration: Duration,
        /// How it ended.
        outcome: Outcome,
    },
    /// A call trapped or hit a limit.
    Trapped {
        /// The plugin.
        plugin: Name,
        /// The error, as one line.
        reason: String,
    },
    /// An instance was thrown away after a trap; the next call builds a new one.
    Restarted {
        /// The plugin.
        plugin: Name,
    },
    /// The host refused the plugin a capability it was not granted.
    Denied {
        /// The plugin.
        plugin: Name,
        /// The capability, e.g. `tool:shell`.
        capability: String,
    },
    /// The plugin was stopped: its instances were shut down.
    Stopped {
        /// The plugin.
        plugin: Name,
    },
    /// The plugin was removed from the host.
    Unloaded {
        /// The plugin.
        plugin: Name,
    },
    /// A new version of the plugin replaced the old one.
    Reloaded {
        /// The plugin.
        plugin: Name,
    },
    /// A new version failed to load; the old one keeps serving.
    ReloadFailed {
        /// The plugin.
        plugin: Name,
        /// Why, as one line.
        reason: String,
    },
    /// A plugin's message was dropped before any subscriber: it had gone
    /// around a loop of plugins more than [`MAX_HOPS`](crate::bus::MAX_HOPS)
    /// times, or the bus's outgoing buffer was full (a network bus whose
    /// connection is down).
    MessageDropped {
        /// The publishing plugin.
        plugin: Name,
        /// The message's topic.
        topic: String,
    },
    /// The plugin said a resource it serves changed (contract 0.3's
    /// `client.resource-updated`).
    ResourceUpdated {
        /// The plugin.
        plugin: Name,
        /// The resource's URI.
        uri: String,
    },
    /// Messages were dropped for a subscribing plugin whose queue was full.
    MessagesDropped {
        /// The subscribing plugin.
        plugin: Name,
        /// How many since the last such event.
        count: u64,
    },
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It returned a value.
    Ok,
    /// It returned an error value, or the host refused it.
    Error,
    /// It trapped or hit a limit.
    Trap,
}

impl Outcome {
    /// How a call that failed with an error of `kind` ended: a trap or a
    /// limit is [`Outcome::Trap`], anything else [`Outcome::Error`].
    pub fn of(kind: crate::error::ErrorKind) -> Self {
        if kind.is_trap() { Self::Trap } else { Self::Error }
    }
}

impl std::fmt::Display for Event {
    /// One line per event, e.g. `counter: handle ok in 21.3µs`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Compiling { plugin, cached_afterwards: true } => {
                write!(f, "{plugin}: compiling (first time; cached afterwards)")
            }
            Self::Compiling { plugin, cached_afterwards: false } => {
                write!(f, "{plugin}: compiling (no cache: at every start)")
            }
            Self::Compiled { plugin, took } => {
                write!(f, "{plugin}: compiled in {:.1} s", took.as_secs_f64())
            }
            Self::Loaded { plugin } => write!(f, "{plugin}: loaded"),
            Self::Initialised { plugin } => write!(f, "{plugin}: initialised"),
            Self::InitFailed { plugin, reason } => write!(f, "{plugin}: init failed: {reason}"),
            Self::CallFinished { plugin, export, duration, outcome } => {
                let outcome = match outcome {
                    Outcome::Ok => "ok",
                    Outcome::Error => "error",
                    Outcome::Trap => "trapped",
                };
                write!(f, "{plugin}: {export} {outcome} in {duration:.1?}")
            }
            Self::Trapped { plugin, reason } => write!(f, "{plugin}: trapped: {reason}"),
            Self::Restarted { plugin } => write!(f, "{plugin}: instance restarted"),
            Self::Denied { plugin, capability } => write!(f, "{plugin}: denied {capability}"),
            Self::Stopped { plugin } => write!(f, "{plugin}: stopped"),
            Self::Unloaded { plugin } => write!(f, "{plugin}: unloaded"),
            Self::Reloaded { plugin } => write!(f, "{plugin}: reloaded"),
            Self::ReloadFailed { plugin, reason } => {
                write!(f, "{plugin}: reload failed, old version kept: {reason}")
            }
            Self::MessageDropped { plugin, topic } => {
                write!(f, "{plugin}: message on {topic} dropped: too many hops")
            }
            Self::MessagesDropped { plugin, count } => {
                write!(f, "{plugin}: {count} message(s) dropped: queue full")
            }
            Self::ResourceUpdated { plugin, uri } => {
                write!(f, "{plugin}: resource {uri} updated")
            }
        }
    }
}

/// Sends events. With nobody listening an event is never built: callers
/// ask [`Events::listening`] (one atomic load) before making one.
#[derive(Debug, Clone)]
pub(crate) struct Events {
    sender: broadcast::Sender<Event>,
    listeners: Arc<AtomicUsize>,
}

impl Default for Events {
    fn default() -> Self {
        Self { sender: broadcast::channel(EVENT_BUFFER).0, listeners: Arc::default() }
    }
}

impl Events {
    /// Whether any [`EventStream`] is open.
    #[inline]
    pub fn listening(&self) -> bool {
        self.listeners.load(Ordering::Relaxed) > 0
    }

    /// Sends the event `make` builds, if anyone listens.
    #[inline]
    pub fn send(&self, make: impl FnOnce() -> Event) {
        if self.listening() {
            self.build_and_send(make);
        }
    }

    /// Out of line, so that a call path with nobody listening carries only
    /// the check.
    #[cold]
    #[inline(never)]
    fn build_and_send(&self, make: impl FnOnce() -> Event) {
        // Fails only when every receiver is gone since the check.
        let _ = self.sender.send(make());
    }

    pub fn subscribe(&self) -> EventStream {
        self.listeners.fetch_add(1, Ordering::Relaxed);
        EventStream { receiver: self.sender.subscribe(), listeners: self.listeners.clone() }
    }
}

/// What happens to a host's plugins from the moment it was opened: see
/// [`Host::events`](crate::Host::events).
///
/// A stream that falls more than [`EVENT_BUFFER`] events behind misses the
/// oldest and gets [`RecvError::Lagged`] with their count.
#[derive(Debug)]
pub struct EventStream {
    receiver: broadcast::Receiver<Event>,
    listeners: Arc<AtomicUsize>,
}

impl EventStream {
    /// Waits for the next event.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] when events were missed, [`RecvError::Closed`]
    /// when the host is gone.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        self.receiver.recv().await
    }

    /// The next event, if one has happened.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when none is waiting; otherwise as for
    /// [`EventStream::recv`].
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        self.receiver.try_recv()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_built_only_while_someone_listens() {
        let events = Events::default();
        let mut built = 0;
        events.send(|| {
            built += 1;
            Event::Loaded { plugin: "a".into() }
        });
        assert_eq!(built, 0);
        let mut stream = events.subscribe();
        events.send(|| Event::Loaded { plugin: "b".into() });
        assert_eq!(stream.try_recv().unwrap(), Event::Loaded { plugin: "b".into() });
        drop(stream);
        assert!(!events.listening());
    }
}
