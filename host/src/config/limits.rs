//! Resource limits: what one plugin may take, and how each is enforced.

use std::time::Duration;

use serde::Deserialize;

use crate::config::units::{self, format_size};

/// The longest deadline any call may have.
const MAX_DEADLINE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The limits one plugin runs under.
///
/// The host operator sets defaults and ceilings with
/// [`HostBuilder::limits`](crate::HostBuilder::limits) and
/// [`HostBuilder::ceilings`](crate::HostBuilder::ceilings); a plugin's
/// manifest may choose other values up to the ceilings, never past them.
///
/// Defaults ([`Limits::default`]):
/// - `memory`: 64 MiB of linear memory, all memories together;
/// - `table_elements`: 20,000 elements per table;
/// - `instances`: 20 core instances (a Rust plugin needs about 5);
/// - `deadline`: 1 s of wall-clock time per call;
/// - `fuel`: none (the deadline bounds time; fuel makes it deterministic);
/// - `stack`: 512 KiB of wasm stack;
/// - `max_input`: 1 MiB passed to the host by one host call (a log line, a
///   message payload, a tool input);
/// - `max_output`: 16 MiB in the result of one call;
/// - `log_lines`: 1,000 log lines per call;
/// - `message_queue`: 1,024 messages waiting for the plugin's `on-message`,
///   and `message_queue_bytes`: 16 MiB of them (topics and payloads);
///
/// and the budgets of what the host holds for one instance ([`Budget`]):
/// - `handles`: 10,000 live resource handles (the store's component
///   handles, and the host's resource table: streams, pollables, sockets,
///   header maps, requests...);
/// - `host_memory`: 16 MiB of header maps, each charged at the most it may
///   hold (128 KiB, or the whole budget if that is less);
/// - `sockets`: 16 open TCP sockets (none at all without a `connect`
///   grant; UDP never);
/// - `requests`: 16 outgoing HTTP requests in flight;
///
/// and what it may keep in its key-value buckets (`wasi:keyvalue`):
/// - `keyvalue_bytes`: 64 MiB of keys and values, all its buckets together;
/// - `keyvalue_keys`: 100,000 keys, all its buckets together;
/// - `keyvalue_value_size`: 512 KiB in one value (NATS carries at most
///   1 MiB in a message by default);
/// - `keyvalue_answer`: 4 MiB in one `get-many` or `list-keys` answer;
///
/// and what its tools may say of themselves (`describe-tools`):
/// - `tool_descriptions`: 1 MiB of names, descriptions and schemas, all
///   its tools together;
/// - `schema_depth`: 32 levels of nesting in one schema;
/// - `schema_patterns`: 256 regular expressions in one schema (each
///   compiled by a linear-time engine to at most 256 KiB); compiling them
///   all must end within `deadline`;
///
/// and what one call may ask of the agent's client (contract 0.3):
/// - `progress_reports`: 100 progress reports per call (more are dropped);
/// - `client_requests`: 4 sampling and elicitation requests per call;
/// - `sample_tokens`: 4,096 tokens asked for in one sampling request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Bytes of linear memory, all of the instance's memories together.
    pub memory: u64,
    /// Elements in any one table.
    pub table_elements: u64,
    /// Core wasm instances (and as many memories and tables).
    pub instances: u64,
    /// Wall-clock time one call may run, host calls included.
    pub deadline: Duration,
    /// Fuel (roughly, wasm instructions) one call may burn; `None` for no
    /// fuel metering.
    pub fuel: Option<u64>,
    /// Bytes of wasm stack, which bounds recursion.
    pub stack: u64,
    /// Bytes one host call may receive from the plugin.
    pub max_input: u64,
    /// Bytes a call's result may hold.
    pub max_output: u64,
    /// Log lines one call may write.
    pub log_lines: u64,
    /// Messages waiting for the plugin's `on-message`; past that, new ones
    /// are dropped and counted.
    pub message_queue: u64,
    /// Bytes (topics and payloads) of the messages waiting for the plugin's
    /// `on-message`; past that, new ones are dropped and counted.
    pub message_queue_bytes: u64,
    /// Live resource handles one instance may hold.
    pub handles: u64,
    /// Bytes the host may hold for one instance's header maps.
    pub host_memory: u64,
    /// Open TCP sockets one instance may hold.
    pub sockets: u64,
    /// Outgoing HTTP requests one instance may have in flight.
    pub requests: u64,
    /// Bytes of keys and values the plugin may store, all its buckets
    /// together.
    pub keyvalue_bytes: u64,
    /// Keys the plugin may store, all its buckets together.
    pub keyvalue_keys: u64,
    /// Bytes of one stored value.
    pub keyvalue_value_size: u64,
    /// Bytes of one `get-many` or `list-keys` answer.
    pub keyvalue_answer: u64,
    /// Bytes of the plugin's tool descriptions (names, descriptions and
    /// schemas), all its tools together.
    pub tool_descriptions: u64,
    /// Levels of nesting in one tool schema.
    pub schema_depth: u64,
    /// Regular expressions (`pattern`s, `patternProperties` keys) in one
    /// tool schema.
    pub schema_patterns: u64,
    /// Progress reports one call may send; past that they are dropped.
    pub progress_reports: u64,
    /// Sampling and elicitation requests one call may make.
    pub client_requests: u64,
    /// Tokens one sampling request may ask for (`max-tokens`).
    pub sample_tokens: u64,
}

