//! Buckets in NATS JetStream Key-Value, shared by every host on the same
//! NATS: one JetStream bucket per plugin bucket (`names.rs`), created
//! on the first write with `max_bytes` and `max_value_size` from the
//! writer's quota, and compare-and-swap on the entry's revision.
//!
//! JetStream has no transaction across keys: a batch is checked against
//! the bucket's size before its first write, and a server that fails in
//! the middle of one leaves the pairs written before it.

use std::collections::HashMap;
use std::sync::PoisonError;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt;
use std::sync::Mutex;

use super::names::{bucket_name, decode_key, encode_key};
use crate::kv::{BucketId, Current, KeyValue, KvError, KvFuture, Quota, Usage};

/// Every bucket in NATS JetStream Key-Value.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use witplug_host::{Host, nats::JetStreamKeyValue};
///
/// let client = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let host = Host::builder().key_value(Arc::new(JetStreamKeyValue::new(client))).build()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct JetStreamKeyValue {
    context: jetstream::Context,
    prefix: String,
    stores: Mutex<HashMap<BucketId, Cached>>,
}

/// A bucket looked up, and whether its limits were brought to a quota.
#[derive(Debug)]
struct Cached {
    store: kv::Store,
    limited: bool,
}

/// A bucket's `max_bytes` and `max_value_size` for `quota`.
fn limits(quota: Quota) -> (i64, i32) {
    (
        i64::try_from(quota.bytes).unwrap_or(i64::MAX),
        i32::try_from(quota.value_size).unwrap_or(i32::MAX),
    )
}

/// How long one JetStream request may wait for the server.
const TIMEOUT: Duration = Duration::from_secs(2);

impl JetStreamKeyValue {
    /// Buckets on the NATS server `client` is connected to, named
    /// `witplug_<plugin>__<bucket>`.
    pub fn new(client: async_nats::Client) -> Self {
        Self::with_prefix(client, "witplug")
    }

    /// Buckets named `<prefix>_<plugin>__<bucket>`: hosts with different
    /// prefixes keep apart on one server.
    pub fn with_prefix(client: async_nats::Client, prefix: impl Into<String>) -> Self {
        let mut context = jetstream::new(client);
        context.set_timeout(TIMEOUT);
        Self { context, prefix: prefix.into(), stores: Mutex::default() }
    }

    /// The JetStream bucket of `bucket`. With `quota`, it is created, or
    /// its limits brought to the quota (once per bucket and process; its
    /// other settings, its replicas say, left as the operator set them).
    /// Without, it is only looked up: `None` when it does not exist, since
    /// then it holds nothing.
    async fn store(
        &self,
        bucket: &BucketId,
        quota: Option<Quota>,
    ) -> Result<Option<kv::Store>, KvError> {
        if let Some(store) = self.cached(bucket, quota.is_some()) {
            return Ok(Some(store));
        }
        let name = bucket_name(&self.prefix, bucket);
        let stream = self.context.get_stream(format!("KV_{name}")).await;
        let exists = match &stream {
            Ok(_) => true,
            Err(err) => match err.kind() {
                jetstream::context::GetStreamErrorKind::JetStream(err)
                    if err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    false
                }
                _ => return Err(unavailable(&name, err)),
            },
        };
        let store = match (quota, stream) {
            (None, _) if !exists => return Ok(None),
            (Some(quota), Ok(stream)) => {
                let mut config = stream.cached_info().config.clone();
                let (max_bytes, max_value) = limits(quota);
                if config.max_bytes != max_bytes || config.max_message_size != max_value {
                    config.max_bytes = max_bytes;
                    config.max_message_size = max_value;
                    self.context.update_stream(&config).await.map_err(|e| unavailable(&name, e))?;
                }
                self.context.get_key_value(&name).await.map_err(|err| unavailable(&name, err))?
            }
            (Some(quota), Err(_)) => {
                let (max_bytes, max_value_size) = limits(quota);
                let config = kv::Config {
                    bucket: name.clone(),
                    description: format!("witplug: {bucket}"),
                    history: 1,
                    max_bytes,
                    max_value_size,
                    storage: jetstream::stream::StorageType::File,
                    ..Default::default()
                };
                // Another host may create it first: then it is used as it is.
                match self.context.create_key_value(config).await {
                    Ok(store) => store,
                    Err(_) => self
                        .context
                        .get_key_value(&name)
                        .await
                        .map_err(|err| unavailable(&name, err))?,
                }
            }
            (None, _) => {
                self.context.get_key_value(&name).await.map_err(|err| unavailable(&name, err))?
            }
        };
        let cached = Cached { store: store.clone(), limited: quota.is_some() };
        self.stores.lock().unwrap_or_else(PoisonError::into_inner).insert(bucket.clone(), cached);
        Ok(Some(store))
    }

    /// The bucket looked up before, if it was, and with its limits set if
    /// `limited` is asked for.
    fn cached(&self, bucket: &BucketId, limited: bool) -> Option<kv::Store> {
        let stores = self.stores.lock().unwrap_or_else(PoisonError::into_inner);
        stores.get(bucket).filter(|cached| cached.limited || !limited).map(|c| c.store.clone())
    }

    async fn writable(&self, bucket: &BucketId, quota: Quota) -> Result<kv::Store, KvError> {
        match self.store(bucket, Some(quota)).await? {
            Some(store) => Ok(store),
            None => Err(KvError::Unavailable(format!("{bucket}: not created"))),
        }
    }

    /// Refuses a batch whose values would pass the bucket's size.
    async fn check_room(
        &self,
        store: &kv::Store,
        bucket: &BucketId,
        adding: u64,
        quota: Quota,
    ) -> Result<(), KvError> {
        let status = store.status().await.map_err(|err| unavailable(&bucket.path(), err))?;
        let stored = status.info.state.bytes;
        quota.check_usage(
            Usage { bytes: stored, keys: 0 },
            Usage { bytes: stored + adding, keys: 0 },
        )
    }
}

