//! Delivering a plugin's subscribed messages: one task per subscribing
//! plugin, one message at a time, in the order they were published.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Host;
use crate::bus::Subscription;
use crate::{Error, Plugin};

/// How long an unload or a reload keeps delivering the messages already
/// queued for the plugin, before it drops and counts the rest.
const DRAIN: Duration = Duration::from_secs(5);

/// The task that delivers a plugin's subscribed messages.
pub(super) struct Delivery {
    /// Tells the task to stop taking new messages and finish those queued.
    pub stop: Arc<Stop>,
    pub task: JoinHandle<()>,
}

/// A delivery's stop: a flag the task reads between messages, and a wake-up
/// for a task waiting for one.
#[derive(Default)]
pub(super) struct Stop {
    asked: AtomicBool,
    wake: Notify,
}

impl Stop {
    pub fn ask(&self) {
        self.asked.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

impl Host {
    /// Delivers the messages of `inbox`, a plugin's subscription, one at a
    /// time, in the order they were published.
    pub(super) fn start_delivery(&self, plugin: &Arc<Plugin>, mut inbox: Subscription) -> Delivery {
        let weak = Arc::downgrade(plugin);
        let stop = Arc::new(Stop::default());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut dropped = 0;
            let mut closing = false;
            let mut drain_until = tokio::time::Instant::now();
            let mut wait_for_stop = std::pin::pin!(stopped.wake.notified());
            loop {
                if !closing && stopped.asked.load(Ordering::Acquire) {
                    // Take no new message; deliver those queued, for a
                    // bounded time.
                    inbox.close();
                    closing = true;
                    drain_until = tokio::time::Instant::now() + DRAIN;
                }
                // A message already queued is taken without a wait (the
                // stop was read just above); the task still yields to the
                // runtime as often as a wait would.
                let message = match inbox.try_recv() {
                    Some(message) => {
                        tokio::task::consume_budget().await;
                        Some(message)
                    }
                    None if closing => inbox.recv().await,
                    None => {
                        tokio::select! {
                            message = inbox.recv() => message,
                            () = wait_for_stop.as_mut() => {
                                wait_for_stop.set(stopped.wake.notified());
                                continue;
                            }
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
                // A message the plugin could not have sent itself is not
                // delivered to trap it: dropped and counted.
                let size = message.size();
                if size > plugin.limits().max_input {
                    plugin.messages_dropped(1);
                    continue;
                }
                if closing && tokio::time::Instant::now() >= drain_until {
                    // Unloading waits this long at most: the rest is
                    // dropped and counted.
                    let mut rest = 1;
                    while inbox.try_recv().is_some() {
                        rest += 1;
                    }
                    plugin.messages_dropped(rest);
                    break;
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
