//! The precompiled cache: compiled components on disk, so that a second
//! start loads plugins without compiling them.
//!
//! A cache file is named after the SHA-256 of the component and the
//! engine's compatibility hash, so a changed plugin or a different wasmtime
//! or configuration never finds a stale entry. The name is only a lookup:
//! what binds an entry to its component is its MAC, an HMAC-SHA256 keyed
//! by a secret kept beside the cache folder (never in it), over the
//! component's hash, the engine's hash and the compiled code. An entry
//! copied over another's name, edited, truncated, or written by anyone
//! without the key is compiled again and replaced, never loaded.
//!
//! Entries are opened without following links, and only a regular file
//! that this user owns, that others cannot write and that is within a
//! size bound is read, once. They are written `0600`, and the oldest are
//! pruned past an age or a total size.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Marks a witplug cache file; the version changes with the file layout.
const MAGIC: &[u8; 16] = b"witplug-cache-2\0";

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
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            pruned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    /// The component for `bytes`: from the cache when it holds a good
    /// entry, otherwise compiled and written to the cache.
    pub fn component(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        let key = match self.check_folder().and_then(|()| self.key()) {
            Ok(key) => key,
            Err(reason) => {
                tracing::warn!(target: "witplug::host", folder = %self.dir.display(), "cache not used: {reason}");
                return Component::new(engine, bytes);
            }
        };
        let binding =
            Binding { component: Sha256::digest(bytes).into(), engine: engine_hash(engine) };
        let path = self.dir.join(format!(
            "{}-{}.cwasm",
            hex(&binding.component),
            hex(&binding.engine[..8])
        ));
        match read_entry(&path) {
            Ok(Some(file)) => match load(engine, &key, &binding, &file) {
                Some(component) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
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
                write_private(&tmp, &key).map_err(shown)?;
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
        let mut file = Vec::with_capacity(MAGIC.len() + 32 + code.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&mac(key, binding, &code));
        file.extend_from_slice(&code);
        // Written aside, then renamed: a reader never sees half a file.
        let tmp = unique_aside(path);
        write_private(&tmp, &file)?;
        if let Err(err) = std::fs::rename(&tmp, path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(err.into());
        }
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
/// let cache = witplug_host::CacheFolder::new("/home/me/.cache/witplug");
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
    removed
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
    const BLOCK: usize = 64;
    let mut inner_key = [0x36u8; BLOCK];
    let mut outer_key = [0x5cu8; BLOCK];
    for (i, byte) in key.iter().enumerate() {
        inner_key[i] ^= byte;
        outer_key[i] ^= byte;
    }
    let mut inner = Sha256::new();
    inner.update(inner_key);
    inner.update(binding.component);
    inner.update(binding.engine);
    inner.update(code);
    let mut outer = Sha256::new();
    outer.update(outer_key);
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The component in a cache file, or `None` when the file is not this
/// key's entry for this component and engine.
fn load(engine: &Engine, key: &[u8; 32], binding: &Binding, file: &[u8]) -> Option<Component> {
    let rest = file.strip_prefix(MAGIC.as_slice())?;
    let (tag, code) = rest.split_at_checked(32)?;
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

/// The entry at `path`, read once from a checked open file; `Ok(None)`
/// when there is none, `Err` naming the check it failed.
fn read_entry(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let Some(file) = open_checked(path)? else { return Ok(None) };
    // A hit keeps the entry young for pruning (on the file checked, not
    // on whatever the path names now).
    let _ = file.set_modified(SystemTime::now());
    let len = file.metadata().map_err(|err| err.to_string())?.len();
    if len > MAX_ENTRY {
        return Err(format!("it is over {MAX_ENTRY} bytes"));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_ENTRY + 1).read_to_end(&mut bytes).map_err(|err| err.to_string())?;
    if bytes.len() as u64 > MAX_ENTRY {
        return Err("it grew while read".to_owned());
    }
    Ok(Some(bytes))
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
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
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
