//! What an operator approved for a plugin, and every way a manifest asks
//! for more: a new tool, topic, bucket, folder, origin, address or
//! variable, a folder made writable, stdout, stderr or name lookups turned
//! on, a larger limit or pool. A plugin from a lock runs with at most what
//! was approved (`HostBuilder::approve`); `witplug update` shows the
//! difference and waits for the operator.

use crate::config::grants::DirMode;
use crate::config::limits::{Limits, LimitsSpec};
use crate::config::manifest::Manifest;

/// What an operator approved for one plugin, from a lock: a host given
/// one ([`HostBuilder::approve`](crate::HostBuilder::approve)) runs the
/// plugin of that name only as it says.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Approval {
    /// Run it only as the bytes whose SHA-256 is `sha256` (hex), and only
    /// while its manifest asks for no more than `manifest`: a plugin whose
    /// manifest beside it asks for more is refused, naming each widening.
    Approved {
        /// Where it came from, for messages (`registry/repository`).
        source: String,
        /// The SHA-256 of its file, in lowercase hex.
        sha256: String,
        /// The grants, limits, pool and tools approved.
        manifest: Box<Manifest>,
    },
    /// Do not run it: its signature or its bytes did not hold.
    Refused {
        /// Why, naming the reference.
        reason: String,
    },
}

impl Manifest {
    /// Every way this manifest asks for more than `approved`, one line
    /// each (`grants.tools: + shell`, `limits.memory: 67108864 -> …`);
    /// empty when it asks for no more. A limit either leaves unset is the
    /// host's `defaults`, as the host would resolve it.
    pub fn widening(&self, approved: &Manifest, defaults: &Limits) -> Vec<String> {
        let mut more = Vec::new();
        let (asked, was) = (&self.grants, &approved.grants);
        let mut list = |key: &str, asked: &[String], was: &[String]| {
            for item in asked.iter().filter(|item| !was.contains(item)) {
                more.push(format!("{key}: + {}", crate::text::sanitize(item, 256)));
            }
        };
        list("grants.tools", &asked.tools, &was.tools);
        list("grants.publish", &asked.publish, &was.publish);
        list("grants.subscribe", &asked.subscribe, &was.subscribe);
        list("grants.env", &asked.env, &was.env);
        list("grants.connect", &asked.connect, &was.connect);
        list("grants.http", &asked.http, &was.http);
        list("grants.keyvalue", &asked.keyvalue, &was.keyvalue);
        list("provides.tools", &self.provides.tools, &approved.provides.tools);
        for dir in &asked.dirs {
            let same = was.dirs.iter().find(|d| d.host == dir.host && d.guest == dir.guest);
            match same {
                None => more.push(format!(
                    "grants.dirs: + {} -> {}{}",
                    crate::text::sanitize(&dir.host.display().to_string(), 256),
                    crate::text::sanitize(&dir.guest, 256),
                    if dir.mode == DirMode::ReadWrite { " (read-write)" } else { "" }
                )),
                Some(was) if was.mode == DirMode::ReadOnly && dir.mode == DirMode::ReadWrite => {
                    more.push(format!(
                        "grants.dirs: {} read-only -> read-write",
                        crate::text::sanitize(&dir.guest, 256)
                    ));
                }
                Some(_) => {}
            }
        }
        for (key, on, was) in [
            ("stdout", asked.stdout, was.stdout),
            ("stderr", asked.stderr, was.stderr),
            ("resolve", asked.resolve, was.resolve),
            ("sampling", asked.sampling, was.sampling),
            ("elicitation", asked.elicitation, was.elicitation),
        ] {
            if on && !was {
                more.push(format!("grants.{key}: off -> on"));
            }
        }
        let (now, before) =
            (limit_values(&self.limits, defaults), limit_values(&approved.limits, defaults));
        for ((key, asked), (_, was)) in now.iter().zip(&before) {
            if asked > was {
                more.push(format!("limits.{key}: {} -> {}", show(*was), show(*asked)));
            }
        }
        let pool = |spec: &Manifest| {
            let p = &spec.pool;
            let wait = p.wait.map_or(u128::MAX, |w| w.as_nanos());
            [
                ("size", u128::from(p.size.unwrap_or(1))),
                ("queue", p.queue.map_or(u128::MAX, u128::from)),
                ("wait", wait),
            ]
        };
        for ((key, asked), (_, was)) in pool(self).iter().zip(pool(approved)) {
            if *asked > was {
                more.push(format!("pool.{key}: {} -> {}", show(was), show(*asked)));
            }
        }
        more
    }

