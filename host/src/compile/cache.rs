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
//!
//! Here, the policy: when an entry is used, compiled, stored, refused or
//! pruned. Beside it: `records` (the MAC'd records and their checks),
//! `folder` (the folder as `witplug cache` administers it) and
//! `private_file` (the owner-checked, bounded reads and private writes).

mod folder;
mod private_file;
mod records;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::compile::fingerprint::Fingerprint;

use crate::digest::hex;
#[cfg(unix)]
use private_file::check_owner;
use private_file::{Synced, open_checked, read_entry, replace, unique_aside, write_private};
use records::{
    Binding, CHECKED_LEN, MAC_LEN, MAGIC, SEEN, SEEN_LEN, checked_path, checked_record, mac,
    mac_path, read_record, same, seen_record,
};

pub use folder::{CacheEntries, CacheFolder};

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
        folder::prune(&self.dir, max_age, max_total);
    }
}

/// The engine's compatibility hash, as 32 bytes stable across runs.
fn engine_hash(engine: &Engine) -> [u8; 32] {
    crate::digest::sha256_of_hash(&engine.precompile_compatibility_hash())
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
