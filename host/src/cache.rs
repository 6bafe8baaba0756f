//! The precompiled cache: compiled components on disk, so that a second
//! start loads plugins without compiling them.
//!
//! A cache file is named after the SHA-256 of the component and the
//! engine's compatibility hash, so a changed plugin or a different wasmtime
//! or configuration never finds a stale entry. Each file starts with a
//! header and a SHA-256 of the compiled code; a file that is truncated,
//! corrupt or not ours is compiled again and replaced, never loaded.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Marks a witplug cache file; the version changes with the file layout.
const MAGIC: &[u8; 16] = b"witplug-cache-1\0";

/// How a cache has served since the host started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Components loaded from the cache without compiling.
    pub hits: u64,
    /// Components compiled because the cache had no entry.
    pub misses: u64,
    /// Entries that were corrupt or foreign, compiled again and replaced.
    pub rejected: u64,
}

/// A folder of compiled components.
#[derive(Debug)]
pub(crate) struct Cache {
    dir: PathBuf,
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
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
        if let Err(reason) = self.check_folder() {
            tracing::warn!(target: "witplug::host", folder = %self.dir.display(), "cache not used: {reason}");
            return Component::new(engine, bytes);
        }
        let path = self.entry_path(engine, bytes);
        match std::fs::read(&path) {
            Ok(file) => match load(engine, &file) {
                Some(component) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(component);
                }
                None => {
                    self.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "witplug::host", file = %path.display(), "cache entry rejected: compiling again");
                }
            },
            Err(_) => {
                self.misses.fetch_add(1, Ordering::Relaxed);
            }
        }
        let component = Component::new(engine, bytes)?;
        // A cache that cannot be written only costs the next start a compile.
        if let Err(err) = self.store(&path, &component) {
            tracing::warn!(target: "witplug::host", file = %path.display(), "cache not written: {err}");
        }
        Ok(component)
    }

    /// Creates the folder private to this user, and refuses one that others
    /// could write: its files become native code in this process.
    fn check_folder(&self) -> Result<(), String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, MetadataExt};
            let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir);
            let meta = std::fs::metadata(&self.dir).map_err(|err| err.to_string())?;
            if meta.mode() & 0o022 != 0 {
                return Err("others can write to it (chmod go-w)".to_owned());
            }
            if meta.uid() != rustix::process::geteuid().as_raw() {
                return Err("another user owns it".to_owned());
            }
        }
        #[cfg(not(unix))]
        std::fs::create_dir_all(&self.dir).map_err(|err| err.to_string())?;
        Ok(())
    }

    fn entry_path(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let mut engine_hash = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut engine_hash);
        let engine_hash = hex(&engine_hash.0.finalize()[..8]);
        self.dir.join(format!("{}-{engine_hash}.cwasm", hex(&Sha256::digest(bytes))))
    }

    fn store(&self, path: &Path, component: &Component) -> wasmtime::Result<()> {
        let code = component.serialize()?;
        let mut file = Vec::with_capacity(MAGIC.len() + 32 + code.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&Sha256::digest(&code));
        file.extend_from_slice(&code);
        std::fs::create_dir_all(&self.dir)?;
        // Written aside, then renamed: a reader never sees half a file.
        static WRITERS: AtomicU64 = AtomicU64::new(0);
        let writer = WRITERS.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{writer}", std::process::id()));
        std::fs::write(&tmp, &file)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// The component in a cache file, or `None` when the file is not a sound
/// entry for this engine.
fn load(engine: &Engine, file: &[u8]) -> Option<Component> {
    let rest = file.strip_prefix(MAGIC.as_slice())?;
    let (digest, code) = rest.split_at_checked(32)?;
    if Sha256::digest(code).as_slice() != digest {
        return None;
    }
    deserialize(engine, code)
}

#[expect(
    unsafe_code,
    reason = "wasmtime trusts precompiled code; it is only given bytes this cache wrote, \
              checked against their SHA-256 (wasmtime checks the engine header itself)"
)]
fn deserialize(engine: &Engine, code: &[u8]) -> Option<Component> {
    // SAFETY: `code` is exactly what `Component::serialize` produced for a
    // cache entry: its SHA-256 matched the one written with it. The cache
    // folder is the host operator's, like the host binary (SECURITY.md).
    unsafe { Component::deserialize(engine, code) }.ok()
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
