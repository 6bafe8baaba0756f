//! What the host tells those who watch it: [`Event`]s as they happen
//! (an [`EventStream`] from `Host::events`, with the [`Outcome`] of each
//! call) and [`Metrics`] read when asked (`Host::metrics`, `Host::stats`).
//!
//! Uses `config` below it.

pub(crate) mod events;
pub(crate) mod metrics;

pub use events::{EVENT_BUFFER, Event, EventStream, Outcome, RecvError, TryRecvError};
pub use metrics::{Metrics, Stats};

/// A duration in JSON: whole nanoseconds.
pub(crate) fn as_nanos<S: serde::Serializer>(
    duration: &std::time::Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
}