pub use crate::error::Budget;

impl Budget {
    /// Its limit in `limits`.
    pub fn limit(self, limits: &Limits) -> u64 {
        match self {
            Self::Handles => limits.handles,
            Self::HostMemory => limits.host_memory,
            Self::Sockets => limits.sockets,
            Self::Requests => limits.requests,
        }
    }

    /// `amount` of this budget in words: a size for `host-memory`, a count
    /// for the others.
    pub fn show(self, amount: u64) -> String {
        match self {
            Self::HostMemory => format_size(amount),
            _ => amount.to_string(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 64 << 20,
            table_elements: 20_000,
            instances: 20,
            deadline: Duration::from_secs(1),
            fuel: None,
            stack: 512 << 10,
            max_input: 1 << 20,
            max_output: 16 << 20,
            log_lines: 1_000,
            message_queue: 1_024,
            message_queue_bytes: 16 << 20,
            handles: 10_000,
            host_memory: 16 << 20,
            sockets: 16,
            requests: 16,
            keyvalue_bytes: 64 << 20,
            keyvalue_keys: 100_000,
            keyvalue_value_size: 512 << 10,
            keyvalue_answer: 4 << 20,
            tool_descriptions: 1 << 20,
            schema_depth: 32,
            schema_patterns: 256,
            progress_reports: 100,
            client_requests: 4,
            sample_tokens: 4_096,
        }
    }
}

impl Limits {
    /// The default ceilings: how far a manifest may raise each limit.
    ///
    /// - `memory`: 1 GiB; `table_elements`: 1,000,000; `instances`: 100;
    /// - `deadline`: 60 s; `fuel`: any; `stack`: 8 MiB;
    /// - `max_input`: 64 MiB; `max_output`: 256 MiB; `log_lines`: 100,000;
    /// - `message_queue`: 1,000,000; `message_queue_bytes`: 1 GiB;
    /// - `handles`: 1,000,000; `host_memory`: 1 GiB; `sockets`: 1,024;
    ///   `requests`: 1,024;
    /// - `keyvalue_bytes`: 16 GiB; `keyvalue_keys`: 100,000,000;
    ///   `keyvalue_value_size`: 64 MiB; `keyvalue_answer`: 256 MiB;
    /// - `tool_descriptions`: 16 MiB; `schema_depth`: 128;
    ///   `schema_patterns`: 4,096;
    /// - `progress_reports`: 10,000; `client_requests`: 64;
    ///   `sample_tokens`: 1,000,000.
    pub fn default_ceilings() -> Self {
        Self {
            memory: 1 << 30,
            table_elements: 1_000_000,
            instances: 100,
            deadline: Duration::from_secs(60),
            fuel: Some(u64::MAX),
            stack: 8 << 20,
            max_input: 64 << 20,
            max_output: 256 << 20,
            log_lines: 100_000,
            message_queue: 1_000_000,
            message_queue_bytes: 1 << 30,
            handles: 1_000_000,
            host_memory: 1 << 30,
            sockets: 1_024,
            requests: 1_024,
            keyvalue_bytes: 16 << 30,
            keyvalue_keys: 100_000_000,
            keyvalue_value_size: 64 << 20,
            keyvalue_answer: 256 << 20,
            tool_descriptions: 16 << 20,
            schema_depth: 128,
            schema_patterns: 4_096,
            progress_reports: 10_000,
            client_requests: 64,
            sample_tokens: 1_000_000,
        }
    }

