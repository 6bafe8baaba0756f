//! Delivering a plugin's subscribed messages: one task per subscribing
//! plugin, one message at a time, in the order they were published.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Host;
use crate::{Error, Plugin};

/// The task that delivers a plugin's subscribed messages.
pub(super) struct Delivery {
    /// Tells the task to stop taking new messages and finish those queued.
    pub stop: Arc<Notify>,
    pub task: JoinHandle<()>,
}

impl Host {
    /// Delivers the messages a plugin subscribed to, one at a time, in the
    /// order they were published.
    pub(super) fn start_delivery(&self, plugin: &Arc<Plugin>) -> Option<Delivery> {
        let patterns = plugin.grants().subscribe.clone();
        if patterns.is_empty() || !plugin.is_guest() {
            return None;
        }
        let queue = usize::try_from(plugin.limits().message_queue).unwrap_or(usize::MAX);
        let mut inbox = self.services.bus.subscribe_many(patterns, queue);
        let weak = Arc::downgrade(plugin);
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut dropped = 0;
            let mut closing = false;
            loop {
                let message = if closing {
                    inbox.recv().await
                } else {
                    tokio::select! {
                        message = inbox.recv() => message,
                        () = stopped.notified() => {
                            // Take no new message; deliver those queued.
                            inbox.close();
                            closing = true;
                            continue;
                        }
                    }
                };
                let Some(message) = message else { break };
                let Some(plugin) = weak.upgrade() else { break };
                let now_dropped = inbox.dropped();
                if now_dropped > dropped {
                    plugin.messages_dropped(now_dropped - dropped);
                    dropped = now_dropped;
                }
                // A plugin does not receive what it published itself.
                if message.from.as_deref() == Some(plugin.name()) {
                    continue;
                }
                let delivered =
                    plugin.deliver(&message.topic, &message.payload, message.hops).await;
                match delivered {
                    Ok(()) => {}
                    Err(Error::Stopped { .. }) => plugin.messages_dropped(1),
                    Err(err) => {
                        tracing::warn!(target: "witplug::host", plugin = plugin.name(), "on-message: {err}");
                    }
                }
            }
        });
        Some(Delivery { stop, task })
    }
}
