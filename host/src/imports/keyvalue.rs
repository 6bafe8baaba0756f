//! `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`): a plugin's
//! buckets, served by the host's store (`kv/`).
//!
//! `open` gives only the buckets the plugin's `[grants] keyvalue` names,
//! each the plugin's own unless the operator shares it; any other name is
//! `access-denied`, counted and told as a denial. Every write is held to
//! the plugin's quota ([`Quota`]), and every operation to the call's
//! deadline: a store that does not answer in time is an error the plugin
//! sees before its deadline passes, not a hung call.

use std::sync::atomic::Ordering;

use wasmtime::component::{HasSelf, Linker, Resource};

use crate::contract::keyvalue::wasi::keyvalue::{atomics, batch, store};
use crate::instance_state::{PluginContext, PluginState};
use crate::kv::{self, BucketId, Current, KeyValue, KvError, KvFuture, Quota, Usage};
use crate::text::format_size;

use atomics::CasError;
use store::{Error, KeyResponse};

/// An open bucket, as the plugin's handle finds it.
#[derive(Debug)]
pub(crate) struct OpenBucket {
    id: BucketId,
}

/// A compare-and-swap in progress: the key, and what it held when read.
#[derive(Debug)]
pub(crate) struct Cas {
    bucket: BucketId,
    key: String,
    current: Current,
    /// Bytes charged to `host-memory` while the handle lives.
    charged: u64,
}

/// Links the three interfaces into `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    store::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    atomics::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    batch::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    Ok(())
}

/// The plugin's view of a failure: one line, `other` unless it is a
/// refusal of the grants.
fn to_wit(err: KvError) -> Error {
    Error::Other(crate::text::sanitize(&err.to_string(), 4096))
}

/// Runs `op` against the host's store, within what is left of the call's
/// deadline (three quarters of it, so that the plugin has time to handle
/// the error), counting it as `reads` reads and `writes` writes.
async fn run<'a, T>(
    plugin: &'a PluginContext,
    until: crate::clock::Moment,
    counts: (u64, u64),
    op: impl FnOnce(&'a dyn KeyValue) -> KvFuture<'a, T>,
) -> Result<T, Error> {
    plugin.kv.reads.fetch_add(counts.0, Ordering::Relaxed);
    plugin.kv.writes.fetch_add(counts.1, Ordering::Relaxed);
    let store = plugin.services.keyvalue.store().await.map_err(to_wit)?;
    let budget = until.remaining() * 3 / 4;
    match tokio::time::timeout(budget, op(store.as_ref())).await {
        Ok(result) => result.map_err(to_wit),
        Err(_) => Err(to_wit(KvError::Unavailable(format!(
            "no answer within {} ms, before the call's deadline",
            budget.as_millis()
        )))),
    }
}

/// Keeps what a write says is stored, for the plugin's metrics.
fn note_usage(plugin: &PluginContext, bucket: &BucketId, usage: Option<Usage>) {
    // A shared bucket's usage is its own account, not the plugin's.
    if let (Some(usage), Some(_)) = (usage, bucket.plugin()) {
        plugin.kv.bytes.store(usage.bytes, Ordering::Relaxed);
    }
}

impl PluginState {
    fn bucket(&self, handle: &Resource<store::Bucket>) -> wasmtime::Result<BucketId> {
        let open: &OpenBucket = self.table.get(&Resource::new_borrow(handle.rep()))?;
        Ok(open.id.clone())
    }

    fn quota(&self) -> Quota {
        Quota::of(&self.plugin.limits)
    }

    /// Checks a batch: how many keys it names, then each key.
    fn check_batch<'k>(count: usize, keys: impl IntoIterator<Item = &'k str>) -> Result<(), Error> {
        kv::check_batch(count).map_err(to_wit)?;
        Self::check_keys(keys)
    }

    fn check_keys<'k>(keys: impl IntoIterator<Item = &'k str>) -> Result<(), Error> {
        keys.into_iter().try_for_each(kv::check_key).map_err(to_wit)
    }
}

