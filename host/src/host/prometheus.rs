//! The host's figures in the Prometheus text format (version 0.0.4), read
//! from the counters the call path keeps anyway: a scrape costs the calls
//! nothing.

use std::fmt::Write;

use super::Host;

/// The upper bounds of the call-duration buckets, in nanoseconds: 10 µs to
/// 10 s.
const BOUNDS: [u64; 13] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    5_000_000,
    25_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    10_000_000_000,
];

/// A label value, escaped as the format asks (`\`, `"` and newlines).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Host {
    /// Every plugin's calls, outcomes, call durations (a histogram), fuel,
    /// memory, denials, messages and key-value use, and the cache's hits,
    /// in the Prometheus text format: what `witplug run --metrics` serves.
    ///
    /// ```no_run
    /// # fn run(host: &witplug_host::Host) {
    /// let text = host.prometheus_text();
    /// assert!(text.contains("# TYPE witplug_calls_total counter"));
    /// # }
    /// ```
    pub fn prometheus_text(&self) -> String {
        let plugins: Vec<_> = self
            .plugins()
            .into_iter()
            .map(|plugin| {
                let (metrics, histogram) = plugin.metrics_histogram();
                (label(plugin.name()), metrics, histogram)
            })
            .collect();
        let mut out = String::new();
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };

        let name = "witplug_calls_total";
        header(&mut out, name, "counter", "Calls into each plugin, by how they ended.");
        for (plugin, metrics, _) in &plugins {
            for (outcome, count) in
                [("ok", metrics.successes), ("error", metrics.errors), ("trap", metrics.traps)]
            {
                let _ =
                    writeln!(out, "{name}{{plugin=\"{plugin}\",outcome=\"{outcome}\"}} {count}");
            }
        }

        let name = "witplug_call_duration_seconds";
        header(
            &mut out,
            name,
            "histogram",
            "How long each plugin's calls took, host calls included.",
        );
        for (plugin, metrics, histogram) in &plugins {
            let counts = histogram.cumulative(&BOUNDS);
            for (bound, count) in BOUNDS.iter().zip(counts) {
                let le = *bound as f64 / 1e9;
                let _ = writeln!(out, "{name}_bucket{{plugin=\"{plugin}\",le=\"{le}\"}} {count}");
            }
            let (calls, sum) = (metrics.calls, metrics.total_time.as_secs_f64());
            let _ = writeln!(out, "{name}_bucket{{plugin=\"{plugin}\",le=\"+Inf\"}} {calls}");
            let _ = writeln!(out, "{name}_sum{{plugin=\"{plugin}\"}} {sum}");
            let _ = writeln!(out, "{name}_count{{plugin=\"{plugin}\"}} {calls}");
        }

        type Read = fn(&crate::Metrics) -> u64;
        let each: [(&str, &str, &str, Read); 9] = [
            (
                "witplug_restarts_total",
                "counter",
                "Instances thrown away after a trap or a limit.",
                |m| m.restarts,
            ),
            (
                "witplug_fuel_consumed_total",
                "counter",
                "Fuel burned, where fuel is metered.",
                |m| m.fuel_used,
            ),
            (
                "witplug_memory_peak_bytes",
                "gauge",
                "The most linear memory one instance held.",
                |m| m.peak_memory,
            ),
            (
                "witplug_messages_delivered_total",
                "counter",
                "Messages delivered to on-message.",
                |m| m.messages_delivered,
            ),
            (
                "witplug_messages_dropped_total",
                "counter",
                "Messages dropped because the plugin's queue was full.",
                |m| m.messages_dropped,
            ),
            ("witplug_denied_total", "counter", "Uses of something not granted, refused.", |m| {
                m.denied
            }),
            ("witplug_keyvalue_reads_total", "counter", "Key-value reads.", |m| m.kv_reads),
            (
                "witplug_keyvalue_writes_total",
                "counter",
                "Key-value writes, refused ones too.",
                |m| m.kv_writes,
            ),
            (
                "witplug_keyvalue_stored_bytes",
                "gauge",
                "Bytes of keys and values stored, as the last write left them.",
                |m| m.kv_bytes,
            ),
        ];
        for (name, kind, help, read) in each {
            header(&mut out, name, kind, help);
            for (plugin, metrics, _) in &plugins {
                let _ = writeln!(out, "{name}{{plugin=\"{plugin}\"}} {}", read(metrics));
            }
        }
        let _ = writeln!(
            out,
            "# HELP witplug_plugins Plugins loaded.\n# TYPE witplug_plugins gauge\nwitplug_plugins {}",
            plugins.len()
        );
        if let Some(cache) = self.cache_stats() {
            let _ = writeln!(
                out,
                "# HELP witplug_cache_lookups_total Loads that looked in the precompiled cache, \
                 by what they found.\n# TYPE witplug_cache_lookups_total counter\n\
                 witplug_cache_lookups_total{{result=\"hit\"}} {}\n\
                 witplug_cache_lookups_total{{result=\"miss\"}} {}\n\
                 witplug_cache_lookups_total{{result=\"rejected\"}} {}\n\
                 # HELP witplug_cache_unread_hits_total Hits that read neither the plugin file \
                 nor the whole entry, both known unchanged.\n\
                 # TYPE witplug_cache_unread_hits_total counter\n\
                 witplug_cache_unread_hits_total {}",
                cache.hits, cache.misses, cache.rejected, cache.unread
            );
        }
        out
    }
}
