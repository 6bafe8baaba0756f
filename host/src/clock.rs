//! The clock of the call path. A call reads it twice, once at each end, so
//! it must be cheap: where the kernel itself keeps time with the CPU's
//! timestamp counter (an invariant TSC it has checked across CPUs), a
//! moment is a raw counter read, some 10 ns, with no fence; elsewhere it is
//! the monotonic clock in nanoseconds (`clock_gettime`, some 25 ns in a VM).
//! Counter ticks become nanoseconds with one multiplication by a scale
//! measured once per process against the monotonic clock.
//!
//! A moment is a single integer, so a deadline is one addition and a
//! duration one subtraction, where `std::time::Instant` carries seconds and
//! nanoseconds apart and checks both at every step.

use std::sync::OnceLock;
use std::time::Duration;

/// A point in time, in the units of the process's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Moment(u64);

impl Moment {
    /// Now.
    #[inline]
    pub fn now() -> Self {
        Self(clock().read())
    }

    /// `span` after this moment (the end of time if that overflows).
    #[inline]
    pub fn after(self, span: Span) -> Self {
        Self(self.0.saturating_add(span.0))
    }

    /// Nanoseconds from this moment until now (0 if it is still to come).
    #[inline]
    pub fn nanos_since(self) -> u64 {
        let clock = clock();
        clock.nanos(clock.read().saturating_sub(self.0))
    }

    /// How long until this moment comes (zero once it has passed).
    pub fn remaining(self) -> Duration {
        let clock = clock();
        Duration::from_nanos(clock.nanos(self.0.saturating_sub(clock.read())))
    }
}

/// A duration in the units of the process's clock, converted once, so that
/// adding it to a moment is one addition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span(u64);

impl Span {
    pub fn of(duration: Duration) -> Self {
        Self(clock().units(duration))
    }
}

/// Measures the clock's scale now, so that no call waits for it. (Taking
/// the first moment would do it anyway.)
pub(crate) fn calibrate() {
    clock();
}

/// Where moments come from.
#[derive(Debug)]
#[cfg_attr(
    not(all(target_arch = "x86_64", target_os = "linux")),
    allow(dead_code, reason = "the counter is only read on x86_64 Linux")
)]
enum Clock {
    /// The monotonic clock, in nanoseconds.
    Monotonic,
    /// The timestamp counter, and its scale against nanoseconds, both ways,
    /// in fixed point with 32 fractional bits.
    Counter { nanos_per_tick: u64, ticks_per_nano: u64 },
}

#[inline]
fn clock() -> &'static Clock {
    static CLOCK: OnceLock<Clock> = OnceLock::new();
    CLOCK.get_or_init(|| counter::calibrate().unwrap_or(Clock::Monotonic))
}

impl Clock {
    #[inline]
    fn read(&self) -> u64 {
        match self {
            Self::Monotonic => monotonic_nanos(),
            Self::Counter { .. } => counter::read(),
        }
    }

    /// `units` of this clock in nanoseconds.
    #[inline]
    fn nanos(&self, units: u64) -> u64 {
        match *self {
            Self::Monotonic => units,
            Self::Counter { nanos_per_tick, .. } => scale(units, nanos_per_tick),
        }
    }

    /// `duration` in units of this clock.
    #[inline]
    fn units(&self, duration: Duration) -> u64 {
        // In u64 arithmetic: `as_nanos` would multiply in u128.
        let nanos = duration
            .as_secs()
            .checked_mul(1_000_000_000)
            .and_then(|nanos| nanos.checked_add(u64::from(duration.subsec_nanos())))
            .unwrap_or(u64::MAX);
        match *self {
            Self::Monotonic => nanos,
            Self::Counter { ticks_per_nano, .. } => scale(nanos, ticks_per_nano),
        }
    }
}

/// `value` times a 32.32 fixed-point `factor`, saturating.
#[inline]
fn scale(value: u64, factor: u64) -> u64 {
    u64::try_from((u128::from(value) * u128::from(factor)) >> 32).unwrap_or(u64::MAX)
}

/// The C library's `clock_gettime`, which reads the clock through the vDSO
/// where the kernel offers one (and which valgrind and other tools that run
/// the program under their own loader know how to handle).
#[cfg(unix)]
#[expect(unsafe_code, reason = "`clock_gettime` only writes the timespec it is given")]
fn monotonic_nanos() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec for the call's duration.
    // The monotonic clock always exists, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    // Both fields are non-negative on the monotonic clock.
    (now.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(now.tv_nsec as u64)
}

