//! `witplug kv`: an operator's view of plugins' buckets, on the store a
//! host of the same flags uses: the data folder's redb database (which a
//! running host keeps open for other processes too), or JetStream with
//! `--kv nats`.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use witplug_host::{
    Limits, Manifest, kv::BucketId, kv::DATABASE_FILE, kv::Embedded, kv::KeyValue, kv::Quota,
};

use crate::host_args::HostArgs;
use crate::nats_args::{KvStore, NatsArgs};
use crate::output::out;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// The plugin's buckets, or with BUCKET the keys it holds.
    List {
        plugin: String,
        bucket: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the value of KEY (as it is; a newline after text).
    Get {
        plugin: String,
        bucket: String,
        key: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set KEY to VALUE (`-`: read it from stdin).
    Set {
        plugin: String,
        bucket: String,
        key: String,
        value: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete KEY.
    Delete {
        plugin: String,
        bucket: String,
        key: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// The store: the host's flags.
#[derive(Debug, clap::Args)]
struct StoreArgs {
    #[command(flatten)]
    host: HostArgs,
    #[command(flatten)]
    nats: NatsArgs,
    #[command(flatten)]
    output: crate::output::JsonArg,
}

impl StoreArgs {
    async fn open(&self) -> Result<Arc<dyn KeyValue>> {
        if self.nats.kv()? == KvStore::Nats {
            let bus = self.nats.connect().await;
            return self.nats.jetstream(bus.as_ref());
        }
        let dir = self.host.data_dir().context("no data folder: give --data DIR")?;
        let path = dir.join(DATABASE_FILE);
        let store = Embedded::open_within(path, Embedded::DEFAULT_WAIT).await?;
        Ok(Arc::new(store))
    }

    /// The quota of `plugin`, from its manifest in the plugins folder (the
    /// default limits without one): what an operator's writes are held to,
    /// as the plugin's are.
    fn quota(&self, plugin: &str) -> Result<Quota> {
        let path = self.host.dir().join(format!("{plugin}.toml"));
        let manifest = Manifest::load(&path)?.unwrap_or_default();
        let (defaults, ceilings) = crate::host_args::config().limits()?;
        let limits = Limits::resolve(&defaults, &ceilings, &manifest.limits)
            .map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))?;
        Ok(Quota::of(&limits))
    }

    /// The bucket `plugin` means by `name`, as a host of these flags sees
    /// it (shared with `--share-bucket`).
    fn bucket(&self, plugin: &str, name: &str) -> Result<BucketId> {
        if !witplug_host::kv::is_bucket_name(name) {
            bail!("`{name}` is not a bucket name (1 to 64 of a-z A-Z 0-9 _ -)");
        }
        let shared = self
            .host
            .shared_buckets()
            .iter()
            .any(|(bucket, plugins)| bucket == name && plugins.iter().any(|p| p == plugin));
        Ok(if shared { BucketId::shared(name) } else { BucketId::of_plugin(plugin, name) })
    }
}

/// A key or bucket name a plugin chose, as one safe line.
fn safe(text: &str) -> String {
    witplug_host::text::sanitize(text, witplug_host::text::NAME * 4)
}

pub async fn run(args: Args) -> Result<ExitCode> {
    match args.action {
        Action::List { plugin, bucket: None, store } => {
            let kv = store.open().await?;
            let mut listed = Vec::new();
            for bucket in kv.buckets().await? {
                if bucket.plugin() == Some(plugin.as_str()) {
                    listed.push((bucket.name().to_owned(), false));
                } else if bucket.plugin().is_none()
                    && store.bucket(&plugin, bucket.name())? == bucket
                {
                    listed.push((bucket.name().to_owned(), true));
                }
            }
            if store.output.json {
                let buckets: Vec<_> = listed
                    .iter()
                    .map(|(name, shared)| serde_json::json!({ "bucket": name, "shared": shared }))
                    .collect();
                crate::output::print_json(&buckets)?;
            } else {
                for (name, shared) in listed {
                    let name = safe(&name);
                    out!("{name}{}", if shared { " (shared)" } else { "" });
                }
            }
        }
        Action::List { plugin, bucket: Some(name), store } => {
            let bucket = store.bucket(&plugin, &name)?;
            let kv = store.open().await?;
            let quota = store.quota(&plugin)?;
            let mut cursor = None;
            let mut all = Vec::new();
            loop {
                let (keys, next) = kv.list(&bucket, cursor.as_deref(), quota).await?;
                if store.output.json {
                    all.extend(keys);
                } else {
                    // A plugin chose them: one safe line each (`--json`
                    // has them whole).
                    keys.iter().for_each(|key| out!("{}", safe(key)));
                }
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            if store.output.json {
                crate::output::print_json(&all)?;
            }
        }
        Action::Get { plugin, bucket, key, store } => {
            let bucket = store.bucket(&plugin, &bucket)?;
            let kv = store.open().await?;
            let Some(value) = kv.get(&bucket, &key).await? else {
                let key = safe(&key);
                return Err(crate::exit::NotFound(format!("no key `{key}` in {bucket}")).into());
            };
            if store.output.json {
                // Text as a string; other bytes as a list of numbers.
                let shown = match std::str::from_utf8(&value) {
                    Ok(text) => serde_json::json!({ "key": key, "text": text }),
                    Err(_) => serde_json::json!({ "key": key, "bytes": value }),
                };
                crate::output::print_json(&shown)?;
                return Ok(ExitCode::SUCCESS);
            }
            // The value as it is, for a pipe; made safe on a terminal.
            let mut stdout = std::io::stdout().lock();
            match std::str::from_utf8(&value) {
                Ok(text) if std::io::IsTerminal::is_terminal(&stdout) => {
                    drop(stdout);
                    out!("{}", witplug_host::text::sanitize(text, usize::MAX));
                }
                Ok(text) => {
                    drop(stdout);
                    out!("{text}");
                }
                Err(_) if std::io::IsTerminal::is_terminal(&stdout) => {
                    bail!("the value of `{}` is not text: give --json, or pipe it", safe(&key))
                }
                Err(_) => stdout.write_all(&value).context("writing to stdout")?,
            }
        }
        Action::Set { plugin, bucket, key, value, store } => {
            let bucket = store.bucket(&plugin, &bucket)?;
            witplug_host::kv::check_key(&key)?;
            let value = if value == "-" {
                let mut bytes = Vec::new();
                std::io::stdin().read_to_end(&mut bytes).context("reading the value from stdin")?;
                bytes
            } else {
                value.into_bytes()
            };
            let quota = store.quota(&plugin)?;
            quota.check_value(&value)?;
            let kv = store.open().await?;
            kv.set_many(&bucket, vec![(key, value)], quota).await?;
        }
        Action::Delete { plugin, bucket, key, store } => {
            let bucket = store.bucket(&plugin, &bucket)?;
            let kv = store.open().await?;
            kv.delete_many(&bucket, vec![key]).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