impl store::Host for PluginState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<store::Bucket>, Error>> {
        if !self.plugin.grants.may_open(&identifier) {
            self.deny(&format!("keyvalue:{identifier}"));
            return Ok(Err(Error::AccessDenied));
        }
        // The store opens with the first bucket: a host without one, or a
        // database that cannot be opened, fails here, naming why.
        if let Err(err) = self.plugin.services.keyvalue.store().await {
            return Ok(Err(to_wit(err)));
        }
        let id = self.plugin.services.keyvalue.id(&self.plugin.name, &identifier);
        let handle = self.table.push(OpenBucket { id })?;
        Ok(Ok(Resource::new_own(handle.rep())))
    }
}

impl store::HostBucket for PluginState {
    async fn get(
        &mut self,
        bucket: Resource<store::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let id = self.bucket(&bucket)?;
        if let Err(err) = Self::check_keys([key.as_str()]) {
            return Ok(Err(err));
        }
        Ok(run(&self.plugin, self.call.deadline, (1, 0), |s| s.get(&id, &key)).await)
    }

    async fn set(
        &mut self,
        bucket: Resource<store::Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let id = self.bucket(&bucket)?;
        let quota = self.quota();
        if let Err(err) = Self::check_keys([key.as_str()]) {
            return Ok(Err(err));
        }
        if let Err(err) = quota.check_value(&value) {
            return Ok(Err(to_wit(err)));
        }
        let pairs = vec![(key, value)];
        let usage =
            run(&self.plugin, self.call.deadline, (0, 1), |s| s.set_many(&id, pairs, quota)).await;
        Ok(usage.map(|usage| note_usage(&self.plugin, &id, usage)))
    }

    async fn delete(
        &mut self,
        bucket: Resource<store::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let id = self.bucket(&bucket)?;
        if let Err(err) = Self::check_keys([key.as_str()]) {
            return Ok(Err(err));
        }
        let keys = vec![key];
        let usage =
            run(&self.plugin, self.call.deadline, (0, 1), |s| s.delete_many(&id, keys)).await;
        Ok(usage.map(|usage| note_usage(&self.plugin, &id, usage)))
    }

    async fn exists(
        &mut self,
        bucket: Resource<store::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let value = self.get(bucket, key).await?;
        Ok(value.map(|value| value.is_some()))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<store::Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<KeyResponse, Error>> {
        let id = self.bucket(&bucket)?;
        let quota = self.quota();
        let cursor = cursor.as_deref();
        let page =
            run(&self.plugin, self.call.deadline, (1, 0), |s| s.list(&id, cursor, quota)).await;
        Ok(page.map(|(keys, cursor)| KeyResponse { keys, cursor }))
    }

    async fn drop(&mut self, bucket: Resource<store::Bucket>) -> wasmtime::Result<()> {
        self.table.delete::<OpenBucket>(Resource::new_own(bucket.rep()))?;
        Ok(())
    }
}

impl atomics::Host for PluginState {
    async fn increment(
        &mut self,
        bucket: Resource<store::Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let id = self.bucket(&bucket)?;
        let quota = self.quota();
        if let Err(err) = Self::check_keys([key.as_str()]) {
            return Ok(Err(err));
        }
        let until = self.call.deadline;
        let sum = run(&self.plugin, until, (1, 1), |s| s.increment(&id, &key, delta, quota)).await;
        Ok(sum.map(|(sum, usage)| {
            note_usage(&self.plugin, &id, usage);
            sum
        }))
    }

