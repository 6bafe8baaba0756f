//! Events: what happens to plugins, as a broadcast stream.

use std::time::Duration;

use tokio::sync::broadcast;

/// How many events a slow receiver may fall behind before it misses some
/// (it then gets `RecvError::Lagged` with the count).
pub const EVENT_BUFFER: usize = 4096;

/// Something that happened to a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The plugin's file was compiled and linked.
    Loaded {
        /// The plugin.
        plugin: String,
    },
    /// An instance's `init` succeeded.
    Initialised {
        /// The plugin.
        plugin: String,
    },
    /// An instance's `init` failed; the plugin is failed.
    InitFailed {
        /// The plugin.
        plugin: String,
        /// The error, as one line.
        reason: String,
    },
    /// A call finished, well or not.
    CallFinished {
        /// The plugin.
        plugin: String,
        /// The export called, e.g. `handle`.
        export: String,
        /// How long it took.
        duration: Duration,
        /// How it ended.
        outcome: Outcome,
    },
    /// A call trapped or hit a limit.
    Trapped {
        /// The plugin.
        plugin: String,
        /// The error, as one line.
        reason: String,
    },
    /// An instance was thrown away after a trap; the next call builds a new one.
    Restarted {
        /// The plugin.
        plugin: String,
    },
    /// The host refused the plugin a capability it was not granted.
    Denied {
        /// The plugin.
        plugin: String,
        /// The capability, e.g. `tool:shell`.
        capability: String,
    },
    /// The plugin was stopped: its instances were shut down.
    Stopped {
        /// The plugin.
        plugin: String,
    },
    /// The plugin was removed from the host.
    Unloaded {
        /// The plugin.
        plugin: String,
    },
    /// A new version of the plugin replaced the old one.
    Reloaded {
        /// The plugin.
        plugin: String,
    },
    /// A new version failed to load; the old one keeps serving.
    ReloadFailed {
        /// The plugin.
        plugin: String,
        /// Why, as one line.
        reason: String,
    },
    /// A plugin's message was refused because it had gone around a loop of
    /// plugins more than [`MAX_HOPS`](crate::MAX_HOPS) times.
    MessageDropped {
        /// The publishing plugin.
        plugin: String,
        /// The message's topic.
        topic: String,
    },
    /// Messages were dropped for a subscribing plugin whose queue was full.
    MessagesDropped {
        /// The subscribing plugin.
        plugin: String,
        /// How many since the last such event.
        count: u64,
    },
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It returned a value.
    Ok,
    /// It returned an error value, or the host refused it.
    Error,
    /// It trapped or hit a limit.
    Trap,
}

impl std::fmt::Display for Event {
    /// One line per event, e.g. `counter: handle ok in 21.3µs`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
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
        }
    }
}

/// Sends events; sending with nobody listening costs next to nothing.
#[derive(Debug, Clone)]
pub(crate) struct Events(broadcast::Sender<Event>);

impl Default for Events {
    fn default() -> Self {
        Self(broadcast::channel(EVENT_BUFFER).0)
    }
}

impl Events {
    pub fn send(&self, event: Event) {
        if self.0.receiver_count() > 0 {
            // Fails only when every receiver is gone since the check.
            let _ = self.0.send(event);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }
}
