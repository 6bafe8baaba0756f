//! Plugin manifests: the optional `<name>.toml` beside `<name>.wasm`.
//!
//! ```toml
//! sha256 = "9f86d08...b0f00a08"  # optional: refuse any other file
//!
//! [config]                       # what `get-config` returns
//! greeting = "Salut"
//! retries = 3
//!
//! [grants]                       # what it may reach; see `Grants`
//! tools = ["upper"]
//!
//! [limits]                       # what it may take; see `Limits`
//! memory = "16 MiB"
//! deadline = "500 ms"
//! ```
//!
//! Numbers and booleans under `[config]` are given to the plugin as their
//! text. Unknown keys, wrong types and impossible values are errors naming
//! the line and the key, so a typo never passes silently.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::grants::Grants;
use crate::config::limits::LimitsSpec;
use crate::config::units;
use crate::{Error, Result};

/// The largest manifest read: a manifest is a few lines of TOML.
const MAX_MANIFEST: u64 = 1 << 20;

/// A parsed plugin manifest.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Manifest {
    /// The SHA-256 of the component file, in hex; a file that does not
    /// match is refused.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The plugin's configuration, as `get-config` returns it.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigValue>,
    /// What the plugin may reach.
    #[serde(default)]
    pub grants: Grants,
    /// What the plugin may take, within the host's ceilings.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// How many instances serve it, and how callers wait for one.
    #[serde(default)]
    pub pool: PoolSpec,
    /// What it offers other plugins.
    #[serde(default)]
    pub provides: Provides,
}

/// How many instances a plugin runs at once, and how callers wait for one:
/// what a manifest's `[pool]` table resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Instances that serve calls in parallel (default 1: calls take turns
    /// and the plugin's state is shared by all of them).
    pub size: usize,
    /// Callers that may wait for an instance (default 64); past that a call
    /// is refused at once with [`Error::Busy`](crate::Error::Busy).
    pub queue: usize,
    /// How long a caller waits for an instance (default 5 s) before
    /// [`Error::Busy`](crate::Error::Busy).
    pub wait: Duration,
    /// Whether every call gets a fresh instance, dropped afterwards (default
    /// false): no state survives a call, at the cost of an instantiation.
    pub fresh: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self { size: 1, queue: 64, wait: Duration::from_secs(5), fresh: false }
    }
}

/// The `[pool]` table of a manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PoolSpec {
    /// `size = 4`: instances serving calls in parallel (default 1).
    #[serde(default, deserialize_with = "units::count")]
    pub size: Option<u64>,
    /// `queue = 64`: callers that may wait for an instance.
    #[serde(default, deserialize_with = "units::count")]
    pub queue: Option<u64>,
    /// `wait = "5 s"`: how long a caller waits before `Busy`.
    #[serde(default, deserialize_with = "units::duration")]
    pub wait: Option<std::time::Duration>,
    /// `fresh = true`: every call gets a new instance, dropped after it.
    #[serde(default)]
    pub fresh: bool,
}

impl PoolSpec {
    /// The pool these keys describe, on top of the defaults.
    ///
    /// # Errors
    ///
    /// A message naming the key when a value is impossible.
    pub fn resolve(&self) -> Result<PoolConfig, String> {
        let defaults = PoolConfig::default();
        let mut pool = defaults;
        if let Some(size) = self.size {
            if !(1..=1024).contains(&size) {
                return Err(format!("pool.size = {size} must be from 1 to 1024"));
            }
            pool.size = size as usize;
        }
        if let Some(queue) = self.queue {
            pool.queue =
                usize::try_from(queue).map_err(|_| format!("pool.queue = {queue} is too large"))?;
        }
        if let Some(wait) = self.wait {
            pool.wait = wait;
        }
        pool.fresh = self.fresh;
        Ok(pool)
    }
}

/// The `[provides]` table of a manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Provides {
    /// `tools = ["word-count"]`: tools other plugins may call (when granted),
    /// answered by this plugin's `run-tool` export.
    #[serde(default)]
    pub tools: Vec<String>,
}

