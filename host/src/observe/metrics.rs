//! Metrics: calls, outcomes and time per plugin, and their totals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::observe::events::Outcome;

/// What one plugin has done since it was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
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
    #[serde(rename = "total_time_ns", serialize_with = "crate::observe::as_nanos")]
    pub total_time: Duration,
    /// Mean time per call.
    #[serde(rename = "mean_ns", serialize_with = "crate::observe::as_nanos")]
    pub mean: Duration,
    /// Median time per call, within 1/16 (from a log-scale histogram).
    #[serde(rename = "p50_ns", serialize_with = "crate::observe::as_nanos")]
    pub p50: Duration,
    /// 99th-percentile time per call, within 1/16.
    #[serde(rename = "p99_ns", serialize_with = "crate::observe::as_nanos")]
    pub p99: Duration,
    /// Fuel burned, where fuel is metered.
    pub fuel_used: u64,
    /// The most linear memory one instance has held, in bytes.
    pub peak_memory: u64,
    /// Messages delivered to the plugin's `on-message`.
    pub messages_delivered: u64,
    /// Messages dropped because the plugin's queue was full.
    pub messages_dropped: u64,
    /// Uses of something the plugin was not granted (a tool, a topic, a
    /// network address, an HTTP origin), each refused with an error and
    /// an [`Event::Denied`](crate::Event::Denied).
    pub denied: u64,
    /// Key-value reads (`get`, `exists`, each key of `get-many`, each
    /// `list-keys` page, a compare-and-swap's read).
    pub kv_reads: u64,
    /// Key-value writes (`set`, `delete`, `increment`, `swap`, each key of
    /// a batch), refused ones included.
    pub kv_writes: u64,
    /// Bytes of keys and values the plugin stored, as its last write left
    /// them (0 until it writes; not kept by JetStream buckets).
    pub kv_bytes: u64,
}

/// Buckets of the latency histogram: exact below 16 ns, then 8 per power of
/// two up to 2^41 ns (about 36 minutes), so a percentile is within 1/16 of
/// the true value.
const BUCKETS: usize = 16 + (MAX_EXPONENT - 3) * 8;
const MAX_EXPONENT: usize = 40;

/// The histogram bucket of a duration of `nanos`.
#[inline]
fn bucket(nanos: u64) -> usize {
    if nanos < 16 {
        return nanos as usize;
    }
    let exponent = 63 - nanos.leading_zeros() as usize;
    if exponent > MAX_EXPONENT {
        return BUCKETS - 1;
    }
    let mantissa = (nanos >> (exponent - 3)) as usize & 7;
    16 + (exponent - 4) * 8 + mantissa
}

/// The duration a bucket stands for: its midpoint.
fn bucket_value(index: usize) -> Duration {
    if index < 16 {
        return Duration::from_nanos(index as u64);
    }
    let exponent = (index - 16) / 8 + 4;
    let mantissa = ((index - 16) % 8) as u64;
    let width = 1u64 << (exponent - 3);
    Duration::from_nanos((8 + mantissa) * width + width / 2)
}

/// Counts of calls by duration bucket, read out of [`Counters`].
#[derive(Debug, Clone)]
pub(crate) struct Histogram(Box<[u64]>);

impl Default for Histogram {
    fn default() -> Self {
        Self(vec![0; BUCKETS].into_boxed_slice())
    }
}

/// The longest duration, in nanoseconds, bucket `index` holds.
fn bucket_upper(index: usize) -> u64 {
    if index < 16 {
        return index as u64;
    }
    if index == BUCKETS - 1 {
        return u64::MAX;
    }
    let exponent = (index - 16) / 8 + 4;
    let mantissa = ((index - 16) % 8) as u64;
    let width = 1u64 << (exponent - 3);
    (9 + mantissa) * width - 1
}

impl Histogram {
    /// How many calls took at most each of `bounds` (in nanoseconds,
    /// ascending): Prometheus' cumulative buckets. A bucket of this
    /// histogram counts under a bound when all of it is.
    pub fn cumulative(&self, bounds: &[u64]) -> Vec<u64> {
        bounds
            .iter()
            .map(|&bound| {
                self.0
                    .iter()
                    .enumerate()
                    .take_while(|(index, _)| bucket_upper(*index) <= bound)
                    .map(|(_, count)| count)
                    .sum()
            })
            .collect()
    }

    fn add(&mut self, other: &Self) {
        self.0.iter_mut().zip(other.0.iter()).for_each(|(a, b)| *a += b);
    }

