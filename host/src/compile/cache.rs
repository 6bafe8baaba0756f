//! The precompiled cache: compiled components on disk, so that a second
//! start loads plugins without compiling them.
//!
//! A cache file is named after the SHA-256 of the component and the
//! engine's compatibility hash, so a changed plugin or a different wasmtime
//! or configuration never finds a stale entry. The name is only a lookup:
//! what binds an entry to its component is its MAC (in `<entry>.mac`
//! beside it: the entry itself is the compiled code as wasmtime wrote it,
//! so that it can be mapped rather than read), an HMAC-SHA256 keyed by a
//! secret kept beside the cache folder (never in it), over the component's
//! hash, the engine's hash and the compiled code. An entry
//! copied over another's name, edited, truncated, or written by anyone
//! without the key is compiled again and replaced, never loaded.
//!
//! Entries are opened without following links, and only a regular file
//! that this user owns, that others cannot write and that is within a
//! size bound is read, once. They are written `0600`, and the oldest are
//! pruned past an age or a total size.
//!
//! A load from the cache reads neither the plugin file nor the whole entry
//! once both are known, which is what keeps a cached load of an 18 MB
//! Python plugin within a few milliseconds: two small records, MAC'd with
//! the same key, stand for the work done before.
//! - `<device>-<inode>.seen` binds a plugin file's [`Fingerprint`] to the
//!   SHA-256 of the component it held when it was read and hashed;
//! - `<entry>.ok` binds an entry's fingerprint to its binding, once its MAC
//!   was checked over the whole file.
//!
//! A file whose fingerprint is unchanged has not been written since (see
//! `fingerprint`), so each record gives the guarantee the full read gave,
//! and any change to either file makes its record stale: the next load reads
//! and checks it whole again.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::compile::fingerprint::Fingerprint;

/// Marks an entry's `.mac` file; the version changes with the layout.
const MAGIC: &[u8; 16] = b"witplug-cache-3\0";

/// An entry's `.mac` file: its mark and the MAC.
const MAC_LEN: usize = 16 + 32;

/// Marks a record of what a plugin file held (`<device>-<inode>.seen`).
const SEEN: &[u8; 16] = b"witplug-seen-1\0\0";

/// Marks a record that an entry's MAC was checked (`<entry>.ok`).
const CHECKED: &[u8; 16] = b"witplug-ok-1\0\0\0\0";

/// A hit refreshes its entry's age for pruning at most this often: the
/// refresh changes the entry's ctime, and with it the entry's fingerprint,
/// so the next load checks the entry whole again.
const TOUCH_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The largest entry read: far above any plugin's compiled code.
const MAX_ENTRY: u64 = 1 << 30;

/// Entries unused for longer than this are pruned.
const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Past this total, the oldest entries are pruned.
const MAX_TOTAL: u64 = 4 << 30;

/// How a cache has served since the host started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct CacheStats {
    /// Components loaded from the cache without compiling.
    pub hits: u64,
    /// Of the hits, those that read neither the plugin file nor the whole
    /// entry: both were known, unchanged since they were last checked.
    pub unread: u64,
    /// Components compiled because the cache had no entry.
    pub misses: u64,
    /// Entries that failed a check (their MAC, owner, mode, kind or size),
    /// compiled again and replaced.
    pub rejected: u64,
}

/// A folder of compiled components.
#[derive(Debug)]
pub(crate) struct Cache {
    dir: PathBuf,
    key_file: PathBuf,
    hits: AtomicU64,
    unread: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    pruned: std::sync::atomic::AtomicBool,
}

/// What one component's entry is bound to.
struct Binding {
    component: [u8; 32],
    engine: [u8; 32],
}

