//! Reading the files of a plugins folder safely: only regular files are
//! opened, a file over its size limit is refused from its metadata before
//! anything is read, and a read stops at the limit even if the file grows
//! meanwhile. A FIFO, a device or a huge file can neither hang nor swamp
//! the host.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// The default of [`HostBuilder::max_file_size`](crate::HostBuilder::max_file_size): well above the largest
/// components standard toolchains build (a Python plugin is about 18 MB).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 256 << 20;

/// Reads the regular file at `path` (following a symbolic link), at most
/// `limit` bytes; `Ok(None)` when there is no such file.
///
/// # Errors
///
/// [`Error::NotAFile`] for anything but a regular file, [`Error::TooLarge`]
/// A text file of at most `limit` bytes, or `None` when there is none:
/// read as plugin files are (a regular file only, never a FIFO or a
/// device), for the lock, keys and manifests that other crates read.
///
/// # Errors
///
/// [`Error::Io`], [`Error::NotAFile`] or [`Error::TooLarge`] naming the
/// file, or [`Error::Manifest`] when it is not UTF-8.
pub fn read_text_file(path: &Path, limit: u64) -> Result<Option<String>> {
    let Some(bytes) = read_if_present(path, limit)? else { return Ok(None) };
    String::from_utf8(bytes).map(Some).map_err(|_| Error::Manifest {
        path: path.to_owned(),
        reason: "it is not UTF-8 text".to_owned(),
    })
}

/// past `limit`, [`Error::Io`] when it cannot be read.
pub(crate) fn read_if_present(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    Ok(read_with_metadata(path, limit)?.map(|read| read.bytes))
}

/// A file's bytes, with its metadata as it was opened and as it was once
/// read: the two differ when the file changed while it was read.
#[derive(Debug)]
pub(crate) struct FileRead {
    pub bytes: Vec<u8>,
    pub before: Metadata,
    pub after: Metadata,
}

/// [`read_if_present`], with the file's metadata before and after.
pub(crate) fn read_with_metadata(path: &Path, limit: u64) -> Result<Option<FileRead>> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io(err)),
    };
    check(path, &metadata, limit)?;
    let file = open(path).map_err(io)?;
    // The file at `path` may have been swapped since the look above.
    let before = file.metadata().map_err(io)?;
    check(path, &before, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(before.len()).unwrap_or(0));
    (&mut &file).take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        // It grew while being read.
        return Err(Error::TooLarge { path: path.to_owned(), size: bytes.len() as u64, limit });
    }
    let after = file.metadata().map_err(io)?;
    Ok(Some(FileRead { bytes, before, after }))
}

/// [`read_if_present`], where a missing file is an error.
pub(crate) fn read(path: &Path, limit: u64) -> Result<FileRead> {
    read_with_metadata(path, limit)?.ok_or_else(|| Error::Io {
        path: path.to_owned(),
        source: std::io::ErrorKind::NotFound.into(),
    })
}

/// Refuses what is not a regular file, or is larger than `limit`.
fn check(path: &Path, metadata: &Metadata, limit: u64) -> Result<()> {
    if !metadata.is_file() {
        return Err(Error::NotAFile { path: path.to_owned(), kind: kind(metadata) });
    }
    if metadata.len() > limit {
        return Err(Error::TooLarge { path: path.to_owned(), size: metadata.len(), limit });
    }
    Ok(())
}

/// Opens without waiting: opening a FIFO for reading would otherwise block
/// until something writes to it.
#[cfg(unix)]
fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let nonblocking = rustix::fs::OFlags::NONBLOCK.bits();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(i32::try_from(nonblocking).unwrap_or(0))
        .open(path)
}

#[cfg(not(unix))]
fn open(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// What a file that is not a regular file is, in words.
fn kind(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    "not a regular file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = std::env::temp_dir().join(format!("witplug-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("small.wasm");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read(&file, 10).unwrap().bytes, b"0123456789");
        let err = read(&file, 9).unwrap_err();
        assert!(matches!(err, Error::TooLarge { size: 10, limit: 9, .. }), "{err}");
        let err = read(&dir, 100).unwrap_err();
        assert!(matches!(err, Error::NotAFile { kind: "a directory", .. }), "{err}");
        assert!(read_if_present(&dir.join("missing.wasm"), 100).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
