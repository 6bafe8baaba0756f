//! Plugin manifests: the optional `<name>.toml` beside `<name>.wasm`.
//!
//! ```toml
//! [config]
//! greeting = "Salut"
//! retries = 3
//! ```
//!
//! `[config]` holds the values `get-config` returns; numbers and booleans
//! are given to the plugin as their text. Unknown keys are errors, so a typo
//! never passes silently.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// A parsed plugin manifest.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Manifest {
    /// The plugin's configuration, as `get-config` returns it.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigValue>,
}

/// A configuration value; plugins read it as text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
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
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text)
                .map(Some)
                .map_err(|reason| Error::Manifest { path: path.to_owned(), reason }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path: path.to_owned(), source }),
        }
    }

    /// Parses manifest text; the error is one line naming the line and key.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong and where.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|err| {
            let message = err.message().split_whitespace().collect::<Vec<_>>().join(" ");
            match err.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].lines().count().max(1);
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })
    }

    /// The configuration as the strings `get-config` returns.
    pub fn config_strings(&self) -> BTreeMap<String, String> {
        self.config.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
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
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_missing_file_is_no_manifest() {
        assert_eq!(Manifest::load(Path::new("/nonexistent/x.toml")).unwrap(), None);
    }
}