    /// What this manifest asks for, one line each, for an operator to
    /// approve (`witplug add`), against the host's `defaults`; `nothing`
    /// when it asks for nothing.
    pub fn asks(&self, defaults: &Limits) -> Vec<String> {
        let mut lines = self.widening(&Manifest::default(), defaults);
        for (key, value) in limit_values(&self.limits, defaults) {
            let default = limit_values(&LimitsSpec::default(), defaults);
            let was = default.iter().find(|(k, _)| *k == key).map_or(0, |(_, v)| *v);
            if value < was {
                lines.push(format!(
                    "limits.{key}: {} (below the default {})",
                    show(value),
                    show(was)
                ));
            }
        }
        if lines.is_empty() {
            lines.push("nothing: no grants, the default limits".to_owned());
        }
        lines
    }
}

/// Each limit a manifest sets, or the host's default where it sets none,
/// as one comparable number (durations in nanoseconds; no fuel limit is
/// the largest).
fn limit_values(spec: &LimitsSpec, d: &Limits) -> Vec<(&'static str, u128)> {
    let n = |value: Option<u64>, default: u64| u128::from(value.unwrap_or(default));
    vec![
        ("memory", n(spec.memory, d.memory)),
        ("table-elements", n(spec.table_elements, d.table_elements)),
        ("instances", n(spec.instances, d.instances)),
        ("deadline", spec.deadline.unwrap_or(d.deadline).as_nanos()),
        ("fuel", spec.fuel.or(d.fuel).map_or(u128::MAX, u128::from)),
        ("stack", n(spec.stack, d.stack)),
        ("max-input", n(spec.max_input, d.max_input)),
        ("max-output", n(spec.max_output, d.max_output)),
        ("log-lines", n(spec.log_lines, d.log_lines)),
        ("message-queue", n(spec.message_queue, d.message_queue)),
        ("message-queue-bytes", n(spec.message_queue_bytes, d.message_queue_bytes)),
        ("handles", n(spec.handles, d.handles)),
        ("host-memory", n(spec.host_memory, d.host_memory)),
        ("sockets", n(spec.sockets, d.sockets)),
        ("requests", n(spec.requests, d.requests)),
        ("keyvalue-bytes", n(spec.keyvalue_bytes, d.keyvalue_bytes)),
        ("keyvalue-keys", n(spec.keyvalue_keys, d.keyvalue_keys)),
        ("keyvalue-value-size", n(spec.keyvalue_value_size, d.keyvalue_value_size)),
        ("keyvalue-answer", n(spec.keyvalue_answer, d.keyvalue_answer)),
        ("tool-descriptions", n(spec.tool_descriptions, d.tool_descriptions)),
        ("schema-depth", n(spec.schema_depth, d.schema_depth)),
        ("schema-patterns", n(spec.schema_patterns, d.schema_patterns)),
        ("progress-reports", n(spec.progress_reports, d.progress_reports)),
        ("client-requests", n(spec.client_requests, d.client_requests)),
        ("sample-tokens", n(spec.sample_tokens, d.sample_tokens)),
    ]
}

fn show(value: u128) -> String {
    if value == u128::MAX { "unlimited".to_owned() } else { value.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(text).unwrap()
    }

    #[test]
    fn a_widening_is_named_and_a_narrowing_is_not() {
        let approved = manifest(
            "[grants]\ntools = [\"upper\"]\nhttp = [\"https://a.example\"]\n[limits]\nmemory = \"32 MiB\"\n",
        );
        assert!(approved.widening(&approved, &Limits::default()).is_empty());
        let narrower = manifest("[grants]\ntools = [\"upper\"]\n[limits]\nmemory = \"16 MiB\"\n");
        assert!(narrower.widening(&approved, &Limits::default()).is_empty());
        let wider = manifest(
            "[grants]\ntools = [\"upper\", \"shell\"]\nresolve = true\n[limits]\nmemory = \"1 GiB\"\n[provides]\ntools = [\"x\"]\n",
        );
        let more = wider.widening(&approved, &Limits::default());
        assert!(more.contains(&"grants.tools: + shell".to_owned()), "{more:?}");
        assert!(
            more.iter().any(|l| l.starts_with("limits.memory: 33554432 -> 1073741824")),
            "{more:?}"
        );
        assert!(more.iter().any(|l| l == "grants.resolve: off -> on"), "{more:?}");
        assert!(more.iter().any(|l| l == "provides.tools: + x"), "{more:?}");
        // Against the operator's defaults, not the crate's: with fuel on
        // by default, a manifest that asks for unlimited fuel widens.
        let defaults = Limits { fuel: Some(1_000_000), ..Limits::default() };
        let unmetered = manifest("[limits]\nfuel = 9223372036854775807\n");
        assert!(!unmetered.widening(&Manifest::default(), &defaults).is_empty());
        let queued = manifest("[pool]\nqueue = 100000\n");
        let bounded = manifest("[pool]\nqueue = 10\n");
        assert!(
            queued
                .widening(&bounded, &Limits::default())
                .iter()
                .any(|l| l.starts_with("pool.queue"))
        );
    }
}