impl Cache {
    /// The cache in `dir`, keyed by the secret in `<dir>.key` beside it.
    pub fn new(dir: PathBuf) -> Self {
        let mut key_file = dir.clone().into_os_string();
        key_file.push(".key");
        Self {
            dir,
            key_file: key_file.into(),
            hits: AtomicU64::new(0),
            unread: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            pruned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            unread: self.unread.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    /// The component a plugin file with fingerprint `file` holds, without
    /// reading that file or the whole entry: when this cache has a record
    /// of that very file (see the module's documentation), a checked entry
    /// for its component, and the component's hash is `pinned` (the
    /// SHA-256 a manifest names) if given. `None` sends the caller to read
    /// the file and [`Cache::component`].
    pub fn known(
        &self,
        engine: &Engine,
        file: &Fingerprint,
        pinned: Option<&str>,
    ) -> Option<Component> {
        self.check_folder().ok()?;
        let key = self.key().ok()?;
        let component = self.seen(&key, file)?;
        if pinned.is_some_and(|pinned| !hex(&component).eq_ignore_ascii_case(pinned)) {
            return None;
        }
        let binding = Binding { component, engine: engine_hash(engine) };
        let path = self.entry_path(&binding);
        let entry = open_checked(&path).ok()??;
        let metadata = entry.metadata().ok()?;
        let checked = Fingerprint::of(&metadata)?;
        let record = read_record::<{ CHECKED_LEN }>(&checked_path(&path))?;
        if record != checked_record(&key, &binding, &checked) {
            return None;
        }
        let component = deserialize_open(engine, &entry)?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.unread.fetch_add(1, Ordering::Relaxed);
        touch(&entry, &metadata);
        Some(component)
    }

    /// Records that the plugin file with fingerprint `file` holds the
    /// component whose SHA-256 is `component`, for [`Cache::known`].
    pub fn remember(&self, file: &Fingerprint, component: &[u8; 32]) {
        let Ok(key) = self.key() else { return };
        let record = seen_record(&key, file, component);
        let (device, inode) = file.identity();
        let path = self.dir.join(format!("{device:x}-{inode:x}.seen"));
        if let Err(err) = replace(&path, &record, Synced::No) {
            tracing::debug!(target: "witplug::host", file = %path.display(), "record not written: {err}");
        }
    }

    /// The component hash the record of `file` binds, if the record is
    /// this key's and for this very file.
    fn seen(&self, key: &[u8; 32], file: &Fingerprint) -> Option<[u8; 32]> {
        let (device, inode) = file.identity();
        let path = self.dir.join(format!("{device:x}-{inode:x}.seen"));
        let record = read_record::<{ SEEN_LEN }>(&path)?;
        let component: [u8; 32] = record[SEEN.len() + 48..][..32].try_into().ok()?;
        (record == seen_record(key, file, &component)).then_some(component)
    }

    fn entry_path(&self, binding: &Binding) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex(&binding.component), hex(&binding.engine[..8])))
    }

    /// The component for `bytes`, whose SHA-256 is `hash`: from the cache
    /// when it holds a good entry, otherwise compiled and written to the
    /// cache.
    pub fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        hash: [u8; 32],
    ) -> wasmtime::Result<Component> {
        let key = match self.check_folder().and_then(|()| self.key()) {
            Ok(key) => key,
            Err(reason) => {
                tracing::warn!(target: "witplug::host", folder = %self.dir.display(), "cache not used: {reason}");
                return Component::new(engine, bytes);
            }
        };
        let binding = Binding { component: hash, engine: engine_hash(engine) };
        let path = self.entry_path(&binding);
        match read_entry(&path) {
            Ok(Some(entry)) => match load(engine, &key, &binding, &path, &entry.bytes) {
                Some(component) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    // Checked whole: the next load need not, while the
                    // entry stays as it is.
                    let after = entry.file.metadata().ok();
                    let settled =
                        after.and_then(|after| Fingerprint::settled(&entry.before, &after));
                    if let Some(checked) = settled {
                        let record = checked_record(&key, &binding, &checked);
                        let _ = replace(&checked_path(&path), &record, Synced::No);
                    }
                    touch(&entry.file, &entry.before);
                    return Ok(component);
                }
                None => self.reject(&path, "its MAC does not match"),
            },
            Ok(None) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
            }
            Err(reason) => self.reject(&path, &reason),
        }
        let component = Component::new(engine, bytes)?;
        // A cache that cannot be written only costs the next start a compile.
        if let Err(err) = self.store(&path, &key, &binding, &component) {
            tracing::warn!(target: "witplug::host", file = %path.display(), "cache not written: {err}");
        }
        // Once per host: a start that compiles many plugins lists the
        // folder once, not once per plugin.
        if !self.pruned.swap(true, Ordering::Relaxed) {
            self.prune(MAX_AGE, MAX_TOTAL);
        }
        Ok(component)
    }

    fn reject(&self, path: &Path, reason: &str) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(target: "witplug::host", file = %path.display(), "cache entry rejected ({reason}): compiling again");
        // A link or a folder in an entry's place is removed, so the new
        // entry can be written.
        let _ = std::fs::remove_file(path).or_else(|_| std::fs::remove_dir_all(path));
        let _ = std::fs::remove_file(checked_path(path));
        let _ = std::fs::remove_file(mac_path(path));
    }

    /// Creates the folder private to this user, and refuses one that others
    /// could write: its files become native code in this process.
    fn check_folder(&self) -> Result<(), String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir);
            let meta = std::fs::symlink_metadata(&self.dir).map_err(|err| err.to_string())?;
            if !meta.is_dir() {
                return Err("it is not a folder (or is a link)".to_owned());
            }
            check_owner(&meta)?;
        }
        #[cfg(not(unix))]
        std::fs::create_dir_all(&self.dir).map_err(|err| err.to_string())?;
        Ok(())
    }

    /// The cache's secret key: read from its file, or made and written
    /// `0600` on first use. A key file others could read or write is
    /// refused, and the cache is not used.
    fn key(&self) -> Result<[u8; 32], String> {
        let shown = |err: std::io::Error| format!("{}: {err}", self.key_file.display());
        match open_checked(&self.key_file) {
            Ok(Some(mut file)) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::MetadataExt;
                    let mode = file.metadata().map_err(shown)?.mode();
                    if mode & 0o077 != 0 {
                        return Err(format!(
                            "{}: others can read or write the key (chmod 600)",
                            self.key_file.display()
                        ));
                    }
                }
                let mut key = [0u8; 32];
                file.read_exact(&mut key).map_err(shown)?;
                Ok(key)
            }
            Ok(None) => {
                let mut key = [0u8; 32];
                File::open("/dev/urandom")
                    .and_then(|mut r| r.read_exact(&mut key))
                    .map_err(shown)?;
                // Written aside, then linked in: two hosts starting at once
                // agree on the first key written.
                let tmp = unique_aside(&self.key_file);
                write_private(&tmp, &key, Synced::Yes).map_err(shown)?;
                let linked = std::fs::hard_link(&tmp, &self.key_file);
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => Ok(key),
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => self.key(),
                    Err(err) => Err(shown(err)),
                }
            }
            Err(reason) => Err(format!("{}: {reason}", self.key_file.display())),
        }
    }

    fn store(
        &self,
        path: &Path,
        key: &[u8; 32],
        binding: &Binding,
        component: &Component,
    ) -> wasmtime::Result<()> {
        let code = component.serialize()?;
        let mut tag = Vec::with_capacity(MAC_LEN);
        tag.extend_from_slice(MAGIC);
        tag.extend_from_slice(&mac(key, binding, &code));
        // Each written aside, then renamed: a reader never sees half a
        // file. The MAC first: an entry without its MAC is no entry.
        replace(&mac_path(path), &tag, Synced::Yes)?;
        replace(path, &code, Synced::Yes)?;
        Ok(())
    }

    /// Removes entries not used for `max_age`, then the oldest until the
    /// rest take at most `max_total` bytes.
    pub fn prune(&self, max_age: Duration, max_total: u64) {
        prune(&self.dir, max_age, max_total);
    }
}

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
fn entries(dir: &Path) -> Vec<(SystemTime, u64, PathBuf)> {
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
fn prune(dir: &Path, max_age: Duration, max_total: u64) -> CacheEntries {
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
fn prune_records(dir: &Path, max_age: Duration) {
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

/// The engine's compatibility hash, as 32 bytes stable across runs.
fn engine_hash(engine: &Engine) -> [u8; 32] {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.0.finalize().into()
}

/// HMAC-SHA256 (RFC 2104) over what binds an entry: the component's hash,
/// the engine's, then the compiled code.
fn mac(key: &[u8; 32], binding: &Binding, code: &[u8]) -> [u8; 32] {
    hmac(key, &[&binding.component, &binding.engine, code])
}

/// HMAC-SHA256 (RFC 2104) with a 32-byte key over `parts`, one after the
/// other.
fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut inner_key = [0x36u8; BLOCK];
    let mut outer_key = [0x5cu8; BLOCK];
    for (i, byte) in key.iter().enumerate() {
        inner_key[i] ^= byte;
        outer_key[i] ^= byte;
    }
    let mut inner = Sha256::new();
    inner.update(inner_key);
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(outer_key);
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// A `.seen` record: its mark, the plugin file's fingerprint, the
/// component's hash, and their MAC.
const SEEN_LEN: usize = 16 + 48 + 32 + 32;

fn seen_record(key: &[u8; 32], file: &Fingerprint, component: &[u8; 32]) -> [u8; SEEN_LEN] {
    let print = file.to_bytes();
    let mut record = [0u8; SEEN_LEN];
    record[..16].copy_from_slice(SEEN);
    record[16..64].copy_from_slice(&print);
    record[64..96].copy_from_slice(component);
    record[96..].copy_from_slice(&hmac(key, &[SEEN, &print, component]));
    record
}

/// A `.ok` record: its mark, the entry's fingerprint, and their MAC with
/// the entry's binding.
const CHECKED_LEN: usize = 16 + 48 + 32;

fn checked_record(key: &[u8; 32], binding: &Binding, entry: &Fingerprint) -> [u8; CHECKED_LEN] {
    let print = entry.to_bytes();
    let mut record = [0u8; CHECKED_LEN];
    record[..16].copy_from_slice(CHECKED);
    record[16..64].copy_from_slice(&print);
    let parts: [&[u8]; 4] = [CHECKED, &binding.component, &binding.engine, &print];
    record[64..].copy_from_slice(&hmac(key, &parts));
    record
}

/// The `.ok` record beside the entry at `entry`.
fn checked_path(entry: &Path) -> PathBuf {
    entry.with_extension("ok")
}

/// A record of exactly `N` bytes, read from a checked open file; `None`
/// when there is none or it is not such a file.
fn read_record<const N: usize>(path: &Path) -> Option<[u8; N]> {
    let mut file = open_checked(path).ok()??;
    let mut record = [0u8; N];
    file.read_exact(&mut record).ok()?;
    // Exactly N: a longer file is not a record.
    (file.read(&mut [0u8; 1]).ok()? == 0).then_some(record)
}

/// Writes `bytes` aside, then renames them in as `path`: a reader never
/// sees half a file. `synced` waits for the disk; a record need not (one
/// lost to a crash only costs a full read).
fn replace(path: &Path, bytes: &[u8], synced: Synced) -> std::io::Result<()> {
    let tmp = unique_aside(path);
    let written = write_private(&tmp, bytes, synced).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Whether a write waits until its bytes are on the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Synced {
    Yes,
    No,
}

/// Keeps an entry young for pruning: a hit sets its modification time, at
/// most once per [`TOUCH_AFTER`] (see there).
fn touch(entry: &File, metadata: &std::fs::Metadata) {
    let now = SystemTime::now();
    let modified = metadata.modified().unwrap_or(now);
    if now.duration_since(modified).unwrap_or_default() >= TOUCH_AFTER {
        let _ = entry.set_modified(now);
    }
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The component in a cache file, or `None` when the file is not this
/// key's entry for this component and engine.
/// `path`'s entry `code`, when its `.mac` file holds this key's MAC of it
/// for this component and engine.
fn load(
    engine: &Engine,
    key: &[u8; 32],
    binding: &Binding,
    path: &Path,
    code: &[u8],
) -> Option<Component> {
    let tag = read_record::<MAC_LEN>(&mac_path(path))?;
    let tag = tag.strip_prefix(MAGIC.as_slice())?;
    if !same(&mac(key, binding, code), tag) {
        return None;
    }
    deserialize(engine, code)
}

/// The `.mac` file beside the entry at `entry`.
fn mac_path(entry: &Path) -> PathBuf {
    entry.with_extension("mac")
}

#[expect(
    unsafe_code,
    reason = "wasmtime trusts precompiled code; it is only given bytes this cache wrote for \
              this component and engine, checked against their MAC (wasmtime checks the engine \
              header itself)"
)]
fn deserialize(engine: &Engine, code: &[u8]) -> Option<Component> {
    // SAFETY: `code` is exactly what `Component::serialize` produced for
    // this component on this engine: its HMAC, keyed by a secret only this
    // user can read, matched. The cache folder and key are the host
    // operator's, like the host binary (SECURITY.md).
    unsafe { Component::deserialize(engine, code) }.ok()
}

/// The component in the open entry `entry`, mapped from the file rather
/// than read (on Linux, through the open descriptor, so the file mapped is
/// the one checked); read otherwise.
#[expect(
    unsafe_code,
    reason = "wasmtime trusts precompiled code; the entry's MAC was checked over the whole file \
              and the file has not changed since (its `.ok` record matched its fingerprint)"
)]
fn deserialize_open(engine: &Engine, entry: &File) -> Option<Component> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let through = PathBuf::from(format!("/proc/self/fd/{}", entry.as_raw_fd()));
        // SAFETY: `through` names the open entry, whose MAC (keyed by a
        // secret only this user can read) was checked over the whole file
        // for this component and engine, and whose fingerprint, ctime
        // included, is unchanged since: it holds what `Component::serialize`
        // wrote. The cache folder and key are the host operator's
        // (SECURITY.md).
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &through) } {
            return Some(component);
        }
    }
    let mut code = Vec::new();
    (&mut &*entry).take(MAX_ENTRY + 1).read_to_end(&mut code).ok()?;
    deserialize(engine, &code)
}