#[cfg(not(unix))]
fn monotonic_nanos() -> u64 {
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    let nanos = START.get_or_init(Instant::now).elapsed().as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod counter {
    use super::{Clock, monotonic_nanos};

    /// How long the scale is measured for: with the reads at either end
    /// off by tens of ticks at most (see [`pair`]), the scale is off by
    /// parts per million.
    const WINDOW_NANOS: u64 = 2_000_000;

    /// The timestamp counter, without a fence: the call path needs its
    /// time, not an order against the instructions around it.
    #[inline]
    #[expect(unsafe_code, reason = "`rdtsc` reads a register and has no precondition")]
    pub fn read() -> u64 {
        // SAFETY: every x86_64 CPU has `rdtsc`, and user mode may run it
        // whenever the kernel keeps time with it (checked before use).
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// The counter's scale, if the kernel keeps time with it: the kernel
    /// chooses the `tsc` clock source only when the counter runs at a
    /// constant rate and in step on every CPU.
    pub fn calibrate() -> Option<Clock> {
        let path = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
        if std::fs::read_to_string(path).ok()?.trim() != "tsc" {
            return None;
        }
        let (ticks0, nanos0) = pair()?;
        let (ticks1, nanos1) = loop {
            let (ticks, nanos) = pair()?;
            if nanos.saturating_sub(nanos0) >= WINDOW_NANOS {
                break (ticks, nanos);
            }
            std::hint::spin_loop();
        };
        let ticks = u128::from(ticks1.checked_sub(ticks0).filter(|&t| t > 0)?);
        let nanos = u128::from(nanos1 - nanos0);
        Some(Clock::Counter {
            nanos_per_tick: u64::try_from((nanos << 32) / ticks).ok()?,
            ticks_per_nano: u64::try_from((ticks << 32) / nanos).ok()?,
        })
    }

    /// A counter read and a clock read taken together: of 16 tries, the
    /// clock read between the two closest counter reads (a clock read
    /// takes some 100 ticks; a try that was interrupted, far more), the
    /// counter taken halfway between them.
    fn pair() -> Option<(u64, u64)> {
        let (gap, ticks, nanos) = (0..16)
            .filter_map(|_| {
                let before = read();
                let nanos = monotonic_nanos();
                let after = read();
                let gap = after.checked_sub(before)?;
                Some((gap, before + gap / 2, nanos))
            })
            .min_by_key(|&(gap, ..)| gap)?;
        (gap < 20_000).then_some((ticks, nanos))
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod counter {
    use super::Clock;

    pub fn read() -> u64 {
        unreachable!("the counter clock is only chosen on x86_64 Linux")
    }

    pub fn calibrate() -> Option<Clock> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_follow_the_system_clock() {
        let start = Moment::now();
        let std_start = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let since = Duration::from_nanos(start.nanos_since());
        let std_since = std_start.elapsed();
        // Within what two reads in a row (on a loaded machine), and the
        // scale, can differ by.
        assert!(since.abs_diff(std_since) < Duration::from_millis(10), "{since:?} {std_since:?}");
    }

    #[test]
    fn a_deadline_passes_and_saturates() {
        let now = Moment::now();
        let soon = now.after(Span::of(Duration::from_millis(30)));
        assert!(Moment::now() < soon);
        assert!(soon.remaining() <= Duration::from_millis(30));
        assert!(soon.remaining() > Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(35));
        assert!(Moment::now() >= soon);
        assert_eq!(soon.remaining(), Duration::ZERO);
        let never = now.after(Span::of(Duration::MAX));
        assert!(Moment::now() < never);
        assert!(Moment::now() >= now.after(Span::of(Duration::ZERO)));
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn the_counter_is_used_where_the_kernel_keeps_time_with_it() {
        let path = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
        let source = std::fs::read_to_string(path).unwrap_or_default();
        let counter = matches!(clock(), Clock::Counter { .. });
        assert_eq!(counter, source.trim() == "tsc", "clock source {source:?}: {:?}", clock());
    }

    #[test]
    fn scale_saturates_and_rounds_down() {
        assert_eq!(scale(10, 1 << 32), 10);
        assert_eq!(scale(10, 3 << 31), 15);
        assert_eq!(scale(u64::MAX, 2 << 32), u64::MAX);
    }
}
