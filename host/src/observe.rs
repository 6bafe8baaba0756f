//! What the host tells those who watch it: events as they happen
//! (`events`) and counters and histograms read when asked (`metrics`).
//!
//! Uses `config` below it.

pub(crate) mod events;
pub(crate) mod metrics;
