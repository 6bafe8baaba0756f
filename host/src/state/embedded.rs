//! The embedded store: every bucket of a host in one redb database file,
//! one table of entries keyed by (bucket, key) and one of each account's
//! usage, changed in the same transaction as the entries.
//!
//! Each write is its own transaction, committed with redb's default
//! durability (synced to disk before `commit` returns), so a write whose
//! call returned survives a crash. The file is opened for several writing
//! processes at once (`ConcurrencyMode::MultiWriter`), so `witplug kv` can
//! read and change a running host's state; redb serialises their
//! transactions.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{
    ConcurrencyMode, Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::{BucketId, Current, KeyValue, KvError, KvFuture, Quota, Usage};

/// Entries: (bucket path, key) to value.
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
/// Usage: account to (bytes, keys).
const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage");

/// Every bucket in one redb database file.
///
/// ```no_run
/// # async fn run() -> Result<(), witplug_host::KvError> {
/// use witplug_host::{BucketId, Embedded, KeyValue, Limits, Quota};
///
/// let store = Embedded::open("/var/lib/witplug/keyvalue.redb")?;
/// let bucket = BucketId::of_plugin("kv-counter", "default");
/// let count = store.get(&bucket, "count").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Embedded {
    path: PathBuf,
    db: Arc<Database>,
}

/// A failure of the database, naming its file (not its folder: the plugin
/// sees the message).
fn unavailable(path: &Path) -> impl Fn(redb::Error) -> KvError + '_ {
    move |err| {
        tracing::warn!(target: "witplug::host", file = %path.display(), "key-value store: {err}");
        let file = path.file_name().map_or(path.as_os_str(), |name| name);
        KvError::Unavailable(format!("{}: {err}", Path::new(file).display()))
    }
}