    async fn swap(
        &mut self,
        cas: Resource<atomics::Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), CasError>> {
        let Cas { bucket, key, current, charged } =
            self.table.delete::<Cas>(Resource::new_own(cas.rep()))?;
        self.cas_bytes = self.cas_bytes.saturating_sub(charged);
        let quota = self.quota();
        if let Err(err) = quota.check_value(&value) {
            return Ok(Err(CasError::StoreError(to_wit(err))));
        }
        let until = self.call.deadline;
        let swapped =
            run(&self.plugin, until, (0, 1), |s| s.swap(&bucket, &key, current, value, quota))
                .await;
        match swapped {
            Ok(usage) => {
                note_usage(&self.plugin, &bucket, usage);
                Ok(Ok(()))
            }
            Err(Error::Other(text)) if text == KvError::Changed.to_string() => {
                // The standard hands back a new handle on what it holds now.
                Ok(match self.read_cas(bucket, key).await? {
                    Ok(fresh) => Err(CasError::CasFailed(fresh)),
                    Err(err) => Err(CasError::StoreError(err)),
                })
            }
            Err(err) => Ok(Err(CasError::StoreError(err))),
        }
    }
}

impl PluginState {
    /// A new compare-and-swap handle on `key`, charged to `host-memory`
    /// for the value it holds.
    async fn read_cas(
        &mut self,
        bucket: BucketId,
        key: String,
    ) -> wasmtime::Result<Result<Resource<atomics::Cas>, Error>> {
        let read =
            run(&self.plugin, self.call.deadline, (1, 0), |s| s.current(&bucket, &key)).await;
        let current = match read {
            Ok(current) => current,
            Err(err) => return Ok(Err(err)),
        };
        let charged = (key.len() + current.value.as_ref().map_or(0, Vec::len)) as u64;
        let limit = self.plugin.limits.host_memory;
        let held = self.host_memory_held() + charged;
        if held > limit {
            return Ok(Err(Error::Other(format!(
                "limit-exceeded: host-memory: what the host holds for the instance would be {}, \
                 over {}",
                format_size(held),
                format_size(limit)
            ))));
        }
        let handle = self.table.push(Cas { bucket, key, current, charged })?;
        self.cas_bytes += charged;
        Ok(Ok(Resource::new_own(handle.rep())))
    }
}

impl atomics::HostCas for PluginState {
    async fn new(
        &mut self,
        bucket: Resource<store::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<atomics::Cas>, Error>> {
        let id = self.bucket(&bucket)?;
        if let Err(err) = Self::check_keys([key.as_str()]) {
            return Ok(Err(err));
        }
        self.read_cas(id, key).await
    }

    async fn current(
        &mut self,
        cas: Resource<atomics::Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let cas: &Cas = self.table.get(&Resource::new_borrow(cas.rep()))?;
        Ok(Ok(cas.current.value.clone()))
    }

    async fn drop(&mut self, cas: Resource<atomics::Cas>) -> wasmtime::Result<()> {
        let cas = self.table.delete::<Cas>(Resource::new_own(cas.rep()))?;
        self.cas_bytes = self.cas_bytes.saturating_sub(cas.charged);
        Ok(())
    }
}

impl batch::Host for PluginState {
    async fn get_many(
        &mut self,
        bucket: Resource<store::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Option<(String, Vec<u8>)>>, Error>> {
        let id = self.bucket(&bucket)?;
        let quota = self.quota();
        if let Err(err) = Self::check_batch(keys.len(), keys.iter().map(String::as_str)) {
            return Ok(Err(err));
        }
        let count = keys.len() as u64;
        let values =
            run(&self.plugin, self.call.deadline, (count, 0), |s| s.get_many(&id, &keys, quota))
                .await;
        Ok(values.map(|values| {
            keys.into_iter()
                .zip(values)
                .map(|(key, value)| value.map(|value| (key, value)))
                .collect()
        }))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<store::Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let id = self.bucket(&bucket)?;
        let quota = self.quota();
        if let Err(err) =
            Self::check_batch(key_values.len(), key_values.iter().map(|(key, _)| key.as_str()))
        {
            return Ok(Err(err));
        }
        if let Some(err) = key_values.iter().find_map(|(_, value)| quota.check_value(value).err()) {
            return Ok(Err(to_wit(err)));
        }
        let count = key_values.len() as u64;
        let usage = run(&self.plugin, self.call.deadline, (0, count), |s| {
            s.set_many(&id, key_values, quota)
        })
        .await;
        Ok(usage.map(|usage| note_usage(&self.plugin, &id, usage)))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<store::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let id = self.bucket(&bucket)?;
        if let Err(err) = Self::check_batch(keys.len(), keys.iter().map(String::as_str)) {
            return Ok(Err(err));
        }
        let count = keys.len() as u64;
        let usage =
            run(&self.plugin, self.call.deadline, (0, count), |s| s.delete_many(&id, keys)).await;
        Ok(usage.map(|usage| note_usage(&self.plugin, &id, usage)))
    }
}
