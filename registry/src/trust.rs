//! The trust policy: which keys may sign the plugins of which
//! repositories, from `witplug.toml`'s `[trust]` table, keyed by a
//! registry or repository prefix:
//!
//! ```toml
//! [trust]
//! "registry.example/team" = ["ed25519:…"]
//! "ghcr.io/acme/plugins" = ["keys/cosign.pub"]   # a PEM file, beside the configuration
//! ```
//!
//! With a policy, a plugin is trusted only when a key named for the
//! longest prefix of its repository signed it; a repository no prefix
//! covers has no trusted key, and is refused. Without one, nothing is
//! checked. `--allow-unsigned` lifts the check for one command.

use std::path::Path;

use crate::sign::PublicKey;
use crate::{Error, Result};

/// The keys trusted per repository prefix.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    rules: Vec<(String, Vec<PublicKey>)>,
}

impl Policy {
    /// The policy of `[trust]` (prefix to keys, each `ed25519:…` or the
    /// path of a PEM public key relative to `base`).
    pub fn from_table(
        table: &std::collections::BTreeMap<String, Vec<String>>,
        base: &Path,
        config: &Path,
    ) -> Result<Self> {
        let mut rules = Vec::new();
        for (prefix, keys) in table {
            let mut parsed = Vec::new();
            for key in keys {
                let text = if key.starts_with("ed25519:") || key.starts_with("-----BEGIN") {
                    key.clone()
                } else {
                    let path = base.join(key);
                    witplug_host::config::read_text_file(&path, 16 << 10)
                        .map_err(|err| Error::file(&path, err))?
                        .ok_or_else(|| {
                            Error::file(&path, format!("no such key file (trust.\"{prefix}\")"))
                        })?
                };
                let key = PublicKey::parse(&text).map_err(|reason| {
                    Error::file(config, format!("trust.\"{prefix}\": {reason}"))
                })?;
                parsed.push(key);
            }
            if parsed.is_empty() {
                return Err(Error::file(config, format!("trust.\"{prefix}\" names no key")));
            }
            rules.push((prefix.trim_end_matches('/').to_owned(), parsed));
        }
        Ok(Self { rules })
    }

    /// A policy of one prefix.
    pub fn with(mut self, prefix: &str, keys: Vec<PublicKey>) -> Self {
        self.rules.push((prefix.to_owned(), keys));
        self
    }

    /// Whether there is a policy at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The keys trusted for `repository` (`registry/path`), from the
    /// longest prefix that covers it, or `None` when none does.
    pub fn keys_for(&self, repository: &str) -> Option<&[PublicKey]> {
        self.rules
            .iter()
            .filter(|(prefix, _)| {
                repository == prefix
                    || repository
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, keys)| keys.as_slice())
    }
}