/// A configuration value; plugins read it as text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, expecting = "a string, a number or a boolean")]
pub enum ConfigValue {
    /// A string, given as it is.
    String(String),
    /// An integer, given as its decimal text.
    Integer(i64),
    /// A float, given as its text.
    Float(f64),
    /// A boolean, given as `true` or `false`.
    Boolean(bool),
}

impl std::fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Integer(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Boolean(b) => write!(f, "{b}"),
        }
    }
}

impl Manifest {
    /// Reads the manifest at `path`; `None` when there is no such file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read, [`Error::Manifest`] when it is
    /// not a valid manifest.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let Some(bytes) = crate::config::files::read_if_present(path, MAX_MANIFEST)? else {
            return Ok(None);
        };
        let manifest = |reason| Error::Manifest { path: path.to_owned(), reason };
        let text = String::from_utf8(bytes).map_err(|_| manifest("not UTF-8 text".to_owned()))?;
        Self::parse(&text).map(Some).map_err(manifest)
    }

    /// Parses manifest text; the error is one line naming the line and key.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong and where.
    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Self = toml::from_str(text).map_err(|err| toml_error(text, &err))?;
        if let Some(hash) = &manifest.sha256
            && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(format!("`sha256`: `{hash}` is not 64 hex digits"));
        }
        Ok(manifest)
    }

    /// The configuration as the strings `get-config` returns.
    pub fn config_strings(&self) -> BTreeMap<String, String> {
        self.config.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
    }
}

/// A TOML error as one line naming the line and, where it points into a
/// `key = value` line, the key.
pub(crate) fn toml_error(text: &str, err: &toml::de::Error) -> String {
    let message = crate::error::collapse_whitespace(err.message());
    let Some(span) = err.span() else { return message };
    let start = span.start.min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let line_text = text[..start].rsplit('\n').next().unwrap_or("");
    match line_text.split_once('=') {
        Some((key, _)) if !message.starts_with("unknown field") => {
            format!("line {line}, `{}`: {message}", key.trim())
        }
        _ => format!("line {line}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_config_values_as_text() {
        let manifest =
            Manifest::parse("[config]\ngreeting = \"Salut\"\nn = 3\nok = true\n").unwrap();
        let config = manifest.config_strings();
        assert_eq!(config["greeting"], "Salut");
        assert_eq!(config["n"], "3");
        assert_eq!(config["ok"], "true");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_with_a_line() {
        let err = Manifest::parse("[confg]\nx = 1\n").unwrap_err();
        assert!(err.starts_with("line 1: unknown field `confg`"), "{err}");
        let err = Manifest::parse("[config]\nx = [1, 2]\n").unwrap_err();
        assert_eq!(err, "line 2, `x`: a string, a number or a boolean");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn bad_limits_name_the_line_and_the_key() {
        let err = Manifest::parse("[limits]\nmemory = \"-1\"\n").unwrap_err();
        assert_eq!(err, "line 2, `memory`: `-1` is negative; a size is at least 0");
        let err = Manifest::parse("[limits]\ndeadline = 5\n").unwrap_err();
        assert_eq!(err, "line 2, `deadline`: `5` needs a unit: write \"5 ms\" or \"5 s\"");
        let err = Manifest::parse("[grants]\ntools = \"upper\"\n").unwrap_err();
        assert!(err.starts_with("line 2, `tools`: invalid type"), "{err}");
        let err = Manifest::parse("[grants]\nnetwork = true\n").unwrap_err();
        assert!(err.starts_with("line 2: unknown field `network`"), "{err}");
        let err = Manifest::parse("sha256 = \"abc\"\n").unwrap_err();
        assert_eq!(err, "`sha256`: `abc` is not 64 hex digits");
    }

    #[test]
    fn a_missing_file_is_no_manifest() {
        assert_eq!(Manifest::load(Path::new("/nonexistent/x.toml")).unwrap(), None);
    }
}
