//! A slot of a plugin's pool for one call (or a lease's calls): taken at
//! once when one is free (no lock, no wait), else after a wait within the
//! pool's bounds, and put back, with its instance unless the call was
//! abandoned mid-way. The call itself is `call.rs`'s.

use super::Plugin;
use super::pool::{Live, Slot};
use crate::clock::Moment;
use crate::name::Name;
use crate::{Error, Result};

/// A slot of a plugin's pool, held by one caller until dropped.
pub(crate) struct Checkout<'a> {
    pub(crate) plugin: &'a Plugin,
    pub(crate) index: usize,
    pub(crate) live: Option<Box<Live>>,
    /// Set while an export runs: an instance whose call was abandoned (the
    /// caller dropped the future) is in an unknown state and not reused.
    pub(crate) in_call: bool,
}

/// Where a call finds its instance.
pub(crate) enum Source<'c, 'p> {
    /// A slot of the pool: taken at once when one is free, else after a
    /// wait, within the pool's queue and wait bounds unless `patient`.
    Pool { patient: bool },
    /// The slot a lease holds.
    Leased(&'c mut Checkout<'p>),
}

impl Source<'_, '_> {
    /// A slot of the pool, within its bounds.
    pub const POOL: Self = Self::Pool { patient: false };
}

/// What a call used, for the metrics.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    pub(crate) fuel: u64,
    pub(crate) memory: u64,
}

impl Drop for Checkout<'_> {
    /// Inlined: a warm call puts its slot back where it ends.
    #[inline]
    fn drop(&mut self) {
        let live = if self.in_call { None } else { self.live.take() };
        self.plugin.pool.put(self.index, live);
    }
}

impl<'a> Checkout<'a> {
    pub(crate) fn new(plugin: &'a Plugin, slot: Slot) -> Self {
        Self { plugin, index: slot.index, live: slot.live, in_call: false }
    }
}

impl Plugin {
    /// A slot for a call, if one is free now: the path of a warm call, with
    /// no lock and no wait.
    #[inline]
    pub(crate) fn try_take(&self) -> Option<Slot> {
        if self.phase.is_stopped() {
            return None;
        }
        self.pool.try_take()
    }

    /// Takes a slot for a call to `export` that started at `started`;
    /// records the call when it is refused (a lease, with no export, is not
    /// a call).
    pub(crate) async fn checkout(
        &self,
        export: Option<&Name>,
        patient: bool,
        started: Moment,
    ) -> Result<Checkout<'_>> {
        Ok(Checkout::new(self, self.take(export, patient, started).await?))
    }

    /// [`Plugin::checkout`]'s slot.
    pub(crate) async fn take(
        &self,
        export: Option<&Name>,
        patient: bool,
        started: Moment,
    ) -> Result<Slot> {
        let taken = async {
            self.refuse_if_stopped()?;
            let slot = self.pool.take(patient, &self.context.pool, &self.context.name).await?;
            // Stopped while this caller waited: the slot goes back for
            // `stop`'s drain to take.
            if let Err(err) = self.refuse_if_stopped() {
                self.pool.put(slot.index, slot.live);
                return Err(err);
            }
            Ok(slot)
        };
        let taken = taken.await;
        if let (Err(err), Some(export)) = (&taken, export) {
            self.record_failure(None, export, started, err, Usage::default());
        }
        taken
    }

    pub(crate) fn refuse_if_stopped(&self) -> Result<()> {
        if self.phase.is_stopped() {
            return Err(Error::Stopped { plugin: self.name().to_owned() });
        }
        Ok(())
    }
}
