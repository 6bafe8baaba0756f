//! The arguments every command that runs a host shares (`--plugins`, the
//! limits, the cache and data folders, shared buckets), and the host's
//! configuration file (`witplug.toml`) they fall back on.

use std::path::PathBuf;
use std::time::Duration;

use witplug_host::config::units;
use witplug_host::{Host, HostBuilder};

/// The plugins folder, and the limits the host operator sets.
#[derive(Debug, clap::Args)]
pub(crate) struct HostArgs {
    /// The plugins folder.
    #[arg(
        id = "dir",
        long = "plugins",
        value_name = "DIR",
        default_value = "plugins",
        env = "WITPLUG_PLUGINS"
    )]
    pub(crate) dir_arg: PathBuf,
    /// Wall-clock time per call, e.g. `500ms` or `2s` (default 1s).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    pub(crate) deadline: Option<Duration>,
    /// Linear memory per plugin, e.g. `16MiB` (default 64 MiB).
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub(crate) memory: Option<u64>,
    /// Fuel per call; turns on fuel metering (default: off).
    #[arg(long, value_name = "N")]
    pub(crate) fuel: Option<u64>,
    /// Where compiled plugins are cached (default:
    /// `$XDG_CACHE_HOME/witplug` or `~/.cache/witplug`).
    #[arg(long, value_name = "DIR", env = "WITPLUG_CACHE")]
    pub(crate) cache: Option<PathBuf>,
    /// Compile every plugin at each start; use no cache (wins over --cache).
    #[arg(long)]
    pub(crate) no_cache: bool,
    /// The largest plugin file to read, e.g. `64MiB` (default 256 MiB);
    /// larger files are refused before they are read.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub(crate) max_file_size: Option<u64>,
    /// Where the host keeps plugins' state: their key-value buckets, in
    /// `DIR/keyvalue.redb` (default: `$XDG_DATA_HOME/witplug` or
    /// `~/.local/share/witplug`).
    #[arg(long = "data", value_name = "DIR", env = "WITPLUG_DATA")]
    pub(crate) data: Option<PathBuf>,
    /// Share a key-value bucket between plugins, e.g. `orders=order-desk,ledger`
    /// (each still needs it in its `[grants] keyvalue`). Repeatable.
    #[arg(long = "share-bucket", value_name = "NAME=PLUGINS", value_parser = parse_share)]
    pub(crate) share_bucket: Vec<(String, Vec<String>)>,
}

/// Runs each plugin `witplug.lock` names only as the bytes it pins and
/// within the grants it approved; under a trust policy, only when its
/// signature verifies from the content store (else it is refused at load,
/// naming the reference and the reason, and the others load).
fn approve_locked(builder: &mut HostBuilder) -> anyhow::Result<()> {
    let path = crate::registry_args::lock_path();
    let trusting = !config().trust.is_empty();
    if !path.exists() && !trusting {
        return Ok(());
    }
    let lock = witplug_registry::Lock::load(&path)?;
    if !lock.plugins.is_empty() || trusting {
        lock.approve(&crate::registry_args::RegistryArgs::default().registry()?, builder);
    }
    Ok(())
}

/// `NAME=PLUGIN,PLUGIN`.
fn parse_share(text: &str) -> Result<(String, Vec<String>), String> {
    let (name, plugins) =
        text.split_once('=').ok_or_else(|| format!("`{text}` is not NAME=PLUGIN,PLUGIN"))?;
    if !witplug_host::kv::is_bucket_name(name) {
        return Err(format!("`{name}` is not a bucket name (1 to 64 of a-z A-Z 0-9 _ -)"));
    }
    let plugins: Vec<String> =
        plugins.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if plugins.is_empty() {
        return Err(format!("`{text}` names no plugin"));
    }
    Ok((name.to_owned(), plugins))
}

impl HostArgs {
    /// A host whose default limits are the ones given, raising the
    /// ceilings to them where they pass.
    pub(crate) fn host(&self) -> anyhow::Result<Host> {
        Ok(self.builder()?.build()?)
    }

    /// The plugins folder: `--plugins`, else `$WITPLUG_PLUGINS`, else the
    /// configuration file's, else `plugins`.
    pub(crate) fn dir(&self) -> PathBuf {
        match &config().plugins {
            Some(dir) if defaulted("dir") => dir.clone(),
            _ => self.dir_arg.clone(),
        }
    }

