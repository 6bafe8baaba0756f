//! The embedded store: every bucket of a host in one redb database file,
//! one table of entries keyed by (bucket, key) and one of each account's
//! usage, changed in the same transaction as the entries.
//!
//! Each write is its own transaction, committed with redb's default
//! durability (synced to disk before `commit` returns), so a write whose
//! call returned survives a crash. The file is opened for several writing
//! processes at once (`ConcurrencyMode::MultiWriter`), so `witplug kv` can
//! read and change a running host's state; redb serialises their
//! transactions with a lock on the file.
//!
//! That lock is another process's to hold: one stopped mid-write (SIGSTOP)
//! holds it for as long as it is stopped. So no write waits for it on an
//! async worker: writes go to the store's one writer thread (a thread of
//! its own, which the process never waits for when it exits), and the
//! caller awaits the answer for at most the store's wait bound
//! ([`Embedded::wait`], 5 s by default) — and no longer than its own
//! call's deadline, which drops the wait. Reads run where they are called,
//! as a read of a page the kernel caches: a read transaction never waits
//! for a writer, only for the moment a peer rewrites the file's header
//! (a hop to another thread for every read would cost more than the read).
//! The writer
//! takes the lock without blocking (`try_begin_write`, polled), gives up
//! when nobody waits any more or the bound passes, and never begins to
//! commit a write whose caller has gone. (A commit already under way when
//! the caller's deadline passes, a sync to a slow disk, say, completes: such
//! a write's outcome is unknown to its caller, as with any store.)
//!
//! One open of a file is under way at a time in a process: a caller that
//! comes while an earlier open still waits for the file is told so at once,
//! rather than starting another thread that would wait too.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{
    ConcurrencyMode, Database, ReadableDatabase, ReadableTable, TableDefinition, TransactionError,
    WriteTransaction,
};

use super::{BucketId, Current, KeyValue, KvError, KvFuture, Quota, Usage};
use crate::offload::{Offload, Offloaded};

/// Entries: (bucket path, key) to value.
const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
/// Usage: account to (bytes, keys).
const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage");

/// How long an operation waits on the file by default.
const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// Every bucket in one redb database file.
///
/// ```no_run
/// # async fn run() -> Result<(), witplug_host::kv::KvError> {
/// use witplug_host::{kv::BucketId, kv::Embedded, kv::KeyValue, Limits, kv::Quota};
///
/// let store = Embedded::open_within("/var/lib/witplug/keyvalue.redb", Embedded::DEFAULT_WAIT).await?;
/// let bucket = BucketId::of_plugin("kv-counter", "default");
/// let count = store.get(&bucket, "count").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Embedded {
    path: PathBuf,
    db: Arc<Database>,
    threads: Arc<Threads>,
    wait: Duration,
}

/// The store's own threads: one writer.
#[derive(Debug)]
struct Threads {
    writer: Offload,
}

/// A failure of the database, naming its file (not its folder: the plugin
/// sees the message).
fn unavailable(path: &Path) -> impl Fn(redb::Error) -> KvError + '_ {
    move |err| {
        tracing::warn!(target: "witplug::host", file = %path.display(), "key-value store: {err}");
        KvError::Unavailable(format!("{}: {err}", file_name(path)))
    }
}

/// The file's name, without its folder.
fn file_name(path: &Path) -> String {
    let file = path.file_name().map_or(path.as_os_str(), |name| name);
    Path::new(file).display().to_string()
}

impl Embedded {
    /// How long an operation waits on the file unless told otherwise.
    pub const DEFAULT_WAIT: Duration = DEFAULT_WAIT;