    /// The duration below which `p` percent of the calls fall.
    fn percentile(&self, p: u64) -> Duration {
        let count: u64 = self.0.iter().sum();
        if count == 0 {
            return Duration::ZERO;
        }
        let rank = (count * p).div_ceil(100).max(1);
        let mut seen = 0;
        for (index, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_value(index);
            }
        }
        bucket_value(BUCKETS - 1)
    }
}

/// What a finished call adds to the metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// How long the call took, in nanoseconds.
    pub nanos: u64,
    pub outcome: Outcome,
    pub fuel: u64,
    pub memory: u64,
    /// Whether it delivered a message to `on-message`.
    pub delivered: bool,
}

/// Who writes a [`Counters`]: the one holder of an instance slot, with plain
/// loads and stores, or anyone, with atomic read-modify-writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// Only the caller holding the slot writes: no read-modify-write.
    Holder,
    /// Any thread may write at once.
    Shared,
}

/// One plugin's counts, kept per instance slot so that a call writes only
/// its own slot's counters: no lock and no contended cache line.
#[derive(Debug)]
pub(crate) struct Counters {
    // No count of calls: it is the sum of the outcomes.
    successes: AtomicU64,
    errors: AtomicU64,
    traps: AtomicU64,
    restarts: AtomicU64,
    nanos: AtomicU64,
    fuel: AtomicU64,
    peak_memory: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    /// Inline, so that counting a call follows no pointer.
    histogram: [AtomicU64; BUCKETS],
}

impl Default for Counters {
    fn default() -> Self {
        let zero = || AtomicU64::new(0);
        Self {
            successes: zero(),
            errors: zero(),
            traps: zero(),
            restarts: zero(),
            nanos: zero(),
            fuel: zero(),
            peak_memory: zero(),
            delivered: zero(),
            dropped: zero(),
            histogram: std::array::from_fn(|_| zero()),
        }
    }
}

#[inline]
fn add(cell: &AtomicU64, n: u64, writer: Writer) {
    match writer {
        Writer::Holder => {
            cell.store(cell.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed)
        }
        Writer::Shared => {
            cell.fetch_add(n, Ordering::Relaxed);
        }
    }
}

impl Counters {
    /// Adds one finished call.
    #[inline]
    pub fn record(&self, sample: &Sample, writer: Writer) {
        let outcome = match sample.outcome {
            Outcome::Ok => &self.successes,
            Outcome::Error => &self.errors,
            Outcome::Trap => &self.traps,
        };
        add(outcome, 1, writer);
        add(&self.nanos, sample.nanos, writer);
        add(&self.histogram[bucket(sample.nanos)], 1, writer);
        if sample.fuel > 0 {
            add(&self.fuel, sample.fuel, writer);
        }
        if sample.delivered {
            add(&self.delivered, 1, writer);
        }
        if sample.memory > self.peak_memory.load(Ordering::Relaxed) {
            self.peak_memory.fetch_max(sample.memory, Ordering::Relaxed);
        }
    }

    /// Counts an instance thrown away after a trap.
    pub fn restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Counts messages dropped for a full queue.
    pub fn dropped(&self, count: u64) {
        self.dropped.fetch_add(count, Ordering::Relaxed);
    }

    /// Adds these counts to `metrics` and `histogram`.
    pub fn read_into(&self, metrics: &mut Metrics, histogram: &mut Histogram) {
        let get = |cell: &AtomicU64| cell.load(Ordering::Relaxed);
        let (successes, errors, traps) =
            (get(&self.successes), get(&self.errors), get(&self.traps));
        metrics.calls += successes + errors + traps;
        metrics.successes += successes;
        metrics.errors += errors;
        metrics.traps += traps;
        metrics.restarts += get(&self.restarts);
        metrics.total_time += Duration::from_nanos(get(&self.nanos));
        metrics.fuel_used += get(&self.fuel);
        metrics.peak_memory = metrics.peak_memory.max(get(&self.peak_memory));
        metrics.messages_delivered += get(&self.delivered);
        metrics.messages_dropped += get(&self.dropped);
        for (total, cell) in histogram.0.iter_mut().zip(self.histogram.iter()) {
            *total += get(cell);
        }
    }
}

/// Fills in the mean and percentiles from the totals and the histogram.
pub(crate) fn finish(metrics: &mut Metrics, histogram: &Histogram) {
    if metrics.calls > 0 {
        metrics.mean = metrics.total_time / u32::try_from(metrics.calls).unwrap_or(u32::MAX);
    }
    metrics.p50 = histogram.percentile(50);
    metrics.p99 = histogram.percentile(99);
}

