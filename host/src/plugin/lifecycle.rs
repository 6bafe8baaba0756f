//! Where a plugin is in its life, kept in one atomic so that a call reads
//! it without a lock.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};

/// Where a plugin is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lifecycle {
    /// Compiled and linked; no instance yet.
    Loaded,
    /// An instance ran `init` with its configuration; no call yet.
    Initialised,
    /// Idle between calls.
    Ready,
    /// Serving at least one call now.
    Running,
    /// Stopped: `shutdown` ran on its instances; calls are refused until it
    /// is initialised again.
    Stopped,
    /// `init` failed, for this reason; every call tries `init` again.
    Failed {
        /// The error, as one line.
        reason: String,
    },
}

const LOADED: u8 = 0;
const INITIALISED: u8 = 1;
const READY: u8 = 2;
const STOPPED: u8 = 3;
const FAILED: u8 = 4;

/// The part of the [`Lifecycle`] that calls in flight do not decide
/// (`Running` is read off the pool), in an atomic; the reason of a failure
/// beside it, read only when someone asks.
#[derive(Debug, Default)]
pub(crate) struct Phase {
    state: AtomicU8,
    reason: Mutex<String>,
}

impl Phase {
    /// The lifecycle, given whether calls are in flight.
    pub fn lifecycle(&self, running: bool) -> Lifecycle {
        match self.state.load(Ordering::Acquire) {
            STOPPED => Lifecycle::Stopped,
            FAILED => Lifecycle::Failed {
                reason: self.reason.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            },
            _ if running => Lifecycle::Running,
            LOADED => Lifecycle::Loaded,
            INITIALISED => Lifecycle::Initialised,
            _ => Lifecycle::Ready,
        }
    }

    #[inline]
    pub fn is_stopped(&self) -> bool {
        self.state.load(Ordering::Acquire) == STOPPED
    }

    /// Stops the plugin: no call starts from now on.
    pub fn stop(&self) {
        self.state.store(STOPPED, Ordering::Release);
    }

    /// A stopped plugin may be initialised again.
    pub fn restart(&self) {
        let _ = self.state.compare_exchange(STOPPED, LOADED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A call succeeded: an initialised or failed plugin is ready. One load
    /// when it already is.
    #[inline]
    pub fn succeeded(&self) {
        let state = self.state.load(Ordering::Acquire);
        if state == INITIALISED || state == FAILED {
            let _ = self.state.compare_exchange(state, READY, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// An instance ran `init`: says whether the plugin was loaded or failed
    /// before, so the caller reports it initialised.
    pub fn initialised(&self) -> bool {
        [LOADED, FAILED].into_iter().any(|from| {
            self.state
                .compare_exchange(from, INITIALISED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    /// `init` failed: the plugin is failed, unless it was stopped meanwhile.
    pub fn failed(&self, reason: String) {
        let mut held = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = self.state.load(Ordering::Acquire);
        while state != STOPPED {
            match self.state.compare_exchange(state, FAILED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    *held = reason;
                    return;
                }
                Err(now) => state = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_moves_as_calls_and_stops_say() {
        let phase = Phase::default();
        assert_eq!(phase.lifecycle(false), Lifecycle::Loaded);
        assert!(phase.initialised());
        assert!(!phase.initialised());
        assert_eq!(phase.lifecycle(true), Lifecycle::Running);
        phase.succeeded();
        assert_eq!(phase.lifecycle(false), Lifecycle::Ready);
        phase.failed("no".into());
        assert_eq!(phase.lifecycle(true), Lifecycle::Failed { reason: "no".into() });
        phase.stop();
        phase.failed("later".into());
        phase.succeeded();
        assert_eq!(phase.lifecycle(false), Lifecycle::Stopped);
        phase.restart();
        assert_eq!(phase.lifecycle(false), Lifecycle::Loaded);
    }
}