    /// The builder of [`HostArgs::host`]: flags first, then the
    /// environment, then the configuration file, then the defaults.
    pub(crate) fn builder(&self) -> anyhow::Result<HostBuilder> {
        let config = config();
        let (mut limits, mut ceilings) = config.limits()?;
        if let Some(deadline) = self.deadline {
            limits.deadline = deadline;
            ceilings.deadline = ceilings.deadline.max(deadline);
        }
        if let Some(memory) = self.memory {
            limits.memory = memory;
            ceilings.memory = ceilings.memory.max(memory);
        }
        if self.fuel.is_some() {
            limits.fuel = self.fuel;
        }
        let mut builder = Host::builder();
        builder.limits(limits).ceilings(ceilings);
        if let Some(dir) = self.cache_dir() {
            builder.cache_dir(dir);
        }
        if let Some(bytes) = self.max_file_size.or(config.max_file_size) {
            builder.max_file_size(bytes);
        }
        if let Some(dir) = self.data_dir() {
            builder.data_dir(dir);
        }
        for (name, plugins) in self.shared_buckets() {
            builder.share_bucket(name, plugins);
        }
        approve_locked(&mut builder)?;
        Ok(builder)
    }

    /// The buckets shared: the configuration file's, and `--share-bucket`'s.
    pub(crate) fn shared_buckets(&self) -> Vec<(String, Vec<String>)> {
        let from_file = config().shared_buckets.iter().map(|(k, v)| (k.clone(), v.clone()));
        from_file.chain(self.share_bucket.iter().cloned()).collect()
    }

    /// The data folder: the one given, the configuration file's, or the
    /// user's data folder.
    pub(crate) fn data_dir(&self) -> Option<PathBuf> {
        self.data
            .clone()
            .or_else(|| config().data.clone())
            .or_else(|| user_dir("XDG_DATA_HOME", ".local/share"))
    }

    /// The cache folder: the one given, the configuration file's, or the
    /// user's cache folder.
    pub(crate) fn cache_dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache.clone().or_else(|| config().cache.clone()).or_else(default_cache_dir)
    }
}

/// The configuration file's path: the one given, else `witplug.toml`.
static CONFIG_PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// The configuration file's path (`witplug.toml` in the current folder
/// when none was given), which the lock and key paths are relative to.
pub(crate) fn config_path() -> PathBuf {
    CONFIG_PATH.get().cloned().unwrap_or_else(|| PathBuf::from("witplug.toml"))
}

/// The host's configuration file, read once before the command runs.
static CONFIG: std::sync::OnceLock<witplug_host::HostConfig> = std::sync::OnceLock::new();

/// The command's arguments (by id) that took their default value, which
/// the configuration file may then set.
static DEFAULTED: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();

/// The configuration file's settings (none without a file).
pub(crate) fn config() -> &'static witplug_host::HostConfig {
    CONFIG.get_or_init(witplug_host::HostConfig::default)
}

/// Whether the argument `id` took its default value.
pub(crate) fn defaulted(id: &str) -> bool {
    DEFAULTED.get().is_some_and(|ids| ids.contains(&id))
}

/// Reads `--config FILE`, or `witplug.toml` in the current folder when
/// there is one, and notes which of the command's arguments it may set.
pub(crate) fn read_config(
    path: Option<&std::path::Path>,
    matches: &clap::ArgMatches,
) -> anyhow::Result<()> {
    let config = match path {
        Some(path) => witplug_host::HostConfig::load(path)?
            .ok_or_else(|| anyhow::anyhow!("{}: no such configuration file", path.display()))?,
        None => witplug_host::HostConfig::load("witplug.toml".as_ref())?.unwrap_or_default(),
    };
    let _ = CONFIG.set(config);
    let _ = CONFIG_PATH.set(path.map_or_else(|| PathBuf::from("witplug.toml"), ToOwned::to_owned));
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    let defaulted = ["dir", "nats_prefix", "kv"]
        .into_iter()
        .filter(|id| {
            leaf.ids().any(|present| present.as_str() == *id)
                && leaf.value_source(id) == Some(clap::parser::ValueSource::DefaultValue)
        })
        .collect();
    let _ = DEFAULTED.set(defaulted);
    Ok(())
}

/// `$XDG_DATA_HOME/witplug` or `~/.local/share/witplug`.
pub(crate) fn default_data_dir() -> Option<PathBuf> {
    user_dir("XDG_DATA_HOME", ".local/share")
}

/// `$XDG_CACHE_HOME/witplug` or `~/.cache/witplug`.
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    user_dir("XDG_CACHE_HOME", ".cache")
}

/// `$XDG_VAR/witplug`, or `~/UNDER_HOME/witplug` when it is not set.
fn user_dir(xdg_var: &str, under_home: &str) -> Option<PathBuf> {
    let base = std::env::var_os(xdg_var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(under_home)))?;
    Some(base.join("witplug"))
}