/// The sum of several plugins' metrics, with percentiles over all calls.
pub(crate) fn total<'a>(parts: impl IntoIterator<Item = &'a (Metrics, Histogram)>) -> Metrics {
    let mut total = Metrics::default();
    let mut histogram = Histogram::default();
    for (m, h) in parts {
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
        total.denied += m.denied;
        total.kv_reads += m.kv_reads;
        total.kv_writes += m.kv_writes;
        total.kv_bytes += m.kv_bytes;
        histogram.add(h);
    }
    finish(&mut total, &histogram);
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

/// In JSON: `{"plugins":[{"name":"counter","calls":3,...}],"total":{...}}`,
/// durations in nanoseconds (`p50_ns`...).
impl serde::Serialize for Stats {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Named<'a> {
            name: &'a str,
            #[serde(flatten)]
            metrics: &'a Metrics,
        }
        #[derive(serde::Serialize)]
        struct Table<'a> {
            plugins: Vec<Named<'a>>,
            total: &'a Metrics,
        }
        let plugins = self.plugins.iter().map(|(name, metrics)| Named { name, metrics }).collect();
        Table { plugins, total: &self.total }.serialize(serializer)
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self.plugins.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(6);
        writeln!(
            f,
            "{:<width$} {:>7} {:>7} {:>6} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>7} {:>6}",
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
            "MSGS",
            "DENIED"
        )?;
        let rows = self.plugins.iter().map(|(n, m)| (n.as_str(), m));
        for (name, m) in rows.chain(std::iter::once(("TOTAL", &self.total))) {
            writeln!(
                f,
                "{name:<width$} {:>7} {:>7} {:>6} {:>6} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>7} {:>6}",
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
                crate::config::units::format_size(m.peak_memory),
                m.messages_delivered,
                m.denied,
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

/// One plugin's key-value counters, read into its [`Metrics`].
#[derive(Debug, Default)]
pub(crate) struct KvCounters {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    pub bytes: AtomicU64,
}

impl KvCounters {
    pub fn read_into(&self, metrics: &mut Metrics) {
        metrics.kv_reads = self.reads.load(Ordering::Relaxed);
        metrics.kv_writes = self.writes.load(Ordering::Relaxed);
        metrics.kv_bytes = self.bytes.load(Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ms: u64) -> Sample {
        Sample { nanos: ms * 1_000_000, outcome: Outcome::Ok, fuel: 0, memory: 0, delivered: false }
    }

    fn read(counters: &Counters) -> (Metrics, Histogram) {
        let mut metrics = Metrics::default();
        let mut histogram = Histogram::default();
        counters.read_into(&mut metrics, &mut histogram);
        finish(&mut metrics, &histogram);
        (metrics, histogram)
    }

    fn near(actual: Duration, expected: Duration) -> bool {
        actual.abs_diff(expected) <= expected / 16
    }

    #[test]
    fn percentiles_and_means_come_from_the_calls() {
        let counters = Counters::default();
        for ms in 1..=100 {
            counters.record(&ok(ms), Writer::Holder);
        }
        let trap = Sample { outcome: Outcome::Trap, fuel: 5, memory: 1 << 20, ..ok(1000) };
        counters.record(&trap, Writer::Shared);
        let (m, _) = read(&counters);
        assert_eq!((m.calls, m.successes, m.traps), (101, 100, 1));
        assert!(near(m.p50, Duration::from_millis(51)), "{:?}", m.p50);
        assert!(near(m.p99, Duration::from_millis(100)), "{:?}", m.p99);
        assert_eq!(m.fuel_used, 5);
        assert_eq!(m.peak_memory, 1 << 20);
        assert_eq!(m.mean, Duration::from_millis(6050) / 101);
    }

    #[test]
    fn buckets_are_exact_when_small_and_within_a_sixteenth_after() {
        for nanos in (0..16).chain([16, 17, 100, 1_000, 999_999, 1 << 30, (1 << 41) - 1]) {
            let value = bucket_value(bucket(nanos));
            let expected = Duration::from_nanos(nanos);
            assert!(near(value, expected), "{nanos} ns is read as {value:?}");
        }
        assert!(bucket(u64::MAX) < BUCKETS);
        let buckets: Vec<usize> = (0..1_000_000).step_by(997).map(bucket).collect();
        assert!(buckets.is_sorted());
    }

    #[test]
    fn totals_add_up() {
        let (a, b) = (Counters::default(), Counters::default());
        a.record(&ok(10), Writer::Holder);
        b.record(&Sample { outcome: Outcome::Error, ..ok(30) }, Writer::Holder);
        let total = total(&[read(&a), read(&b)]);
        assert_eq!((total.calls, total.successes, total.errors), (2, 1, 1));
        assert_eq!(total.mean, Duration::from_millis(20));
    }
}
