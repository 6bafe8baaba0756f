//! The content store: every blob fetched (plugins, their manifests, the
//! artifacts' manifests, signatures) kept by its digest, so that `witplug
//! install` reproduces a lock offline and a host starting from a lock
//! verifies what it runs without a network. A blob is written aside and
//! renamed in once its digest is checked; a blob read back is checked
//! again.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::client::sha256_digest;
use crate::reference::is_digest;
use crate::{Error, Result};

/// A folder of blobs by digest: `DIR/blobs/sha256/<hex>`.
#[derive(Debug, Clone)]
pub struct ContentStore {
    dir: PathBuf,
}

impl ContentStore {
    /// The store in `dir` (made on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob `digest` lives.
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        if !is_digest(digest) {
            return Err(Error::file(
                &self.dir,
                format!("`{}` is not a sha256 digest", witplug_host::text::sanitize(digest, 80)),
            ));
        }
        Ok(self.dir.join("blobs/sha256").join(&digest["sha256:".len()..]))
    }

    /// Whether it holds `digest` (not checked: [`ContentStore::get`] checks).
    pub fn has(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|path| path.is_file())
    }

    /// Keeps `bytes`; returns their digest.
    pub fn put(&self, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        let path = self.path(&digest)?;
        if path.is_file() {
            return Ok(digest);
        }
        let tmp = self.scratch()?;
        let written = std::fs::File::create_new(&tmp)
            .and_then(|mut file| std::io::Write::write_all(&mut file, bytes));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::file(&tmp, err));
        }
        self.adopt(&tmp, &digest)?;
        Ok(digest)
    }

    /// A new path in the store's scratch folder, for a blob on its way in.
    pub fn scratch(&self) -> Result<PathBuf> {
        let dir = self.dir.join("tmp");
        std::fs::create_dir_all(&dir).map_err(|err| Error::file(&dir, err))?;
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(dir.join(format!("{}-{n}", std::process::id())))
    }

    /// Moves the checked file `tmp` in as `digest`.
    pub fn adopt(&self, tmp: &Path, digest: &str) -> Result<()> {
        let path = self.path(digest)?;
        let parent = path.parent().expect("a blob has a folder");
        std::fs::create_dir_all(parent).map_err(|err| Error::file(parent, err))?;
        std::fs::rename(tmp, &path).map_err(|err| {
            let _ = std::fs::remove_file(tmp);
            Error::file(&path, err)
        })
    }

    /// The blob `digest`, at most `limit` bytes, checked against its digest.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when the store does not hold it; [`Error::File`]
    /// when what it holds is not that blob.
    pub fn get(&self, digest: &str, limit: u64) -> Result<Vec<u8>> {
        let path = self.path(digest)?;
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    reference: digest.to_owned(),
                    reason: format!("not in the content store {}", self.dir.display()),
                });
            }
            Err(err) => return Err(Error::file(&path, err)),
        };
        let mut bytes = Vec::new();
        file.take(limit + 1).read_to_end(&mut bytes).map_err(|err| Error::file(&path, err))?;
        if bytes.len() as u64 > limit {
            return Err(Error::file(&path, format!("it is over {limit} bytes")));
        }
        if sha256_digest(&bytes) != digest {
            return Err(Error::file(
                &path,
                "its content is not the blob it is named for (changed on disk)",
            ));
        }
        Ok(bytes)
    }
}
