//! The host's key-value service: which store its buckets live in (opened
//! on first use), and which buckets the operator shares between plugins.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::{BucketId, Embedded, KeyValue, KvError};

/// The name of the embedded database file in a host's data folder.
pub const DATABASE_FILE: &str = "keyvalue.redb";

/// Where a host keeps its plugins' buckets.
#[derive(Debug, Clone, Default)]
pub(crate) enum Backend {
    /// Nowhere: opening a bucket fails, saying how to give the host a
    /// store.
    #[default]
    None,
    /// The embedded database in this folder, opened on first use.
    DataDir(PathBuf),
    /// A store the embedder chose.
    Given(Arc<dyn KeyValue>),
}

/// The buckets of one host.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    backend: Backend,
    opened: OnceCell<Arc<dyn KeyValue>>,
    /// Shared bucket name to the plugins that share it.
    shared: BTreeMap<String, Vec<String>>,
}

impl Buckets {
    pub fn new(backend: Backend, shared: BTreeMap<String, Vec<String>>) -> Self {
        Self { backend, opened: OnceCell::new(), shared }
    }

    /// The bucket `plugin` means by `name`: the shared one when the
    /// operator shares `name` with it, its own otherwise.
    pub fn id(&self, plugin: &str, name: &str) -> BucketId {
        match self.shared.get(name) {
            Some(plugins) if plugins.iter().any(|p| p == plugin) => BucketId::shared(name),
            _ => BucketId::of_plugin(plugin, name),
        }
    }

    /// The store, opened on first use. A failure to open is the failure
    /// of the call that needed it; the next call tries again.
    ///
    /// # Errors
    ///
    /// [`KvError::Unavailable`]: no store is configured, or the database
    /// cannot be opened (locked, corrupt, not writable).
    pub async fn store(&self) -> Result<&Arc<dyn KeyValue>, KvError> {
        self.opened
            .get_or_try_init(|| async {
                match &self.backend {
                    Backend::None => Err(KvError::Unavailable(
                        "this host has no key-value store (HostBuilder::data_dir or \
                         HostBuilder::key_value)"
                            .to_owned(),
                    )),
                    Backend::Given(store) => Ok(store.clone()),
                    Backend::DataDir(dir) => {
                        let path = dir.join(DATABASE_FILE);
                        // The open checks the whole file, and waits for a
                        // write another process holds: on a thread of its
                        // own, for a bounded time.
                        let opened = Embedded::open_within(path, Embedded::DEFAULT_WAIT).await?;
                        Ok(Arc::new(opened) as Arc<dyn KeyValue>)
                    }
                }
            })
            .await
    }
}