/// An entry read once from a checked open file, with the file and its
/// metadata before the read.
struct Entry {
    file: File,
    before: std::fs::Metadata,
    bytes: Vec<u8>,
}

/// The entry at `path`, read once from a checked open file; `Ok(None)`
/// when there is none, `Err` naming the check it failed.
fn read_entry(path: &Path) -> Result<Option<Entry>, String> {
    let Some(file) = open_checked(path)? else { return Ok(None) };
    let before = file.metadata().map_err(|err| err.to_string())?;
    let len = before.len();
    if len > MAX_ENTRY {
        return Err(format!("it is over {MAX_ENTRY} bytes"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    (&mut &file).take(MAX_ENTRY + 1).read_to_end(&mut bytes).map_err(|err| err.to_string())?;
    if bytes.len() as u64 > MAX_ENTRY {
        return Err("it grew while read".to_owned());
    }
    Ok(Some(Entry { file, before, bytes }))
}

/// Opens `path` for reading without following a link or waiting on a
/// FIFO, and checks the open file itself (not the path, which could be
/// swapped): a regular file this user owns, that others cannot write.
fn open_checked(path: &Path) -> Result<Option<File>, String> {
    let mut options = File::options();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        options.custom_flags(i32::try_from(flags.bits()).unwrap_or(0));
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot open it without following links: {err}")),
    };
    let meta = file.metadata().map_err(|err| err.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    #[cfg(unix)]
    check_owner(&meta)?;
    Ok(Some(file))
}

/// Refuses what another user owns, or what others may write.
#[cfg(unix)]
fn check_owner(meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err("another user owns it".to_owned());
    }
    if meta.mode() & 0o022 != 0 {
        return Err("others can write to it (chmod go-w)".to_owned());
    }
    Ok(())
}

/// A name beside `path` no other writer uses.
fn unique_aside(path: &Path) -> PathBuf {
    static WRITERS: AtomicU64 = AtomicU64::new(0);
    let writer = WRITERS.fetch_add(1, Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp{}-{writer}", std::process::id()));
    name.into()
}

/// Writes a new file only this user can read or write.
fn write_private(path: &Path, bytes: &[u8], synced: Synced) -> std::io::Result<()> {
    let mut options = File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    if synced == Synced::Yes {
        file.sync_all()?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `Hash` data into SHA-256, for a hash that is stable across runs.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_is_hmac_sha256_over_the_binding_then_the_code() {
        // RFC 4231, test case 2: the reference computation is right.
        let message = b"what do ya want for nothing?";
        assert_eq!(
            hex(&rfc_hmac(b"Jefe", message)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key shorter than a block is padded with zeros, so "Jefe" padded
        // to 32 bytes is the same key; the message is the binding, then the
        // code.
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let binding = Binding { component: [1; 32], engine: [2; 32] };
        let mut whole = vec![1u8; 32];
        whole.extend_from_slice(&[2; 32]);
        whole.extend_from_slice(message);
        assert_eq!(mac(&key, &binding, message), rfc_hmac(b"Jefe", &whole));
        let other = Binding { component: [3; 32], engine: [2; 32] };
        assert_ne!(mac(&key, &binding, message), mac(&key, &other, message));
    }

    /// HMAC-SHA256 for a short key and any message, with `mac`'s padding.
    fn rfc_hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, b) in key.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let inner = Sha256::new().chain_update(ipad).chain_update(message).finalize();
        Sha256::new().chain_update(opad).chain_update(inner).finalize().into()
    }

    #[test]
    fn comparison_needs_every_byte() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
