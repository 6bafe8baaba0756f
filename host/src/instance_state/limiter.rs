//! Enforcing limits inside one `Store`: memory, tables and instances as
//! wasmtime's `ResourceLimiter`, and the marker errors of the limits the
//! host itself stops a call for.

use std::fmt;

use crate::config::limits::{Budget, Limits};

/// Which limit a plugin ran into, raised as the error of a trap so the host
/// can tell it apart from other traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    /// The call ran past its deadline.
    Deadline,
    /// The call wrote more log lines than allowed.
    LogLines,
    /// The instance wanted the host to hold more for it than a budget.
    Budget(Budget),
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Deadline => f.write_str("the call ran past its deadline"),
            Self::LogLines => f.write_str("the call wrote too many log lines"),
            Self::Budget(budget) => write!(f, "the instance is over its {} budget", budget.key()),
        }
    }
}

impl std::error::Error for LimitHit {}

/// Enforces memory, table and instance limits for one `Store`, and
/// remembers when it refused, so a trap that follows is reported as the
/// limit it is.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory: u64,
    table_elements: u64,
    instances: u64,
    used_memory: u64,
    /// The growth allowed last, undone if wasmtime then fails to grow.
    pending: u64,
    /// The most linear memory the instance has held.
    pub peak_memory: u64,
    /// Set when a memory growth was refused during the current call.
    pub memory_refused: bool,
    /// Set when a table growth was refused during the current call.
    pub table_refused: bool,
}

impl Limiter {
    pub fn new(limits: &Limits) -> Self {
        Self {
            memory: limits.memory,
            table_elements: limits.table_elements,
            instances: limits.instances,
            used_memory: 0,
            pending: 0,
            peak_memory: 0,
            memory_refused: false,
            table_refused: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        if self.used_memory.saturating_add(growth) > self.memory {
            // Refuse rather than trap: `memory.grow` returns -1 and a plugin
            // that checks its allocations may recover.
            self.memory_refused = true;
            return Ok(false);
        }
        self.used_memory += growth;
        self.pending = growth;
        self.peak_memory = self.peak_memory.max(self.used_memory);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // Growth past the memory's own maximum fails after we allowed it.
        self.used_memory -= std::mem::take(&mut self.pending);
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.table_elements {
            self.table_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances as usize
    }

    fn tables(&self) -> usize {
        self.instances as usize
    }

    fn memories(&self) -> usize {
        self.instances as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn the_limiter_refuses_memory_past_the_total() {
        let limits = Limits { memory: 1 << 20, ..Limits::default() };
        let mut limiter = Limiter::new(&limits);
        assert!(limiter.memory_growing(0, 512 << 10, None).unwrap());
        assert!(limiter.memory_growing(512 << 10, 1 << 20, None).unwrap());
        assert!(!limiter.memory_growing(1 << 20, (1 << 20) + 65536, None).unwrap());
        assert!(limiter.memory_refused);
        assert_eq!(limiter.peak_memory, 1 << 20);
    }

    #[test]
    fn a_growth_that_wasmtime_then_fails_is_given_back() {
        let limits = Limits { memory: 1 << 20, ..Limits::default() };
        let mut limiter = Limiter::new(&limits);
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        limiter.memory_grow_failed(wasmtime::format_err!("over the declared maximum")).unwrap();
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
    }

    #[test]
    fn the_limiter_refuses_tables_past_the_limit() {
        let limits = Limits { table_elements: 100, ..Limits::default() };
        let mut limiter = Limiter::new(&limits);
        assert!(limiter.table_growing(0, 100, None).unwrap());
        assert!(!limiter.table_growing(100, 101, None).unwrap());
        assert!(limiter.table_refused);
    }
}
