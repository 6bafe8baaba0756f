//! What the commands that reach a registry or a lock share: the content
//! store, the trust policy of `witplug.toml`, the lock beside it, and the
//! registries spoken to over plain HTTP.

use std::path::PathBuf;

use witplug_registry::{Bounds, Client, ContentStore, LOCK_FILE, Policy, Registry};

/// `--store`, `--allow-unsigned`, `--insecure-registry`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct RegistryArgs {
    /// Where fetched plugins are kept by digest (default: `store/` in the
    /// data folder: `$WITPLUG_DATA`, the configuration's `data`, else
    /// `$XDG_DATA_HOME/witplug` or `~/.local/share/witplug`).
    #[arg(long, value_name = "DIR", env = "WITPLUG_STORE")]
    pub(crate) store: Option<PathBuf>,
    /// Take a plugin no key of the trust policy signed.
    #[arg(long)]
    pub(crate) allow_unsigned: bool,
    /// Speak plain HTTP to this registry (loopback ones always are).
    /// Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub(crate) insecure: Vec<String>,
}

impl RegistryArgs {
    /// The registry client, its content store and the trust policy.
    pub(crate) fn registry(&self) -> anyhow::Result<Registry> {
        let config = crate::host_args::config();
        let mut insecure = self.insecure.clone();
        insecure.extend(config.registry.insecure.iter().cloned());
        let client = Client::new(Bounds::default(), insecure)?;
        let store = self
            .store
            .clone()
            .or_else(|| config.registry.store.clone())
            .or_else(|| {
                // The data folder the host keeps its state in: `$WITPLUG_DATA`,
                // the configuration's, else the user's.
                std::env::var_os("WITPLUG_DATA")
                    .map(PathBuf::from)
                    .or_else(|| config.data.clone())
                    .or_else(crate::host_args::default_data_dir)
                    .map(|dir| dir.join("store"))
            })
            .ok_or_else(|| anyhow::anyhow!("no content store: give --store DIR or set HOME"))?;
        let config_path = crate::host_args::config_path();
        let base =
            config_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(".".as_ref());
        let policy = Policy::from_table(&config.trust, base, &config_path)?;
        Ok(Registry::new(client, ContentStore::new(store), policy))
    }
}

/// `--plugins DIR`: the folder plugins are written into.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FolderArg {
    /// The plugins folder.
    #[arg(
        long = "plugins",
        value_name = "DIR",
        default_value = "plugins",
        env = "WITPLUG_PLUGINS"
    )]
    pub(crate) dir: PathBuf,
}

/// The lock beside the configuration file (`witplug.lock` in the current
/// folder without one).
pub(crate) fn lock_path() -> PathBuf {
    let config = crate::host_args::config_path();
    let dir = config.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(".".as_ref());
    dir.join(LOCK_FILE)
}
