//! Delivering a plugin's subscribed messages: one task per subscribing
//! plugin, one message at a time, in the order they were published.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Host;
use crate::bus::Subscription;
use crate::{Error, Plugin};

/// The task that delivers a plugin's subscribed messages.
pub(super) struct Delivery {
    /// Tells the task to stop taking new messages and finish those queued.
    pub stop: Arc<Notify>,
    pub task: JoinHandle<()>,
}

impl Host {
    /// Delivers the messages of `inbox`, a plugin's subscription, one at a
    /// time, in the order they were published.
    pub(super) fn start_delivery(&self, plugin: &Arc<Plugin>, mut inbox: Subscription) -> Delivery {
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
                if message.origin.is_none() && message.from.as_deref() == Some(plugin.name()) {
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
        Delivery { stop, task }
    }
}
