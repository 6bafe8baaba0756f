//! What plugins keep: key-value buckets that outlive an instance, a
//! reload and the host itself, behind one trait, [`KeyValue`].
//! [`Embedded`] (one redb database file per host, [`DATABASE_FILE`]) is
//! the default; `nats::JetStreamKeyValue` (feature `nats`) shares buckets
//! between hosts; an embedder may bring a store of its own through
//! `HostBuilder::key_value`.
//!
//! Every backend holds the writing plugin to its [`Quota`] in the same
//! step as the write: a write past a quota stores nothing. Keys are at
//! most [`MAX_KEY`] bytes ([`check_key`]), batches at most [`MAX_BATCH`]
//! keys ([`check_batch`]).
//!
//! Inside: `buckets.rs` (the host's service: its store, opened on first
//! use, and the buckets the operator shares), `embedded.rs`. `imports/`
//! serves `wasi:keyvalue` from here, after the grants are checked. Uses
//! `config` and the layers below it.

mod buckets;
mod embedded;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use buckets::DATABASE_FILE;
pub(crate) use buckets::{Backend, Buckets};
pub use embedded::Embedded;

pub use crate::config::grants::is_bucket_name;
use crate::config::limits::Limits;
use crate::text::format_size;

/// The longest key a bucket takes, in bytes: a key travels in a NATS
/// subject, whose control line is a few KiB at most.
pub const MAX_KEY: usize = 1024;

/// The most keys one batch (`get-many`, `set-many`, `delete-many`) may
/// name: a batch is one transaction, which the call's deadline cannot cut
/// short.
pub const MAX_BATCH: usize = 100_000;

/// Refuses a batch of more than [`MAX_BATCH`] keys.
pub fn check_batch(keys: usize) -> Result<(), KvError> {
    if keys > MAX_BATCH {
        return Err(KvError::Limit {
            limit: "batch",
            detail: format!("a batch of {keys} keys is over the {MAX_BATCH} one batch may name"),
        });
    }
    Ok(())
}

/// The account that a shared bucket's usage is counted in: no plugin name
/// has a `/`.
const SHARED: &str = "/shared";

/// A bucket as a store keeps it: whose it is, and its name.
///
/// Each plugin's buckets are its own: plugin A's `default` is not plugin
/// B's. A bucket the operator shares between named plugins
/// ([`HostBuilder::share_bucket`](crate::HostBuilder::share_bucket)) is
/// one bucket for all of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketId {
    owner: Option<String>,
    name: String,
}

impl BucketId {
    /// Plugin `plugin`'s own bucket `name`.
    pub fn of_plugin(plugin: impl Into<String>, name: impl Into<String>) -> Self {
        Self { owner: Some(plugin.into()), name: name.into() }
    }

    /// The shared bucket `name`.
    pub fn shared(name: impl Into<String>) -> Self {
        Self { owner: None, name: name.into() }
    }

    /// Its name, as plugins open it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The plugin it belongs to; `None` for a shared bucket.
    pub fn plugin(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// What its usage counts against: its plugin, or the shared bucket.
    pub fn account(&self) -> String {
        match &self.owner {
            Some(plugin) => plugin.clone(),
            None => format!("{SHARED}/{}", self.name),
        }
    }

    /// One string for the bucket: `<plugin>/<bucket>`, or
    /// `/shared/<bucket>`. A bucket name has no `/` and a plugin name none
    /// either, so no two buckets share it.
    pub fn path(&self) -> String {
        match &self.owner {
            Some(plugin) => format!("{plugin}/{}", self.name),
            None => format!("{SHARED}/{}", self.name),
        }
    }

    /// The bucket `path` names.
    pub fn from_path(path: &str) -> Option<Self> {
        if let Some(name) = path.strip_prefix(SHARED).and_then(|rest| rest.strip_prefix('/')) {
            return Some(Self::shared(name));
        }
        let (plugin, name) = path.rsplit_once('/')?;
        (!plugin.is_empty()).then(|| Self::of_plugin(plugin, name))
    }
}

impl fmt::Display for BucketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.owner {
            Some(plugin) => write!(f, "{plugin}'s bucket `{}`", self.name),
            None => write!(f, "shared bucket `{}`", self.name),
        }
    }
}