    /// Ceilings of every limit as high as they go: what ceilings are
    /// checked against.
    pub(crate) fn unbounded() -> Self {
        Self {
            memory: u64::MAX,
            table_elements: u64::MAX,
            instances: u64::MAX,
            deadline: MAX_DEADLINE,
            fuel: Some(u64::MAX),
            stack: u64::MAX,
            max_input: u64::MAX,
            max_output: u64::MAX,
            log_lines: u64::MAX,
            message_queue: u64::MAX,
            message_queue_bytes: u64::MAX,
            handles: u64::MAX,
            host_memory: u64::MAX,
            sockets: u64::MAX,
            requests: u64::MAX,
            keyvalue_bytes: u64::MAX,
            keyvalue_keys: u64::MAX,
            keyvalue_value_size: u64::MAX,
            keyvalue_answer: u64::MAX,
            tool_descriptions: u64::MAX,
            schema_depth: u64::MAX,
            schema_patterns: u64::MAX,
            progress_reports: u64::MAX,
            client_requests: u64::MAX,
            sample_tokens: u64::MAX,
        }
    }

    /// `defaults` with the values `spec` sets, each checked against
    /// `ceilings`.
    ///
    /// # Errors
    ///
    /// A message naming the key, its value and the ceiling it passes, or
    /// the impossible value (a zero deadline, no memory at all).
    pub fn resolve(defaults: &Self, ceilings: &Self, spec: &LimitsSpec) -> Result<Self, String> {
        fn pick<T: PartialOrd + Copy>(
            key: &str,
            wanted: Option<T>,
            default: T,
            ceiling: T,
            show: impl Fn(T) -> String,
        ) -> Result<T, String> {
            let value = wanted.unwrap_or(default);
            if value > ceiling {
                return Err(format!(
                    "limits.{key} = {} is over the host's ceiling of {}",
                    show(value),
                    show(ceiling)
                ));
            }
            Ok(value)
        }
        let count = |n: u64| n.to_string();
        let size = format_size;
        let limits = Self {
            memory: pick("memory", spec.memory, defaults.memory, ceilings.memory, size)?,
            table_elements: pick(
                "table-elements",
                spec.table_elements,
                defaults.table_elements,
                ceilings.table_elements,
                count,
            )?,
            instances: pick(
                "instances",
                spec.instances,
                defaults.instances,
                ceilings.instances,
                count,
            )?,
            deadline: pick("deadline", spec.deadline, defaults.deadline, ceilings.deadline, |d| {
                format!("{d:?}")
            })?,
            fuel: match (spec.fuel.or(defaults.fuel), ceilings.fuel) {
                (Some(fuel), Some(ceiling)) if fuel > ceiling => {
                    return Err(format!(
                        "limits.fuel = {fuel} is over the host's ceiling of {ceiling}"
                    ));
                }
                (Some(_), None) => {
                    return Err("limits.fuel is set, but this host does not meter fuel".to_owned());
                }
                (fuel, _) => fuel,
            },
            stack: pick("stack", spec.stack, defaults.stack, ceilings.stack, size)?,
            max_input: pick(
                "max-input",
                spec.max_input,
                defaults.max_input,
                ceilings.max_input,
                size,
            )?,
            max_output: pick(
                "max-output",
                spec.max_output,
                defaults.max_output,
                ceilings.max_output,
                size,
            )?,
            log_lines: pick(
                "log-lines",
                spec.log_lines,
                defaults.log_lines,
                ceilings.log_lines,
                count,
            )?,
            message_queue: pick(
                "message-queue",
                spec.message_queue,
                defaults.message_queue,
                ceilings.message_queue,
                count,
            )?,
            message_queue_bytes: pick(
                "message-queue-bytes",
                spec.message_queue_bytes,
                defaults.message_queue_bytes,
                ceilings.message_queue_bytes,
                size,
            )?,
            handles: pick("handles", spec.handles, defaults.handles, ceilings.handles, count)?,
            host_memory: pick(
                "host-memory",
                spec.host_memory,
                defaults.host_memory,
                ceilings.host_memory,
                size,
            )?,
            sockets: pick("sockets", spec.sockets, defaults.sockets, ceilings.sockets, count)?,
            requests: pick("requests", spec.requests, defaults.requests, ceilings.requests, count)?,
            keyvalue_bytes: pick(
                "keyvalue-bytes",
                spec.keyvalue_bytes,
                defaults.keyvalue_bytes,
                ceilings.keyvalue_bytes,
                size,
            )?,
            keyvalue_keys: pick(
                "keyvalue-keys",
                spec.keyvalue_keys,
                defaults.keyvalue_keys,
                ceilings.keyvalue_keys,
                count,
            )?,
            keyvalue_value_size: pick(
                "keyvalue-value-size",
                spec.keyvalue_value_size,
                defaults.keyvalue_value_size,
                ceilings.keyvalue_value_size,
                size,
            )?,
            keyvalue_answer: pick(
                "keyvalue-answer",
                spec.keyvalue_answer,
                defaults.keyvalue_answer,
                ceilings.keyvalue_answer,
                size,
            )?,
            tool_descriptions: pick(
                "tool-descriptions",
                spec.tool_descriptions,
                defaults.tool_descriptions,
                ceilings.tool_descriptions,
                size,
            )?,
            schema_depth: pick(
                "schema-depth",
                spec.schema_depth,
                defaults.schema_depth,
                ceilings.schema_depth,
                count,
            )?,
            schema_patterns: pick(
                "schema-patterns",
                spec.schema_patterns,
                defaults.schema_patterns,
                ceilings.schema_patterns,
                count,
            )?,
            progress_reports: pick(
                "progress-reports",
                spec.progress_reports,
                defaults.progress_reports,
                ceilings.progress_reports,
                count,
            )?,
            client_requests: pick(
                "client-requests",
                spec.client_requests,
                defaults.client_requests,
                ceilings.client_requests,
                count,
            )?,
            sample_tokens: pick(
                "sample-tokens",
                spec.sample_tokens,
                defaults.sample_tokens,
                ceilings.sample_tokens,
                count,
            )?,
        };
        limits.check()?;
        Ok(limits)
    }

