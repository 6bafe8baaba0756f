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