/// What a plugin may store, from its [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quota {
    /// Bytes of keys and values stored, all its buckets together.
    pub bytes: u64,
    /// Keys stored, all its buckets together.
    pub keys: u64,
    /// Bytes of one value.
    pub value_size: u64,
    /// Bytes of one `get-many` or `list-keys` answer.
    pub answer: u64,
}

impl Quota {
    /// The quota `limits` set.
    pub fn of(limits: &Limits) -> Self {
        Self {
            bytes: limits.keyvalue_bytes,
            keys: limits.keyvalue_keys,
            value_size: limits.keyvalue_value_size,
            answer: limits.keyvalue_answer,
        }
    }

    /// Refuses a value over `value_size` before anything is written.
    pub fn check_value(&self, value: &[u8]) -> Result<(), KvError> {
        if value.len() as u64 > self.value_size {
            return Err(KvError::Limit {
                limit: "keyvalue-value-size",
                detail: format!(
                    "a value of {} is over the {} one value may hold",
                    format_size(value.len() as u64),
                    format_size(self.value_size)
                ),
            });
        }
        Ok(())
    }

    /// Refuses `usage` after a write that grew it from `before` past the
    /// quota; a write that shrinks what is stored always passes, even
    /// above a quota lowered since.
    pub fn check_usage(&self, before: Usage, usage: Usage) -> Result<(), KvError> {
        if usage.bytes > self.bytes && usage.bytes > before.bytes {
            return Err(KvError::Limit {
                limit: "keyvalue-bytes",
                detail: format!(
                    "the write would make {} stored, over the {} allowed",
                    format_size(usage.bytes),
                    format_size(self.bytes)
                ),
            });
        }
        if usage.keys > self.keys && usage.keys > before.keys {
            return Err(KvError::Limit {
                limit: "keyvalue-keys",
                detail: format!(
                    "the write would make {} keys, over the {} allowed",
                    usage.keys, self.keys
                ),
            });
        }
        Ok(())
    }
}

/// Checks `key` before any backend sees it.
pub fn check_key(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY {
        return Err(KvError::Invalid(format!(
            "a key of {} is over the {MAX_KEY} bytes a key may hold",
            format_size(key.len() as u64)
        )));
    }
    Ok(())
}

/// What one account (a plugin, or a shared bucket) stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Usage {
    /// Bytes of keys and values.
    pub bytes: u64,
    /// Keys.
    pub keys: u64,
}

/// The value a compare-and-swap starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Current {
    /// The value when it was read; `None` if the key was absent.
    pub value: Option<Vec<u8>>,
    /// The backend's revision of the entry when it was read, where it has
    /// one (JetStream); 0 for an absent key or a backend that compares
    /// values (redb).
    pub revision: u64,
}

/// Why a key-value operation failed. Each reaches the plugin as
/// `wasi:keyvalue`'s `error::other` with this message, one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// A quota would be passed; nothing was stored.
    #[error("limit-exceeded: {limit}: {detail}")]
    Limit {
        /// The limit's name, as a manifest's `[limits]` spells it.
        limit: &'static str,
        /// What passed it.
        detail: String,
    },
    /// The request itself is wrong: a key too long, an increment of a
    /// value that is not a number.
    #[error("{0}")]
    Invalid(String),
    /// A compare-and-swap found the value changed since it was read.
    #[error("the value changed since it was read")]
    Changed,
    /// The store could not serve the call: a database locked by another
    /// process, corrupt or on a full disk; a NATS server out of reach.
    #[error("the key-value store is unavailable: {0}")]
    Unavailable(String),
}

/// The future a [`KeyValue`] method returns.
pub type KvFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KvError>> + Send + 'a>>;

/// A store of buckets: what `wasi:keyvalue` is served from.
///
/// A write returns once it is durable, as the backend defines it (a synced
/// redb commit; a JetStream acknowledgement), and is held to the writer's
/// [`Quota`] in the same step: past it, nothing of the write is stored.
pub trait KeyValue: Send + Sync + fmt::Debug {
    /// The value of `key`, if any.
    fn get<'a>(&'a self, bucket: &'a BucketId, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>>;

