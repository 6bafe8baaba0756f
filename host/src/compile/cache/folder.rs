//! The cache folder as an operator administers it (`witplug cache`): what
//! it holds, and pruning by age and total size.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::records::{checked_path, mac_path};

/// A cache folder as an operator sees it (`witplug cache`): what it holds,
/// and emptying it. The entries a host would reject (not its own, edited,
/// another wasmtime's) are entries too: they count, and go.
///
/// ```no_run
/// use std::time::Duration;
/// let cache = witplug_host::cache::CacheFolder::new("/home/me/.cache/witplug");
/// let held = cache.held();
/// let removed = cache.prune(Duration::from_secs(7 * 24 * 3600), 1 << 30);
/// println!("{} entries, {} removed", held.entries, removed.entries);
/// ```
#[derive(Debug, Clone)]
pub struct CacheFolder {
    dir: PathBuf,
}

/// Entries of a cache folder, and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CacheEntries {
    /// Compiled components.
    pub entries: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl CacheFolder {
    /// The cache folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What it holds now.
    pub fn held(&self) -> CacheEntries {
        entries(&self.dir).iter().fold(CacheEntries::default(), |sum, (_, len, _)| CacheEntries {
            entries: sum.entries + 1,
            bytes: sum.bytes + len,
        })
    }

    /// Removes the entries not used for `max_age` (a hit refreshes an
    /// entry's age), then the oldest until the rest take at most
    /// `max_total` bytes; returns what it removed.
    pub fn prune(&self, max_age: Duration, max_total: u64) -> CacheEntries {
        prune(&self.dir, max_age, max_total)
    }

    /// Removes every entry; returns what it removed. The folder and the
    /// key beside it stay.
    pub fn clean(&self) -> CacheEntries {
        prune(&self.dir, Duration::ZERO, 0)
    }
}

/// The entries in `dir`: when each was last used, its size, its path.
pub(super) fn entries(dir: &Path) -> Vec<(SystemTime, u64, PathBuf)> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let now = SystemTime::now();
    let mut found = Vec::new();
    for entry in read.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        let modified = meta.modified().unwrap_or(now);
        let age = now.duration_since(modified).unwrap_or_default();
        // What a writer that died left aside.
        if path.to_string_lossy().contains(".tmp") && age > Duration::from_secs(3600) {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if meta.is_file() && path.extension().is_some_and(|ext| ext == "cwasm") {
            found.push((modified, meta.len(), path));
        }
    }
    found
}

/// Removes the entries of `dir` unused for `max_age`, then the oldest until
/// the rest take at most `max_total` bytes.
pub(super) fn prune(dir: &Path, max_age: Duration, max_total: u64) -> CacheEntries {
    let now = SystemTime::now();
    let mut removed = CacheEntries::default();
    let mut remove = |path: &Path, len: u64| {
        if std::fs::remove_file(path).is_ok() {
            removed.entries += 1;
            removed.bytes += len;
        }
        let _ = std::fs::remove_file(checked_path(path));
        let _ = std::fs::remove_file(mac_path(path));
    };
    let mut kept = Vec::new();
    for (modified, len, path) in entries(dir) {
        if now.duration_since(modified).unwrap_or_default() >= max_age {
            remove(&path, len);
        } else {
            kept.push((modified, len, path));
        }
    }
    kept.sort();
    let mut total: u64 = kept.iter().map(|(_, len, _)| len).sum();
    for (_, len, path) in kept {
        if total <= max_total {
            break;
        }
        remove(&path, len);
        total -= len;
    }
    prune_records(dir, max_age);
    removed
}

/// Removes the `.seen` records unused for `max_age` (each is rewritten
/// when its plugin file changes, so an old one may describe a file long
/// gone), and the `.ok` records and `.mac` files whose entry is gone.
pub(super) fn prune_records(dir: &Path, max_age: Duration) {
    let Ok(read) = std::fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    for entry in read.flatten() {
        let path = entry.path();
        let old = || {
            let modified = entry.metadata().and_then(|meta| meta.modified()).unwrap_or(now);
            now.duration_since(modified).unwrap_or_default() >= max_age
        };
        let stale = match path.extension().and_then(|ext| ext.to_str()) {
            Some("seen") => old(),
            Some("ok" | "mac") => !path.with_extension("cwasm").exists(),
            _ => false,
        };
        if stale {
            let _ = std::fs::remove_file(&path);
        }
    }
}
