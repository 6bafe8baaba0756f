//! The instances of one plugin: a fixed number of slots, each empty or
//! holding an instance, kept lock-free (the first idle instance in one
//! atomic box, the others and the empty slots in two queues), and the
//! bounded queue of callers waiting for a slot.
//!
//! A caller takes a slot (an idle instance, or an empty slot it fills by
//! instantiating) and owns it until it puts it back: holding a slot is what
//! bounds the instances running at once, so there is no separate semaphore,
//! and the slot's [`Counters`] are written only by its holder. With no
//! caller waiting, taking and putting back a warm instance are one atomic
//! instruction each.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_queue::ArrayQueue;
use tokio::sync::Notify;
use wasmtime::Store;

use super::atomic_box::AtomicBox;
use crate::compile::code::Instance;
use crate::config::manifest::PoolConfig;
use crate::contract::Guest as GuestBindings;
use crate::instance_state::PluginState;
use crate::name::Name;
use crate::observe::metrics::{Counters, Histogram, Metrics};
use crate::{Error, Result};

/// A running instance, the `Store` that owns it, and the slot it fills.
pub(crate) struct Live {
    pub slot: usize,
    pub store: Store<PluginState>,
    pub instance: Instance,
    pub guest: Option<GuestBindings>,
}

/// A slot taken from the pool: its index, and its instance if it has one.
/// (Boxed, so that taking and putting back move a pointer.)
pub(crate) struct Slot {
    pub index: usize,
    pub live: Option<Box<Live>>,
}

pub(crate) struct Pool {
    /// A slot holding an initialised instance, ready for a call: the one a
    /// warm call takes and puts back.
    hot: AtomicBox<Live>,
    /// More slots holding an initialised instance, when the hot one is full.
    idle: ArrayQueue<Box<Live>>,
    /// Slots without an instance.
    empty: ArrayQueue<usize>,
    /// Each slot's counts, written only by the slot's holder.
    counters: Box<[Counters]>,
    /// Impatient callers waiting now, bounded by [`PoolConfig::queue`].
    queued: AtomicUsize,
    /// Every caller waiting now; a slot put back wakes one.
    waiters: AtomicUsize,
    freed: Notify,
}

impl Pool {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        let empty = ArrayQueue::new(size);
        for index in 0..size {
            let _ = empty.push(index);
        }
        Self {
            hot: AtomicBox::empty(),
            idle: ArrayQueue::new(size),
            empty,
            counters: (0..size).map(|_| Counters::default()).collect(),
            queued: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    pub fn size(&self) -> usize {
        self.counters.len()
    }

    /// Initialised instances waiting for calls.
    pub fn idle(&self) -> usize {
        self.idle.len() + usize::from(self.hot.is_full())
    }

    /// Slots with an instance, idle or busy.
    pub fn filled(&self) -> usize {
        self.size() - self.empty.len()
    }

    /// Whether any slot is taken now.
    pub fn busy(&self) -> bool {
        self.idle() + self.empty.len() < self.size()
    }

    /// The counts of the slot `index`, for its holder to write.
    #[inline]
    pub fn counters(&self, index: usize) -> &Counters {
        &self.counters[index]
    }

    /// Adds every slot's counts to `metrics` and `histogram`.
    pub fn read_counters(&self, metrics: &mut Metrics, histogram: &mut Histogram) {
        self.counters.iter().for_each(|counters| counters.read_into(metrics, histogram));
    }

    /// A free slot, if one is free now and nobody waits for one (a waiter
    /// comes first): for a warm instance, one atomic swap, no lock.
    #[inline]
    pub fn try_take(&self) -> Option<Slot> {
        if self.waiters.load(Ordering::SeqCst) == 0 { self.pop() } else { None }
    }

    /// A free slot, preferring one with an instance, if one is free now.
    #[inline]
    fn pop(&self) -> Option<Slot> {
        if let Some(live) = self.hot.take().or_else(|| self.idle.pop()) {
            return Some(Slot { index: live.slot, live: Some(live) });
        }
        self.empty.pop().map(|index| Slot { index, live: None })
    }

    /// An empty slot, to fill with a new instance, if one is free now.
    pub fn pop_empty(&self) -> Option<usize> {
        self.empty.pop()
    }

    /// Takes a slot. A patient caller (message delivery, one per plugin;
    /// stopping) waits as long as it takes; others wait within the pool's
    /// queue and wait bounds.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] naming `plugin` when the queue is full or the wait
    /// runs out.
    pub async fn take(&self, patient: bool, config: &PoolConfig, plugin: &Name) -> Result<Slot> {
        if let Some(slot) = self.try_take() {
            return Ok(slot);
        }
        let busy = |reason| Error::Busy { plugin: plugin.to_string(), reason };
        let _queued = if patient {
            None
        } else {
            if self.queued.fetch_add(1, Ordering::SeqCst) >= config.queue {
                self.queued.fetch_sub(1, Ordering::SeqCst);
                return Err(busy(format!("{} callers are already waiting", config.queue)));
            }
            // Counted out again however this wait ends, even when the
            // caller gives up and drops the call.
            Some(Counted(&self.queued))
        };
        // First come, first served: a caller that finds others waiting
        // looks for a slot only once woken (in turn: `notify_one` wakes the
        // longest waiting), so that callers arriving later cannot take every
        // freed slot before it while its deadline runs.
        let alone = self.waiters.fetch_add(1, Ordering::SeqCst) == 0;
        let _waiting = Counted(&self.waiters);
        let wait = async {
            let mut may_look = alone;
            loop {
                // Woken: look before registering again, so that a wake-up
                // stored meanwhile stays for the next waiter.
                if may_look && let Some(slot) = self.pop() {
                    return slot;
                }
                let notified = self.freed.notified();
                let mut notified = std::pin::pin!(notified);
                // Registered before looking, so a slot put back after the
                // look wakes this caller.
                let ready = notified.as_mut().enable();
                if may_look && let Some(slot) = self.pop() {
                    // The wake-up this took was another slot's: pass it on.
                    if ready {
                        self.freed.notify_one();
                    }
                    return slot;
                }
                notified.await;
                may_look = true;
            }
        };
        if patient {
            return Ok(wait.await);
        }
        tokio::time::timeout(config.wait, wait).await.map_err(|_elapsed| {
            busy(format!("all {} instances stayed busy for {:?}", self.size(), config.wait))
        })
    }

    /// Puts a slot back, with its instance if it is fit for another call,
    /// and wakes a waiting caller if there is one.
    #[inline]
    pub fn put(&self, index: usize, live: Option<Box<Live>>) {
        // A waiter counts itself in before it looks for a slot, and a slot is
        // put back before this looks for waiters: one of the two sees the
        // other. The hot slot's exchange is sequentially consistent, so a
        // plain load follows it in order; the queues' pushes are not, so
        // after one, a read-modify-write orders the look (as a fence would,
        // for less on x86). Neither queue can be full: each slot is in at
        // most one place.
        let waiters = match live.map(|live| self.hot.put(live)) {
            Some(Ok(())) => self.waiters.load(Ordering::SeqCst),
            Some(Err(live)) => {
                let _ = self.idle.push(live);
                self.waiters.fetch_add(0, Ordering::SeqCst)
            }
            None => {
                let _ = self.empty.push(index);
                self.waiters.fetch_add(0, Ordering::SeqCst)
            }
        };
        if waiters > 0 {
            self.freed.notify_one();
        }
    }
}

/// Counts a caller out of a waiting count when its wait ends, however.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
