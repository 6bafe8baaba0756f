//! `witplug.toml`: a host's settings in one file, so that an operator
//! writes them once rather than as flags at every start.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::limits::{Limits, LimitsSpec};
use crate::config::units;
use crate::{Error, Result};

/// The largest host configuration file read.
const MAX_CONFIG: u64 = 1 << 20;

/// A host's configuration file, `witplug.toml`. Every key is optional;
/// relative paths start at the file's folder.
///
/// ```toml
/// plugins = "plugins"             # the plugins folder
/// data = "/var/lib/witplug"       # key-value buckets (keyvalue.redb)
/// cache = "/var/cache/witplug"    # compiled plugins
/// max-file-size = "64 MiB"
///
/// [limits]                        # every plugin's defaults
/// deadline = "500 ms"
/// keyvalue-bytes = "16 MiB"
///
/// [ceilings]                      # the most a manifest may ask for
/// memory = "256 MiB"
///
/// [shared-buckets]                # buckets shared between plugins
/// orders = ["order-desk", "ledger"]
///
/// [nats]                          # the CLI's --nats, --nats-prefix, --kv
/// url = "nats://127.0.0.1:4222"
/// kv = "nats"
///
/// [metrics]                       # witplug run --metrics
/// addr = "127.0.0.1:9464"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct HostConfig {
    /// The plugins folder.
    pub plugins: Option<PathBuf>,
    /// The data folder (key-value buckets).
    pub data: Option<PathBuf>,
    /// The cache folder of compiled plugins.
    pub cache: Option<PathBuf>,
    /// The largest plugin file read.
    #[serde(default, deserialize_with = "units::size")]
    pub max_file_size: Option<u64>,
    /// Every plugin's default limits.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// How far a manifest may raise each limit.
    #[serde(default)]
    pub ceilings: LimitsSpec,
    /// Buckets shared between named plugins.
    #[serde(default)]
    pub shared_buckets: BTreeMap<String, Vec<String>>,
    /// NATS, for the CLI.
    #[serde(default)]
    pub nats: NatsConfig,
    /// The Prometheus endpoint, for the CLI.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// The keys trusted to sign plugins, per registry or repository
    /// prefix: `"registry.example/team" = ["ed25519:…", "cosign.pub"]`
    /// (`witplug-registry`'s trust policy; docs/distribution.md).
    #[serde(default)]
    pub trust: BTreeMap<String, Vec<String>>,
    /// Registries: the content store, plain-HTTP registries, pinning.
    #[serde(default)]
    pub registry: RegistryConfig,
}

/// `[registry]`: how plugins are fetched from registries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct RegistryConfig {
    /// Where fetched plugins are kept by digest.
    pub store: Option<PathBuf>,
    /// Registries spoken to over plain HTTP (loopback ones always are).
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Refuse a reference without a digest, and `latest`.
    #[serde(default)]
    pub pinned: bool,
    /// Plugins to install from registries, by name:
    /// `counter = "registry.example/plugins/counter:1.0.0"`. `witplug
    /// install` pins each in `witplug.lock` (its grants approved with
    /// `--accept-grants`), and a host starts from the lock.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

/// `[nats]` of `witplug.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct NatsConfig {
    /// The server's URL.
    pub url: Option<String>,
    /// The subject prefix.
    pub prefix: Option<String>,
    /// Where buckets live: `redb` or `nats`.
    pub kv: Option<String>,
}

/// `[metrics]` of `witplug.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Where to serve `/metrics`.
    pub addr: Option<SocketAddr>,
}

impl HostConfig {
    /// Reads `path`; `None` when there is no such file.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be read, [`Error::Manifest`] naming the
    /// file, the line and the key when it is not a valid configuration.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        let Some(bytes) = crate::config::files::read_if_present(path, MAX_CONFIG)? else {
            return Ok(None);
        };
        let invalid = |reason| Error::Manifest { path: path.to_owned(), reason };
        let text = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8 text".to_owned()))?;
        let mut config = Self::parse(&text).map_err(invalid)?;
        config.anchor(path.parent().unwrap_or(Path::new(".")));
        Ok(Some(config))
    }

    /// Parses configuration text; the error is one line naming the line
    /// and the key.
    ///
    /// # Errors
    ///
    /// A message saying what is wrong and where.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|err| crate::config::manifest::toml_error(text, &err))
    }

    /// Its default limits and its ceilings: `[limits]` over
    /// [`Limits::default`], `[ceilings]` over [`Limits::default_ceilings`].
    ///
    /// # Errors
    ///
    /// A limit over its ceiling, or an impossible value, named.
    pub fn limits(&self) -> Result<(Limits, Limits)> {
        let ceilings =
            Limits::resolve(&Limits::default_ceilings(), &Limits::unbounded(), &self.ceilings)
                .map_err(|reason| Error::Setup(format!("witplug.toml: [ceilings] {reason}")))?;
        let limits = Limits::resolve(&Limits::default(), &ceilings, &self.limits)
            .map_err(|reason| Error::Setup(format!("witplug.toml: [limits] {reason}")))?;
        Ok((limits, ceilings))
    }

    /// Makes its relative paths relative to `base`.
    fn anchor(&mut self, base: &Path) {
        for path in [&mut self.plugins, &mut self.data, &mut self.cache].into_iter().flatten() {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_reads_its_keys_and_names_a_wrong_one() {
        let text = "plugins = \"p\"\nmax-file-size = \"1 MiB\"\n[limits]\ndeadline = \"250 ms\"\n\
                    [ceilings]\ndeadline = \"2 s\"\n[shared-buckets]\nteam = [\"a\", \"b\"]\n\
                    [nats]\nurl = \"nats://x:4222\"\n[metrics]\naddr = \"127.0.0.1:9464\"\n";
        let mut config = HostConfig::parse(text).unwrap();
        config.anchor(Path::new("/etc/witplug"));
        assert_eq!(config.plugins.as_deref(), Some(Path::new("/etc/witplug/p")));
        assert_eq!(config.max_file_size, Some(1 << 20));
        let (limits, ceilings) = config.limits().unwrap();
        assert_eq!(limits.deadline, std::time::Duration::from_millis(250));
        assert_eq!(ceilings.deadline, std::time::Duration::from_secs(2));
        assert_eq!(config.shared_buckets["team"], ["a", "b"]);
        assert_eq!(config.metrics.addr, Some("127.0.0.1:9464".parse().unwrap()));

        let err = HostConfig::parse("plugin = \"p\"\n").unwrap_err();
        assert!(err.starts_with("line 1: unknown field `plugin`"), "{err}");
        let over = HostConfig::parse("[limits]\ndeadline = \"90 s\"\n").unwrap();
        let err = over.limits().unwrap_err().to_string();
        assert!(err.contains("[limits] limits.deadline = 90s is over the host's ceiling"), "{err}");
    }
}