    /// The values of `keys`, in their order; at most `quota.answer` bytes
    /// of them.
    fn get_many<'a>(
        &'a self,
        bucket: &'a BucketId,
        keys: &'a [String],
        quota: Quota,
    ) -> KvFuture<'a, Vec<Option<Vec<u8>>>>;

    /// Stores every pair, or none. Returns the account's usage after the
    /// write, where the backend knows it.
    fn set_many<'a>(
        &'a self,
        bucket: &'a BucketId,
        pairs: Vec<(String, Vec<u8>)>,
        quota: Quota,
    ) -> KvFuture<'a, Option<Usage>>;

    /// Deletes every key of `keys` present.
    fn delete_many<'a>(
        &'a self,
        bucket: &'a BucketId,
        keys: Vec<String>,
    ) -> KvFuture<'a, Option<Usage>>;

    /// A page of the bucket's keys after `cursor`, in order, of at most
    /// `quota.answer` bytes, and the cursor of the next page if there is
    /// one.
    fn list<'a>(
        &'a self,
        bucket: &'a BucketId,
        cursor: Option<&'a str>,
        quota: Quota,
    ) -> KvFuture<'a, (Vec<String>, Option<String>)>;

    /// Adds `delta` to the number `key` holds (as decimal text; an absent
    /// key holds 0) and returns the sum, and the account's usage after the
    /// write where the backend knows it.
    fn increment<'a>(
        &'a self,
        bucket: &'a BucketId,
        key: &'a str,
        delta: i64,
        quota: Quota,
    ) -> KvFuture<'a, (i64, Option<Usage>)>;

    /// The value of `key` for a compare-and-swap.
    fn current<'a>(&'a self, bucket: &'a BucketId, key: &'a str) -> KvFuture<'a, Current>;

    /// Sets `key` to `value` if it still holds `expected`; otherwise
    /// [`KvError::Changed`].
    fn swap<'a>(
        &'a self,
        bucket: &'a BucketId,
        key: &'a str,
        expected: Current,
        value: Vec<u8>,
        quota: Quota,
    ) -> KvFuture<'a, Option<Usage>>;

    /// The buckets that hold at least one key, for operators.
    fn buckets(&self) -> KvFuture<'_, Vec<BucketId>>;
}

/// Adds `delta` to the decimal number `value` holds (`None`: 0).
pub(crate) fn add(value: Option<&[u8]>, delta: i64) -> Result<i64, KvError> {
    let current = match value {
        None => 0,
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                KvError::Invalid("increment: the value is not a decimal integer".to_owned())
            })?,
    };
    current
        .checked_add(delta)
        .ok_or_else(|| KvError::Invalid(format!("increment: {current} + {delta} overflows")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_paths_round_trip_and_never_collide() {
        for bucket in [BucketId::of_plugin("a", "default"), BucketId::shared("team")] {
            assert_eq!(BucketId::from_path(&bucket.path()), Some(bucket.clone()));
        }
        assert_ne!(BucketId::of_plugin("shared", "x").path(), BucketId::shared("x").path());
        assert_eq!(BucketId::shared("team").account(), "/shared/team");
    }

    #[test]
    fn bucket_names_are_checked() {
        assert!(is_bucket_name("default"));
        assert!(is_bucket_name("cache_2-b"));
        for bad in ["", "a/b", "a.b", "é", &"x".repeat(65)] {
            assert!(!is_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn increments_parse_decimal_text_and_refuse_overflow() {
        assert_eq!(add(None, 5).unwrap(), 5);
        assert_eq!(add(Some(b"41"), 1).unwrap(), 42);
        assert!(matches!(add(Some(b"x"), 1), Err(KvError::Invalid(_))));
        assert!(matches!(add(Some(b"9223372036854775807"), 1), Err(KvError::Invalid(_))));
    }

    #[test]
    fn a_write_that_shrinks_passes_above_the_quota() {
        let quota = Quota { bytes: 10, keys: 1, value_size: 10, answer: 10 };
        let over = Usage { bytes: 20, keys: 2 };
        assert!(quota.check_usage(over, Usage { bytes: 15, keys: 2 }).is_ok());
        let err = quota.check_usage(Usage::default(), over).unwrap_err();
        assert!(err.to_string().starts_with("limit-exceeded: keyvalue-bytes: "), "{err}");
    }
}