    /// Refuses values no plugin could run under.
    fn check(&self) -> Result<(), String> {
        if self.memory < 64 << 10 {
            return Err(format!(
                "limits.memory = {} is less than one wasm page (64 KiB)",
                format_size(self.memory)
            ));
        }
        if self.deadline.is_zero() {
            return Err("limits.deadline must be more than 0".to_owned());
        }
        if self.instances == 0 {
            return Err("limits.instances must be at least 1".to_owned());
        }
        if self.table_elements == 0 {
            return Err("limits.table-elements must be at least 1".to_owned());
        }
        if self.fuel == Some(0) {
            return Err("limits.fuel must be at least 1".to_owned());
        }
        if self.deadline > MAX_DEADLINE {
            return Err(format!("limits.deadline = {:?} is more than 7 days", self.deadline));
        }
        if self.host_memory < 64 << 10 {
            return Err(format!(
                "limits.host-memory = {} is less than 64 KiB",
                format_size(self.host_memory)
            ));
        }
        if self.handles < 16 {
            // A component needs a few handles (its streams, its pollables)
            // just to run.
            return Err(format!("limits.handles = {} is less than 16", self.handles));
        }
        if self.stack < 16 << 10 {
            return Err(format!("limits.stack = {} is less than 16 KiB", format_size(self.stack)));
        }
        Ok(())
    }
}

/// The `[limits]` table of a manifest: each key optional.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct LimitsSpec {
    /// `memory = "16 MiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub memory: Option<u64>,
    /// `table-elements = 10000`.
    #[serde(default, deserialize_with = "units::count")]
    pub table_elements: Option<u64>,
    /// `instances = 10`.
    #[serde(default, deserialize_with = "units::count")]
    pub instances: Option<u64>,
    /// `deadline = "500 ms"`.
    #[serde(default, deserialize_with = "units::duration")]
    pub deadline: Option<Duration>,
    /// `fuel = 1000000`.
    #[serde(default, deserialize_with = "units::count")]
    pub fuel: Option<u64>,
    /// `stack = "256 KiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub stack: Option<u64>,
    /// `max-input = "64 KiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub max_input: Option<u64>,
    /// `max-output = "1 MiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub max_output: Option<u64>,
    /// `log-lines = 100`.
    #[serde(default, deserialize_with = "units::count")]
    pub log_lines: Option<u64>,
    /// `message-queue = 10000`.
    #[serde(default, deserialize_with = "units::count")]
    pub message_queue: Option<u64>,
    /// `message-queue-bytes = "64 MiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub message_queue_bytes: Option<u64>,
    /// `handles = 1000`.
    #[serde(default, deserialize_with = "units::count")]
    pub handles: Option<u64>,
    /// `host-memory = "4 MiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub host_memory: Option<u64>,
    /// `sockets = 4`.
    #[serde(default, deserialize_with = "units::count")]
    pub sockets: Option<u64>,
    /// `requests = 4`.
    #[serde(default, deserialize_with = "units::count")]
    pub requests: Option<u64>,
    /// `keyvalue-bytes = "1 MiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub keyvalue_bytes: Option<u64>,
    /// `keyvalue-keys = 1000`.
    #[serde(default, deserialize_with = "units::count")]
    pub keyvalue_keys: Option<u64>,
    /// `keyvalue-value-size = "64 KiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub keyvalue_value_size: Option<u64>,
    /// `keyvalue-answer = "1 MiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub keyvalue_answer: Option<u64>,
    /// `tool-descriptions = "4 MiB"`.
    #[serde(default, deserialize_with = "units::size")]
    pub tool_descriptions: Option<u64>,
    /// `schema-depth = 64`.
    #[serde(default, deserialize_with = "units::count")]
    pub schema_depth: Option<u64>,
    /// `schema-patterns = 1000`.
    #[serde(default, deserialize_with = "units::count")]
    pub schema_patterns: Option<u64>,
    /// `progress-reports = 1000`.
    #[serde(default, deserialize_with = "units::count")]
    pub progress_reports: Option<u64>,
    /// `client-requests = 16`.
    #[serde(default, deserialize_with = "units::count")]
    pub client_requests: Option<u64>,
    /// `sample-tokens = 16384`.
    #[serde(default, deserialize_with = "units::count")]
    pub sample_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml: &str) -> LimitsSpec {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn a_spec_chooses_values_up_to_the_ceilings() {
        let defaults = Limits::default();
        let ceilings = Limits::default_ceilings();
        let limits = Limits::resolve(
            &defaults,
            &ceilings,
            &spec("memory = \"16 MiB\"\ndeadline = \"250 ms\"\n"),
        )
        .unwrap();
        assert_eq!(limits.memory, 16 << 20);
        assert_eq!(limits.deadline, Duration::from_millis(250));
        assert_eq!(limits.log_lines, defaults.log_lines);

        let raised =
            Limits::resolve(&defaults, &ceilings, &spec("memory = \"256 MiB\"\n")).unwrap();
        assert_eq!(raised.memory, 256 << 20);
        let err = Limits::resolve(&defaults, &ceilings, &spec("memory = \"2 GiB\"\n")).unwrap_err();
        assert_eq!(err, "limits.memory = 2 GiB is over the host's ceiling of 1 GiB");
    }

    #[test]
    fn impossible_values_are_refused() {
        let (d, c) = (Limits::default(), Limits::default_ceilings());
        assert!(Limits::resolve(&d, &c, &spec("deadline = \"0 s\"\n")).is_err());
        assert!(Limits::resolve(&d, &c, &spec("memory = 1\n")).is_err());
        assert!(Limits::resolve(&d, &c, &spec("instances = 0\n")).is_err());
        let err = toml::from_str::<LimitsSpec>("memory = \"-1\"\n").unwrap_err();
        assert!(err.message().contains("negative"), "{err}");
        let mut no_fuel = Limits::default_ceilings();
        no_fuel.fuel = None;
        let err = Limits::resolve(&d, &no_fuel, &spec("fuel = 10\n")).unwrap_err();
        assert!(err.contains("does not meter fuel"), "{err}");
    }
}