/// A failure of the server or the connection, named by its bucket.
fn unavailable(bucket: &str, err: impl std::fmt::Display) -> KvError {
    let text = err.to_string();
    if text.contains("maximum bytes") {
        return KvError::Limit {
            limit: "keyvalue-bytes",
            detail: format!("the bucket is full ({text})"),
        };
    }
    KvError::Unavailable(format!("NATS bucket {bucket}: {text}"))
}

fn is_put(entry: &kv::Entry) -> bool {
    entry.operation == kv::Operation::Put
}

impl KeyValue for JetStreamKeyValue {
    fn get<'a>(&'a self, bucket: &'a BucketId, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let Some(store) = self.store(bucket, None).await? else { return Ok(None) };
            let value = store.get(encode_key(key)).await;
            Ok(value.map_err(|err| unavailable(&bucket.path(), err))?.map(|value| value.to_vec()))
        })
    }

    fn get_many<'a>(
        &'a self,
        bucket: &'a BucketId,
        keys: &'a [String],
        quota: Quota,
    ) -> KvFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            // The bucket looked up once: a missing one holds nothing.
            let Some(store) = self.store(bucket, None).await? else {
                return Ok(vec![None; keys.len()]);
            };
            let mut values = Vec::with_capacity(keys.len().min(1024));
            let mut total = 0u64;
            for key in keys {
                total += key.len() as u64 + 16;
                let value = store.get(encode_key(key)).await;
                let value = value.map_err(|err| unavailable(&bucket.path(), err))?;
                let value = value.map(|value| value.to_vec());
                total += value.as_ref().map_or(0, |value| value.len() as u64);
                if total > quota.answer {
                    return Err(KvError::Limit {
                        limit: "keyvalue-answer",
                        detail: format!(
                            "the values of {} keys are over the {} one answer may hold",
                            keys.len(),
                            crate::text::format_size(quota.answer)
                        ),
                    });
                }
                values.push(value);
            }
            Ok(values)
        })
    }

    fn set_many<'a>(
        &'a self,
        bucket: &'a BucketId,
        pairs: Vec<(String, Vec<u8>)>,
        quota: Quota,
    ) -> KvFuture<'a, Option<Usage>> {
        Box::pin(async move {
            let store = self.writable(bucket, quota).await?;
            if pairs.len() > 1 {
                // Each message also holds its subject and JetStream's headers.
                let framing = 64 + bucket_name(&self.prefix, bucket).len();
                let adding =
                    pairs.iter().map(|(k, v)| (framing + 2 * k.len() + v.len()) as u64).sum();
                self.check_room(&store, bucket, adding, quota).await?;
            }
            for (key, value) in pairs {
                store
                    .put(encode_key(&key), value.into())
                    .await
                    .map_err(|err| unavailable(&bucket.path(), err))?;
            }
            Ok(None)
        })
    }

    fn delete_many<'a>(
        &'a self,
        bucket: &'a BucketId,
        keys: Vec<String>,
    ) -> KvFuture<'a, Option<Usage>> {
        Box::pin(async move {
            let Some(store) = self.store(bucket, None).await? else { return Ok(None) };
            for key in keys {
                // A purge keeps no history of the key, only its marker.
                store
                    .purge(encode_key(&key))
                    .await
                    .map_err(|err| unavailable(&bucket.path(), err))?;
            }
            Ok(None)
        })
    }

    fn list<'a>(
        &'a self,
        bucket: &'a BucketId,
        cursor: Option<&'a str>,
        quota: Quota,
    ) -> KvFuture<'a, (Vec<String>, Option<String>)> {
        Box::pin(async move {
            let Some(store) = self.store(bucket, None).await? else {
                return Ok((Vec::new(), None));
            };
            let mut stream = store.keys().await.map_err(|err| unavailable(&bucket.path(), err))?;
            // The smallest keys after the cursor that fit one answer: a heap
            // of at most an answer's bytes, whatever the bucket holds.
            let mut kept = std::collections::BinaryHeap::new();
            let (mut total, mut more) = (0u64, false);
            while let Some(key) = stream.next().await {
                let key = key.map_err(|err| unavailable(&bucket.path(), err))?;
                let Some(key) = decode_key(&key) else { continue };
                if cursor.is_some_and(|cursor| key.as_str() <= cursor) {
                    continue;
                }
                total += key.len() as u64 + 16;
                kept.push(key);
                while total > quota.answer && kept.len() > 1 {
                    if let Some(largest) = kept.pop() {
                        total -= largest.len() as u64 + 16;
                        more = true;
                    }
                }
            }
            let keys = kept.into_sorted_vec();
            let next = if more { keys.last().cloned() } else { None };
            Ok((keys, next))
        })
    }

    fn increment<'a>(
        &'a self,
        bucket: &'a BucketId,
        key: &'a str,
        delta: i64,
        quota: Quota,
    ) -> KvFuture<'a, (i64, Option<Usage>)> {
        Box::pin(async move {
            let store = self.writable(bucket, quota).await?;
            let encoded = encode_key(key);
            // Optimistic: read, add, write on the revision read; again if
            // another writer came between.
            loop {
                let entry = store
                    .entry(encoded.clone())
                    .await
                    .map_err(|err| unavailable(&bucket.path(), err))?;
                let live = entry.as_ref().filter(|entry| is_put(entry));
                let sum = crate::kv::add(live.map(|entry| &entry.value[..]), delta)?;
                let value = sum.to_string().into_bytes().into();
                let written = match &entry {
                    Some(entry) => {
                        store.update(&encoded, value, entry.revision).await.map_err(|err| match err
                            .kind()
                        {
                            kv::UpdateErrorKind::WrongLastRevision => None,
                            _ => Some(unavailable(&bucket.path(), err)),
                        })
                    }
                    None => store.create(&encoded, value).await.map(|_| 0).map_err(|err| match err
                        .kind()
                    {
                        kv::CreateErrorKind::AlreadyExists => None,
                        _ => Some(unavailable(&bucket.path(), err)),
                    }),
                };
                match written {
                    Ok(_) => return Ok((sum, None)),
                    Err(None) => continue,
                    Err(Some(err)) => return Err(err),
                }
            }
        })
    }

    fn current<'a>(&'a self, bucket: &'a BucketId, key: &'a str) -> KvFuture<'a, Current> {
        Box::pin(async move {
            let Some(store) = self.store(bucket, None).await? else {
                return Ok(Current::default());
            };
            let entry = store
                .entry(encode_key(key))
                .await
                .map_err(|err| unavailable(&bucket.path(), err))?;
            Ok(match entry {
                Some(entry) => Current {
                    value: is_put(&entry).then(|| entry.value.to_vec()),
                    revision: entry.revision,
                },
                None => Current::default(),
            })
        })
    }

    fn swap<'a>(
        &'a self,
        bucket: &'a BucketId,
        key: &'a str,
        expected: Current,
        value: Vec<u8>,
        quota: Quota,
    ) -> KvFuture<'a, Option<Usage>> {
        Box::pin(async move {
            let store = self.writable(bucket, quota).await?;
            let encoded = encode_key(key);
            if expected.revision == 0 {
                match store.create(&encoded, value.into()).await {
                    Ok(_) => Ok(None),
                    Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
                        Err(KvError::Changed)
                    }
                    Err(err) => Err(unavailable(&bucket.path(), err)),
                }
            } else {
                match store.update(&encoded, value.into(), expected.revision).await {
                    Ok(_) => Ok(None),
                    Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                        Err(KvError::Changed)
                    }
                    Err(err) => Err(unavailable(&bucket.path(), err)),
                }
            }
        })
    }

    fn buckets(&self) -> KvFuture<'_, Vec<BucketId>> {
        Box::pin(async move {
            let mut names = self.context.stream_names();
            let mut buckets = Vec::new();
            let start = format!("KV_{}_", self.prefix);
            while let Some(name) = names.next().await {
                let name = name.map_err(|err| unavailable("(listing)", err))?;
                if let Some(bucket) = name.strip_prefix(&start).and_then(parse_bucket) {
                    buckets.push(bucket);
                }
            }
            buckets.sort();
            Ok(buckets)
        })
    }
}

/// The bucket a JetStream bucket name (after `<prefix>_`) stands for.
fn parse_bucket(rest: &str) -> Option<BucketId> {
    let (plugin, bucket) = rest.split_once("__")?;
    if plugin.is_empty() {
        return Some(BucketId::shared(bucket));
    }
    let mut bytes = Vec::with_capacity(plugin.len());
    let mut chars = plugin.bytes();
    while let Some(byte) = chars.next() {
        if byte == b'_' {
            let hex = [chars.next()?, chars.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(byte);
        }
    }
    Some(BucketId::of_plugin(String::from_utf8(bytes).ok()?, bucket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_parse_back() {
        for bucket in [
            BucketId::of_plugin("kv-counter", "default"),
            BucketId::of_plugin("a_b.c", "x__y"),
            BucketId::shared("team"),
        ] {
            let name = bucket_name("witplug", &bucket);
            assert_eq!(parse_bucket(name.strip_prefix("witplug_").unwrap()), Some(bucket));
        }
    }
}
