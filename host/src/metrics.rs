//! Metrics: calls, outcomes and time per plugin, and their totals.

use std::time::Duration;

use crate::events::Outcome;

/// How many recent call durations each plugin keeps for percentiles.
const SAMPLES: usize = 4096;

/// What one plugin has done since it was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Calls finished.
    pub calls: u64,
    /// Calls that returned a value.
    pub successes: u64,
    /// Calls that returned an error value or were refused.
    pub errors: u64,
    /// Calls that trapped or hit a limit.
    pub traps: u64,
    /// Instances thrown away after a trap.
    pub restarts: u64,
    /// Time spent in calls, in all.
    pub total_time: Duration,
    /// Mean time per call.
    pub mean: Duration,
    /// Median time per call, over the most recent calls.
    pub p50: Duration,
    /// 99th-percentile time per call, over the most recent calls.
    pub p99: Duration,
    /// Fuel burned, where fuel is metered.
    pub fuel_used: u64,
    /// The most linear memory one instance has held, in bytes.
    pub peak_memory: u64,
    /// Messages delivered to the plugin's `on-message`.
    pub messages_delivered: u64,
    /// Messages dropped because the plugin's queue was full.
    pub messages_dropped: u64,
}

/// Collects one plugin's metrics.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    metrics: Metrics,
    samples: Vec<Duration>,
    next: usize,
}

impl Recorder {
    pub fn call(&mut self, duration: Duration, outcome: Outcome, fuel: u64, memory: u64) {
        let m = &mut self.metrics;
        m.calls += 1;
        match outcome {
            Outcome::Ok => m.successes += 1,
            Outcome::Error => m.errors += 1,
            Outcome::Trap => m.traps += 1,
        }
        m.total_time += duration;
        m.fuel_used += fuel;
        m.peak_memory = m.peak_memory.max(memory);
        if self.samples.len() < SAMPLES {
            self.samples.push(duration);
        } else {
            self.samples[self.next] = duration;
            self.next = (self.next + 1) % SAMPLES;
        }
    }

    pub fn restart(&mut self) {
        self.metrics.restarts += 1;
    }

    pub fn restarts(&self) -> u64 {
        self.metrics.restarts
    }

    pub fn delivered(&mut self) {
        self.metrics.messages_delivered += 1;
    }

    pub fn dropped(&mut self, count: u64) {
        self.metrics.messages_dropped += count;
    }

    pub fn snapshot(&self) -> (Metrics, Vec<Duration>) {
        let mut metrics = self.metrics.clone();
        let mut samples = self.samples.clone();
        finish(&mut metrics, &mut samples);
        (metrics, samples)
    }
}

/// Fills in the mean and percentiles from the totals and the samples.
pub(crate) fn finish(metrics: &mut Metrics, samples: &mut [Duration]) {
    if metrics.calls > 0 {
        metrics.mean = metrics.total_time / u32::try_from(metrics.calls).unwrap_or(u32::MAX);
    }
    samples.sort_unstable();
    metrics.p50 = percentile(samples, 50);
    metrics.p99 = percentile(samples, 99);
}

/// The sum of several plugins' metrics, with percentiles over all samples.
pub(crate) fn total<'a>(parts: impl IntoIterator<Item = &'a (Metrics, Vec<Duration>)>) -> Metrics {
    let mut total = Metrics::default();
    let mut samples = Vec::new();
    for (m, s) in parts {
        total.calls += m.calls;
        total.successes += m.successes;
        total.errors += m.errors;
        total.traps += m.traps;
        total.restarts += m.restarts;
        total.total_time += m.total_time;
        total.fuel_used += m.fuel_used;
        total.peak_memory = total.peak_memory.max(m.peak_memory);
        total.messages_delivered += m.messages_delivered;
        total.messages_dropped += m.messages_dropped;
        samples.extend_from_slice(s);
    }
    finish(&mut total, &mut samples);
    total
}

/// Every plugin's metrics and their totals: what [`Host::stats`](crate::Host::stats)
/// returns. Its `Display` is a table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Each plugin's metrics, by name.
    pub plugins: Vec<(String, Metrics)>,
    /// All plugins together.
    pub total: Metrics,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self.plugins.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(6);
        writeln!(
            f,
            "{:<width$} {:>7} {:>7} {:>6} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>7}",
            "PLUGIN",
            "CALLS",
            "OK",
            "ERR",
            "TRAP",
            "RESTART",
            "MEAN",
            "P50",
            "P99",
            "TOTAL",
            "FUEL",
            "PEAK MEM",
            "MSGS"
        )?;
        let rows = self.plugins.iter().map(|(n, m)| (n.as_str(), m));
        for (name, m) in rows.chain(std::iter::once(("TOTAL", &self.total))) {
            writeln!(
                f,
                "{name:<width$} {:>7} {:>7} {:>6} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>7}",
                m.calls,
                m.successes,
                m.errors,
                m.traps,
                m.restarts,
                short(m.mean),
                short(m.p50),
                short(m.p99),
                short(m.total_time),
                m.fuel_used,
                crate::units::format_size(m.peak_memory),
                m.messages_delivered,
            )?;
        }
        Ok(())
    }
}

/// A duration in three or four significant figures and the unit that fits.
fn short(d: Duration) -> String {
    let nanos = d.as_nanos();
    match nanos {
        0..1_000 => format!("{nanos}ns"),
        1_000..1_000_000 => format!("{:.1}µs", nanos as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}ms", nanos as f64 / 1e6),
        _ => format!("{:.2}s", nanos as f64 / 1e9),
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_means_come_from_the_calls() {
        let mut recorder = Recorder::default();
        for ms in 1..=100 {
            recorder.call(Duration::from_millis(ms), Outcome::Ok, 0, 0);
        }
        recorder.call(Duration::from_millis(1000), Outcome::Trap, 5, 1 << 20);
        let (m, _) = recorder.snapshot();
        assert_eq!((m.calls, m.successes, m.traps), (101, 100, 1));
        assert_eq!(m.p50, Duration::from_millis(51));
        assert_eq!(m.p99, Duration::from_millis(100));
        assert_eq!(m.fuel_used, 5);
        assert_eq!(m.peak_memory, 1 << 20);
        assert_eq!(m.mean, Duration::from_millis(6050) / 101);
    }

    #[test]
    fn totals_add_up() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        a.call(Duration::from_millis(10), Outcome::Ok, 0, 0);
        b.call(Duration::from_millis(30), Outcome::Error, 0, 0);
        let total = total(&[a.snapshot(), b.snapshot()]);
        assert_eq!((total.calls, total.successes, total.errors), (2, 1, 1));
        assert_eq!(total.mean, Duration::from_millis(20));
    }
}