    /// Opens the database at `path`, creating it (and its folder) if need
    /// be. The whole file is checked on open: a corrupt file is an error,
    /// not a crash. This blocks the thread while another process writes to
    /// the file; [`Embedded::open_within`] waits a bounded time instead.
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
        let threads = Threads { writer: Offload::start("witplug-kv-writer", 1, 1024) };
        // The tables exist from the start, so reads never find them missing.
        let store = Self { path, db: Arc::new(db), threads: Arc::new(threads), wait: DEFAULT_WAIT };
        store.write(&|| true, |tx| {
            tx.open_table(ENTRIES)?;
            tx.open_table(USAGE)?;
            Ok(())
        })?;
        Ok(store)
    }

    /// [`Embedded::open`] on a thread of its own, waited for at most
    /// `wait` (which also becomes the store's [`Embedded::wait`]): a file
    /// another process holds is one line saying so, not a hang.
    ///
    /// # Errors
    ///
    /// As for [`Embedded::open`], and [`KvError::Unavailable`] when the
    /// open did not end within `wait`.
    pub async fn open_within(path: impl Into<PathBuf>, wait: Duration) -> Result<Self, KvError> {
        static OPENING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
        let opening = || OPENING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let path = path.into();
        {
            let mut under_way = opening();
            if under_way.contains(&path) {
                return Err(KvError::Unavailable(format!(
                    "{}: an earlier open still waits for another process to let the database go",
                    path.display()
                )));
            }
            under_way.push(path.clone());
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let file = path.clone();
        let spawned =
            std::thread::Builder::new().name("witplug-kv-open".to_owned()).spawn(move || {
                let opened = std::panic::catch_unwind(|| Embedded::open(file.clone()))
                    .unwrap_or_else(|_| Err(KvError::Unavailable("the open panicked".to_owned())));
                opening().retain(|other| *other != file);
                let _ = answer.send(opened);
            });
        if let Err(err) = spawned {
            opening().retain(|other| *other != path);
            return Err(KvError::Unavailable(format!("{}: {err}", path.display())));
        }
        match tokio::time::timeout(wait, answered).await {
            Ok(Ok(opened)) => opened.map(|store| store.with_wait(wait)),
            Ok(Err(_)) => Err(KvError::Unavailable(format!("{}: the open failed", path.display()))),
            Err(_) => Err(KvError::Unavailable(format!(
                "{}: another process holds the database (it was not free within {wait:?})",
                path.display()
            ))),
        }
    }

    /// The store waiting at most `wait` for the file in each operation.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// How long one operation waits for the file at most.
    pub fn wait(&self) -> Duration {
        self.wait
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
        let fail = |err: redb::Error| unavailable(&self.path)(err);
        let tx = self.db.begin_read().map_err(|err| fail(err.into()))?;
        let table = tx.open_table(USAGE).map_err(|err| fail(err.into()))?;
        read_usage(&table, account).map_err(|err| fail(err.into()))
    }

    /// Runs `f` in a read transaction.
    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, KvError> {
        let tx = self.db.begin_read().map_err(|err| unavailable(&self.path)(err.into()))?;
        f(&tx).map_err(unavailable(&self.path))
    }

    /// Runs a write on the writer thread; the caller waits at most the
    /// store's wait bound.
    async fn on_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Self, &dyn Fn() -> bool) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, KvError> {
        let store = self.clone();
        let answer =
            self.threads.writer.run_while(self.wait, move |waited| f(&store, waited)).await;
        answer.unwrap_or_else(|why| Err(self.gave_up("write", why)))
    }

    /// The error of an operation that got no answer.
    fn gave_up(&self, what: &str, why: Offloaded) -> KvError {
        let file = file_name(&self.path);
        KvError::Unavailable(match why {
            Offloaded::TimedOut => format!(
                "{file}: the {what} got no answer within {:?} (another process may hold the file)",
                self.wait
            ),
            Offloaded::Busy => format!("{file}: too many operations wait for the store"),
            Offloaded::Failed => format!("{file}: the {what} panicked"),
        })
    }

    /// The write lock, taken without blocking: polled until it is free,
    /// nobody waits any more, or the wait bound passes.
    fn begin_write(&self, waited: &dyn Fn() -> bool) -> Result<WriteTransaction, KvError> {
        let started = Instant::now();
        let mut pause = Duration::from_micros(50);
        loop {
            match self.db.try_begin_write() {
                Ok(tx) => return Ok(tx),
                Err(TransactionError::WouldBlock) => {}
                Err(err) => return Err(unavailable(&self.path)(err.into())),
            }
            if !waited() {
                return Err(KvError::Unavailable(format!(
                    "{}: the call ended before the write lock was free",
                    file_name(&self.path)
                )));
            }
            if started.elapsed() >= self.wait {
                return Err(KvError::Unavailable(format!(
                    "{}: another process holds its write lock (waited {:?})",
                    file_name(&self.path),
                    self.wait
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// Runs `f` in a write transaction and commits it, synced, unless `f`
    /// fails or nobody waits for it any more: then nothing of it is stored.
    fn write<T>(
        &self,
        waited: &dyn Fn() -> bool,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StepError>,
    ) -> Result<T, KvError> {
        let fail = unavailable(&self.path);
        let tx = self.begin_write(waited)?;
        match f(&tx) {
            Ok(_) if !waited() => {
                let _ = tx.abort();
                Err(KvError::Unavailable(format!(
                    "{}: the call ended before the write was committed; nothing was stored",
                    file_name(&self.path)
                )))
            }
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

    /// Changes `bucket`'s entries with `f` in one write transaction, and
    /// its account's usage with them: `f` gets the entries, the bucket's
    /// path and the usage before, and gives back the usage after and its
    /// result. Past `quota` (when one is given), nothing is stored.
    fn change<T>(
        &self,
        waited: &dyn Fn() -> bool,
        bucket: &BucketId,
        quota: Option<Quota>,
        f: impl FnOnce(&mut Entries<'_>, &str, Usage) -> Result<(Usage, T), StepError>,
    ) -> Result<(Usage, T), KvError> {
        let path = bucket.path();
        let account = bucket.account();
        self.write(waited, |tx| {
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
        waited: &dyn Fn() -> bool,
        bucket: &BucketId,
        pairs: &[(String, Vec<u8>)],
        quota: Quota,
    ) -> Result<Usage, KvError> {
        let (after, ()) =
            self.change(waited, bucket, Some(quota), |entries, path, mut usage| {
                for (key, value) in pairs {
                    let old = entries.insert((path, key.as_str()), value.as_slice())?;
                    usage = grow(usage, key, old.map(|old| old.value().len()), Some(value.len()));
                }
                Ok((usage, ()))
            })?;
        Ok(after)
    }

    fn delete_many_now(
        &self,
        waited: &dyn Fn() -> bool,
        bucket: &BucketId,
        keys: &[String],
    ) -> Result<Usage, KvError> {
        let (after, ()) = self.change(waited, bucket, None, |entries, path, mut usage| {
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
        waited: &dyn Fn() -> bool,
        bucket: &BucketId,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        quota: Quota,
    ) -> Result<Usage, KvError> {
        let (after, ()) = self.change(waited, bucket, Some(quota), |entries, path, usage| {
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
        waited: &dyn Fn() -> bool,
        bucket: &BucketId,
        key: &str,
        delta: i64,
        quota: Quota,
    ) -> Result<(i64, Usage), KvError> {
        let (after, sum) = self.change(waited, bucket, Some(quota), |entries, path, usage| {
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
            let (path, asked) = (bucket.path(), keys);
            let values = self.read(|tx| {
                let entries = tx.open_table(ENTRIES)?;
                let mut total = 0u64;
                let mut values = Vec::with_capacity(asked.len().min(1024));
                for key in asked {
                    // Every key asked costs its bytes and its framing,
                    // found or not: a long batch of missing keys is
                    // bounded too.
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
            self.on_writer(move |store, waited| store.set_many_now(waited, &bucket, &pairs, quota))
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
            self.on_writer(move |store, waited| store.delete_many_now(waited, &bucket, &keys))
                .await
                .map(Some)
        })
    }

    fn list<'a>(
        &'a self,
        bucket: &'a BucketId,
        cursor: Option<&'a str>,
        quota: Quota,
    ) -> KvFuture<'a, (Vec<String>, Option<String>)> {
        let path = bucket.path();
        Box::pin(std::future::ready(self.read(|tx| {
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
        })))
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
                .on_writer(move |store, waited| {
                    store.increment_now(waited, &bucket, &key, delta, quota)
                })
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
            self.on_writer(move |store, waited| {
                store.swap_now(waited, &bucket, &key, expected.value.as_deref(), &value, quota)
            })
            .await
            .map(Some)
        })
    }

    fn buckets(&self) -> KvFuture<'_, Vec<BucketId>> {
        Box::pin(std::future::ready(self.read(|tx| {
            let entries = tx.open_table(ENTRIES)?;
            let mut buckets: Vec<BucketId> = Vec::new();
            let mut next: Option<String> = None;
            // One seek per bucket: after each, to the least path past its
            // own (no path holds a NUL).
            loop {
                let mut range = match &next {
                    Some(past) => {
                        entries.range((Bound::Included((past.as_str(), "")), Bound::Unbounded))?
                    }
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
        })))
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
                        store.increment_now(&|| true, &bucket, "n", 1, quota).unwrap();
                    }
                });
            }
        });
        let (sum, usage) = store.increment_now(&|| true, &bucket, "n", 0, quota).unwrap();
        assert_eq!(sum, 400);
        assert_eq!(usage, Usage { bytes: 4, keys: 1 });
        assert_eq!(store.usage("p").unwrap(), usage);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