impl Embedded {
    /// Opens the database at `path`, creating it (and its folder) if need
    /// be. The whole file is checked on open: a corrupt file is an error,
    /// not a crash.
    ///
    /// # Errors
    ///
    /// [`KvError::Unavailable`] naming the file: it cannot be created, is
    /// not a redb database, is corrupt, or another process holds it in a
    /// mode that excludes this one.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, KvError> {
        let path = path.into();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|err| KvError::Unavailable(format!("{}: {err}", parent.display())))?;
        }
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|err| unavailable(&path)(err.into()))?;
        // The tables exist from the start, so reads never find them missing.
        let store = Self { path, db: Arc::new(db) };
        store.write(|tx| {
            tx.open_table(ENTRIES)?;
            tx.open_table(USAGE)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What `account` (a plugin's name, or [`BucketId::account`]) stores.
    ///
    /// # Errors
    ///
    /// [`KvError::Unavailable`] when the file cannot be read.
    pub fn usage(&self, account: &str) -> Result<Usage, KvError> {
        self.read(|tx| Ok(read_usage(&tx.open_table(USAGE)?, account)?))
    }

    /// Runs `f` in a read transaction.
    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, KvError> {
        let tx = self.db.begin_read().map_err(|err| unavailable(&self.path)(err.into()))?;
        f(&tx).map_err(unavailable(&self.path))
    }

    /// Runs `f` in a write transaction and commits it, synced, unless `f`
    /// fails: then nothing of it is stored.
    fn write<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StepError>,
    ) -> Result<T, KvError> {
        let fail = unavailable(&self.path);
        let tx = self.db.begin_write().map_err(|err| fail(err.into()))?;
        match f(&tx) {
            Ok(value) => {
                tx.commit().map_err(|err| fail(err.into()))?;
                Ok(value)
            }
            Err(err) => {
                let _ = tx.abort();
                Err(match err {
                    StepError::Kv(err) => err,
                    StepError::Redb(err) => fail(err),
                })
            }
        }
    }

    /// Runs a write off the async workers' schedule: its sync to disk takes
    /// a millisecond or so. On a multi-threaded runtime the worker itself
    /// blocks and hands its other tasks on (no thread hop); elsewhere the
    /// write goes to tokio's blocking threads. A panic in it is an error.
    async fn write_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, KvError> {
        let failed = |err: &dyn std::fmt::Display| {
            KvError::Unavailable(format!("{}: {err}", self.path.display()))
        };
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|rt| rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread {
            let run = std::panic::AssertUnwindSafe(|| tokio::task::block_in_place(|| f(self)));
            return std::panic::catch_unwind(run)
                .unwrap_or_else(|_| Err(failed(&"the write panicked")));
        }
        let store = self.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result,
            Err(err) => Err(failed(&err)),
        }
    }

    /// Changes `bucket`'s entries with `f` in one write transaction, and
    /// its account's usage with them: `f` gets the entries, the bucket's
    /// path and the usage before, and gives back the usage after and its
    /// result. Past `quota` (when one is given), nothing is stored.
    fn change<T>(
        &self,
        bucket: &BucketId,
        quota: Option<Quota>,
        f: impl FnOnce(&mut Entries<'_>, &str, Usage) -> Result<(Usage, T), StepError>,
    ) -> Result<(Usage, T), KvError> {
        let path = bucket.path();
        let account = bucket.account();
        self.write(|tx| {
            let mut entries = tx.open_table(ENTRIES)?;
            let mut usage = tx.open_table(USAGE)?;
            let before = read_usage(&usage, &account)?;
            let (after, out) = f(&mut entries, &path, before)?;
            if let Some(quota) = quota {
                quota.check_usage(before, after)?;
            }
            usage.insert(account.as_str(), (after.bytes, after.keys))?;
            Ok((after, out))
        })
    }

    fn set_many_now(
        &self,
        bucket: &BucketId,
        pairs: &[(String, Vec<u8>)],
        quota: Quota,
    ) -> Result<Usage, KvError> {
        let (after, ()) = self.change(bucket, Some(quota), |entries, path, mut usage| {
            for (key, value) in pairs {
                let old = entries.insert((path, key.as_str()), value.as_slice())?;
                usage = grow(usage, key, old.map(|old| old.value().len()), Some(value.len()));
            }
            Ok((usage, ()))
        })?;
        Ok(after)
    }

    fn delete_many_now(&self, bucket: &BucketId, keys: &[String]) -> Result<Usage, KvError> {
        let (after, ()) = self.change(bucket, None, |entries, path, mut usage| {
            for key in keys {
                let old = entries.remove((path, key.as_str()))?;
                usage = grow(usage, key, old.map(|old| old.value().len()), None);
            }
            Ok((usage, ()))
        })?;
        Ok(after)
    }

    fn swap_now(
        &self,
        bucket: &BucketId,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        quota: Quota,
    ) -> Result<Usage, KvError> {
        let (after, ()) = self.change(bucket, Some(quota), |entries, path, usage| {
            let old = entries.get((path, key))?.map(|old| old.value().to_vec());
            if old.as_deref() != expected {
                return Err(StepError::Kv(KvError::Changed));
            }
            entries.insert((path, key), value)?;
            Ok((grow(usage, key, old.map(|old| old.len()), Some(value.len())), ()))
        })?;
        Ok(after)
    }

    fn increment_now(
        &self,
        bucket: &BucketId,
        key: &str,
        delta: i64,
        quota: Quota,
    ) -> Result<(i64, Usage), KvError> {
        let (after, sum) = self.change(bucket, Some(quota), |entries, path, usage| {
            let old = entries.get((path, key))?.map(|old| old.value().to_vec());
            let sum = super::add(old.as_deref(), delta)?;
            let value = sum.to_string().into_bytes();
            entries.insert((path, key), value.as_slice())?;
            Ok((grow(usage, key, old.map(|old| old.len()), Some(value.len())), sum))
        })?;
        Ok((sum, after))
    }
}

/// The entries table, open for writing.
type Entries<'tx> = redb::Table<'tx, (&'static str, &'static str), &'static [u8]>;

/// A step of a write: it fails for a reason of ours, or of redb's.
enum StepError {
    Kv(KvError),
    Redb(redb::Error),
}

impl From<KvError> for StepError {
    fn from(err: KvError) -> Self {
        Self::Kv(err)
    }
}

impl<E: Into<redb::Error>> From<E> for StepError {
    fn from(err: E) -> Self {
        Self::Redb(err.into())
    }
}

fn read_usage(
    table: &impl ReadableTable<&'static str, (u64, u64)>,
    account: &str,
) -> Result<Usage, redb::StorageError> {
    Ok(table.get(account)?.map_or(Usage::default(), |guard| {
        let (bytes, keys) = guard.value();
        Usage { bytes, keys }
    }))
}

/// `usage` after `key` went from a value of `old` bytes to one of `new`
/// (`None`: absent).
fn grow(usage: Usage, key: &str, old: Option<usize>, new: Option<usize>) -> Usage {
    let size = |len: Option<usize>| len.map_or(0, |len| (key.len() + len) as u64);
    Usage {
        bytes: (usage.bytes + size(new)).saturating_sub(size(old)),
        keys: (usage.keys + u64::from(new.is_some())).saturating_sub(u64::from(old.is_some())),
    }
}

impl KeyValue for Embedded {
    fn get<'a>(&'a self, bucket: &'a BucketId, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let path = bucket.path();
            self.read(|tx| {
                let entries = tx.open_table(ENTRIES)?;
                Ok(entries.get((path.as_str(), key))?.map(|value| value.value().to_vec()))
            })
        })
    }

    fn get_many<'a>(
        &'a self,
        bucket: &'a BucketId,
        keys: &'a [String],
        quota: Quota,
    ) -> KvFuture<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            let path = bucket.path();
            let values = self.read(|tx| {
                let entries = tx.open_table(ENTRIES)?;
                let mut total = 0u64;
                let mut values = Vec::with_capacity(keys.len().min(1024));
                for key in keys {
                    // Every key asked costs its bytes and its framing, found
                    // or not: a long batch of missing keys is bounded too.
                    total += key.len() as u64 + 16;
                    if total > quota.answer {
                        return Ok(Err(total));
                    }
                    let value = entries.get((path.as_str(), key.as_str()))?;
                    let value = value.map(|value| value.value().to_vec());
                    total += value.as_ref().map_or(0, |value| value.len() as u64);
                    if total > quota.answer {
                        return Ok(Err(total));
                    }
                    values.push(value);
                }
                Ok(Ok(values))
            })?;
            values.map_err(|_| KvError::Limit {
                limit: "keyvalue-answer",
                detail: format!(
                    "the values of {} keys are over the {} one answer may hold",
                    keys.len(),
                    crate::text::format_size(quota.answer)
                ),
            })
        })
    }

    fn set_many<'a>(
        &'a self,
        bucket: &'a BucketId,
        pairs: Vec<(String, Vec<u8>)>,
        quota: Quota,
    ) -> KvFuture<'a, Option<Usage>> {
        let bucket = bucket.clone();
        Box::pin(async move {
            self.write_blocking(move |store| store.set_many_now(&bucket, &pairs, quota))
                .await
                .map(Some)
        })
    }

    fn delete_many<'a>(
        &'a self,
        bucket: &'a BucketId,
        keys: Vec<String>,
    ) -> KvFuture<'a, Option<Usage>> {
        let bucket = bucket.clone();
        Box::pin(async move {
            self.write_blocking(move |store| store.delete_many_now(&bucket, &keys)).await.map(Some)
        })
    }

    fn list<'a>(
        &'a self,
        bucket: &'a BucketId,
        cursor: Option<&'a str>,
        quota: Quota,
    ) -> KvFuture<'a, (Vec<String>, Option<String>)> {
        Box::pin(async move {
            let path = bucket.path();
            self.read(|tx| {
                let entries = tx.open_table(ENTRIES)?;
                let start = match cursor {
                    Some(cursor) => Bound::Excluded((path.as_str(), cursor)),
                    None => Bound::Included((path.as_str(), "")),
                };
                let mut keys = Vec::new();
                let mut total = 0u64;
                for entry in entries.range((start, Bound::Unbounded))? {
                    let (key, _) = entry?;
                    let (owner, key) = key.value();
                    if owner != path {
                        break;
                    }
                    // A key costs its bytes and a little for its framing.
                    total += key.len() as u64 + 16;
                    if total > quota.answer && !keys.is_empty() {
                        let next = keys.last().cloned();
                        return Ok((keys, next));
                    }
                    keys.push(key.to_owned());
                }
                Ok((keys, None))
            })
        })
    }

    fn increment<'a>(
        &'a self,
        bucket: &'a BucketId,
        key: &'a str,
        delta: i64,
        quota: Quota,
    ) -> KvFuture<'a, (i64, Option<Usage>)> {
        let (bucket, key) = (bucket.clone(), key.to_owned());
        Box::pin(async move {
            let (sum, usage) = self
                .write_blocking(move |store| store.increment_now(&bucket, &key, delta, quota))
                .await?;
            Ok((sum, Some(usage)))
        })
    }

    fn current<'a>(&'a self, bucket: &'a BucketId, key: &'a str) -> KvFuture<'a, Current> {
        Box::pin(async move {
            let value = self.get(bucket, key).await?;
            Ok(Current { value, revision: 0 })
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
        let (bucket, key) = (bucket.clone(), key.to_owned());
        Box::pin(async move {
            self.write_blocking(move |store| {
                store.swap_now(&bucket, &key, expected.value.as_deref(), &value, quota)
            })
            .await
            .map(Some)
        })
    }

    fn buckets(&self) -> KvFuture<'_, Vec<BucketId>> {
        Box::pin(async move {
            self.read(|tx| {
                let entries = tx.open_table(ENTRIES)?;
                let mut buckets: Vec<BucketId> = Vec::new();
                let mut next: Option<String> = None;
                // One seek per bucket: after each, to the least path past
                // its own (no path holds a NUL).
                loop {
                    let mut range = match &next {
                        Some(past) => entries
                            .range((Bound::Included((past.as_str(), "")), Bound::Unbounded))?,
                        None => entries.range(..)?,
                    };
                    let Some(entry) = range.next() else { break };
                    let (key, _) = entry?;
                    let path = key.value().0.to_owned();
                    if let Some(bucket) = BucketId::from_path(&path) {
                        buckets.push(bucket);
                    }
                    next = Some(format!("{path}\0"));
                }
                Ok(buckets)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_increments_each_count_once() {
        let dir = std::env::temp_dir().join(format!("witplug-embedded-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Embedded::open(dir.join("kv.redb")).unwrap();
        let quota = Quota::of(&crate::Limits::default());
        let bucket = BucketId::of_plugin("p", "b");
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        store.increment_now(&bucket, "n", 1, quota).unwrap();
                    }
                });
            }
        });
        let (sum, usage) = store.increment_now(&bucket, "n", 0, quota).unwrap();
        assert_eq!(sum, 400);
        assert_eq!(usage, Usage { bytes: 4, keys: 1 });
        assert_eq!(store.usage("p").unwrap(), usage);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
