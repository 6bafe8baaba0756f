//! State that outlives the instance: key-value buckets through the standard
//! `wasi:keyvalue` interfaces, which every witplug host links.
//!
//! A bucket lasts across calls, traps, reloads and host restarts, and is
//! shared by all of the plugin's instances (and, on a host that keeps
//! buckets in NATS JetStream, by its copies on other hosts). The operator
//! grants each bucket by name in the plugin's manifest:
//!
//! ```toml
//! [grants]
//! keyvalue = ["default"]
//! ```
//!
//! ```no_run
//! use witplug_sdk::{Plugin, Result, kv};
//!
//! #[derive(Default)]
//! struct Visits;
//!
//! impl Plugin for Visits {
//!     fn handle(&mut self, page: &str) -> Result<String> {
//!         let bucket = kv::open("default")?;
//!         let visits = bucket.increment(page, 1)?;
//!         bucket.set_json("last", &page)?;
//!         Ok(format!("{page}: {visits} visits"))
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! Failures are [`Error`] values: a bucket not granted is
//! [`Error::Denied`], a write past the plugin's quota
//! [`Error::LimitExceeded`] naming the limit (`keyvalue-bytes: ...`; it
//! stores nothing), a store that cannot answer [`Error::Failed`].

use crate::Error;
use crate::bindings::keyvalue::wasi::keyvalue::{atomics, batch, store};
use crate::error::Result;

/// An open bucket.
#[derive(Debug)]
pub struct Bucket {
    name: String,
    handle: store::Bucket,
}

/// Opens the bucket `name`, which the plugin's `[grants] keyvalue` must
/// name.
///
/// # Errors
///
/// [`Error::Denied`] for a bucket not granted; [`Error::Failed`] when the
/// host has no store, or cannot open it.
pub fn open(name: &str) -> Result<Bucket> {
    let handle = store::open(name).map_err(|err| to_error(name, err))?;
    Ok(Bucket { name: name.to_owned(), handle })
}

/// The SDK's error for a store error on bucket `bucket`.
fn to_error(bucket: &str, err: store::Error) -> Error {
    match err {
        store::Error::AccessDenied => Error::Denied(format!("bucket {bucket}")),
        store::Error::NoSuchStore => Error::NotFound(format!("bucket {bucket}")),
        store::Error::Other(text) => match text.strip_prefix("limit-exceeded: ") {
            Some(limit) => Error::LimitExceeded(limit.to_owned()),
            None => Error::Failed(text),
        },
    }
}

impl Bucket {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn wrap<T>(&self, result: Result<T, store::Error>) -> Result<T> {
        result.map_err(|err| to_error(&self.name, err))
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.wrap(self.handle.get(key))
    }

    /// The value of `key` as text (invalid UTF-8 replaced), if any.
    pub fn get_string(&self, key: &str) -> Result<Option<String>> {
        Ok(self.get(key)?.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The value of `key` read as JSON, if any.
    ///
    /// # Errors
    ///
    /// Also [`Error::Failed`] when the value is not JSON of type `T`.
    pub fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|err| Error::Failed(format!("bucket {}: `{key}`: {err}", self.name))),
        }
    }

    /// Sets `key` to `value`: durable once this returns.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        self.wrap(self.handle.set(key, value.as_ref()))
    }

    /// Sets `key` to `value` written as JSON.
    pub fn set_json<T: serde::Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value)
            .map_err(|err| Error::InvalidInput(format!("`{key}` as JSON: {err}")))?;
        self.set(key, bytes)
    }

    /// Deletes `key`; nothing happens if it is absent.
    pub fn delete(&self, key: &str) -> Result<()> {
        self.wrap(self.handle.delete(key))
    }

    /// Whether `key` holds a value.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.wrap(self.handle.exists(key))
    }

    /// Every key of the bucket, in order, gathered page by page.
    pub fn keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.wrap(self.handle.list_keys(cursor.as_deref()))?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Adds `delta` to the number `key` holds (0 if absent) atomically,
    /// and returns the sum. The number is kept as decimal text.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        self.wrap(atomics::increment(&self.handle, key, delta))
    }

    /// Sets `key` to `new` only if it still holds `expected` (`None`:
    /// absent); returns whether it did.
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: impl AsRef<[u8]>,
    ) -> Result<bool> {
        let cas = self.wrap(atomics::Cas::new(&self.handle, key))?;
        if self.wrap(cas.current())?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new.as_ref()) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(err)) => Err(to_error(&self.name, err)),
        }
    }

    /// Replaces the value of `key` with `change(value)` atomically, trying
    /// again whenever another writer came between the read and the write;
    /// returns the value written.
    pub fn update(
        &self,
        key: &str,
        mut change: impl FnMut(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Vec<u8>> {
        let mut cas = self.wrap(atomics::Cas::new(&self.handle, key))?;
        loop {
            let new = change(self.wrap(cas.current())?.as_deref());
            match atomics::swap(cas, &new) {
                Ok(()) => return Ok(new),
                Err(atomics::CasError::CasFailed(fresh)) => cas = fresh,
                Err(atomics::CasError::StoreError(err)) => return Err(to_error(&self.name, err)),
            }
        }
    }

    /// The values of `keys`, in their order.
    pub fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let owned: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
        let found = self.wrap(batch::get_many(&self.handle, &owned))?;
        Ok(found.into_iter().map(|entry| entry.map(|(_, value)| value)).collect())
    }

    /// Sets every pair, or (past a quota) none.
    pub fn set_many(&self, pairs: &[(&str, &[u8])]) -> Result<()> {
        let owned: Vec<(String, Vec<u8>)> =
            pairs.iter().map(|(key, value)| ((*key).to_owned(), value.to_vec())).collect();
        self.wrap(batch::set_many(&self.handle, &owned))
    }

    /// Deletes every key of `keys` present.
    pub fn delete_many(&self, keys: &[&str]) -> Result<()> {
        let owned: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
        self.wrap(batch::delete_many(&self.handle, &owned))
    }
}
