//! `--nats URL` and its options: the bus a command's host shares with
//! other hosts.

use std::sync::Arc;

use witplug_host::{
    HostBuilder, kv::KeyValue, nats::JetStreamKeyValue, nats::NatsBus, nats::NatsOptions,
};

/// Where the NATS bus is, when plugins talk to other hosts.
#[derive(Debug, clap::Args)]
pub struct NatsArgs {
    /// Share the message bus and plugin tools with other hosts through the
    /// NATS server at this URL (`nats://host:4222`, `tls://...` for TLS,
    /// several separated by commas)
    #[arg(long = "nats", value_name = "URL", env = "WITPLUG_NATS")]
    url: Option<String>,
    /// The subject prefix of topics on NATS
    #[arg(long, value_name = "PREFIX", default_value = "witplug.", requires = "url")]
    nats_prefix: String,
    /// Authenticate with the token in this file
    #[arg(long, value_name = "FILE", requires = "url")]
    nats_token_file: Option<std::path::PathBuf>,
    /// Authenticate with this NATS credentials file
    #[arg(long, value_name = "FILE", requires = "url")]
    nats_creds: Option<std::path::PathBuf>,
    /// Keep trying to reach the server in the background when it is down
    /// at start, instead of running without it
    #[arg(long, requires = "url")]
    nats_retry: bool,
    /// Where plugins' key-value buckets live: `redb` (the data folder's
    /// database) or `nats` (JetStream Key-Value, shared with every host on
    /// the server; needs `--nats` and a server started with `-js`)
    #[arg(long = "kv", value_name = "STORE", default_value = "redb")]
    kv: KvStore,
}

/// Where buckets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KvStore {
    /// The embedded redb database in the data folder.
    Redb,
    /// NATS JetStream Key-Value.
    Nats,
}

impl NatsArgs {
    /// `--nats`, else `$WITPLUG_NATS`, else the configuration file's.
    fn url(&self) -> Option<String> {
        self.url.clone().or_else(|| crate::host_args::config().nats.url.clone())
    }

    /// `--nats-prefix`, else the configuration file's, else `witplug.`.
    fn prefix(&self) -> String {
        match &crate::host_args::config().nats.prefix {
            Some(prefix) if crate::host_args::defaulted("nats_prefix") => prefix.clone(),
            _ => self.nats_prefix.clone(),
        }
    }

    /// `--kv`, else the configuration file's, else `redb`.
    pub fn kv(&self) -> anyhow::Result<KvStore> {
        match crate::host_args::config().nats.kv.as_deref() {
            Some(kv) if crate::host_args::defaulted("kv") => {
                <KvStore as clap::ValueEnum>::from_str(kv, true).map_err(|_| {
                    anyhow::anyhow!("witplug.toml: [nats] kv = `{kv}`: `redb` or `nats`")
                })
            }
            _ => Ok(self.kv),
        }
    }

    /// Connects (when a URL was given) and gives `builder` the bus and,
    /// with `--kv nats`, JetStream buckets.
    ///
    /// # Errors
    ///
    /// `--kv nats` without a reachable `--nats` server.
    pub async fn apply(&self, builder: &mut HostBuilder) -> anyhow::Result<Option<Arc<NatsBus>>> {
        let bus = self.connect().await;
        if let Some(bus) = &bus {
            builder.bus(bus.clone());
        }
        if self.kv()? == KvStore::Nats {
            builder.key_value(self.jetstream(bus.as_ref())?);
        }
        Ok(bus)
    }

    /// The JetStream buckets on `bus`'s server, named after `--nats-prefix`
    /// (`witplug.` gives `witplug_<plugin>__<bucket>`).
    ///
    /// # Errors
    ///
    /// No bus: no `--nats`, or a server that could not be reached.
    pub fn jetstream(&self, bus: Option<&Arc<NatsBus>>) -> anyhow::Result<Arc<dyn KeyValue>> {
        let Some(bus) = bus else {
            match &self.url() {
                Some(url) => anyhow::bail!("--kv nats: the NATS server at {url} is not reachable"),
                None => {
                    anyhow::bail!("--kv nats keeps buckets in NATS JetStream: give --nats URL too")
                }
            }
        };
        let prefix: String = self
            .prefix()
            .trim_end_matches('.')
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
            .collect();
        let prefix = if prefix.is_empty() { "witplug".to_owned() } else { prefix };
        Ok(Arc::new(JetStreamKeyValue::with_prefix(bus.client().clone(), prefix)))
    }

    /// The bus, when a URL was given and the server answered (or
    /// `--nats-retry`); a server that cannot be reached is one line on
    /// stderr, and the plugins run on the in-process bus.
    pub async fn connect(&self) -> Option<Arc<NatsBus>> {
        let url = self.url()?;
        let mut options =
            NatsOptions::new(&url).prefix(self.prefix()).retry_on_start(self.nats_retry);
        if let Some(file) = &self.nats_token_file {
            options = options.token_file(file);
        }
        if let Some(file) = &self.nats_creds {
            options = options.credentials_file(file);
        }
        match NatsBus::connect(options).await {
            Ok(bus) if bus.is_connected() => {
                eprintln!("connected to NATS at {url}");
                Some(bus)
            }
            Ok(bus) => {
                eprintln!("NATS at {url} is not reachable yet; trying in the background");
                Some(bus)
            }
            Err(err) => {
                eprintln!("warning: {err}; plugins talk within this host only");
                None
            }
        }
    }
}
