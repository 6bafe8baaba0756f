//! Files only this user may have written: opened without following links
//! or waiting on a FIFO, checked on the open file (a regular file this
//! user owns, that others cannot write), read within a bound, and written
//! `0600` aside, then renamed in.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::MAX_ENTRY;

/// Writes `bytes` aside, then renames them in as `path`: a reader never
/// sees half a file. `synced` waits for the disk; a record need not (one
/// lost to a crash only costs a full read).
pub(super) fn replace(path: &Path, bytes: &[u8], synced: Synced) -> std::io::Result<()> {
    let tmp = unique_aside(path);
    let written = write_private(&tmp, bytes, synced).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Whether a write waits until its bytes are on the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Synced {
    Yes,
    No,
}

/// An entry read once from a checked open file, with the file and its
/// metadata before the read.
pub(super) struct Entry {
    pub(super) file: File,
    pub(super) before: std::fs::Metadata,
    pub(super) bytes: Vec<u8>,
}

/// The entry at `path`, read once from a checked open file; `Ok(None)`
/// when there is none, `Err` naming the check it failed.
pub(super) fn read_entry(path: &Path) -> Result<Option<Entry>, String> {
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
pub(super) fn open_checked(path: &Path) -> Result<Option<File>, String> {
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
pub(super) fn check_owner(meta: &std::fs::Metadata) -> Result<(), String> {
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
pub(super) fn unique_aside(path: &Path) -> PathBuf {
    static WRITERS: AtomicU64 = AtomicU64::new(0);
    let writer = WRITERS.fetch_add(1, Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp{}-{writer}", std::process::id()));
    name.into()
}

/// Writes a new file only this user can read or write.
pub(super) fn write_private(path: &Path, bytes: &[u8], synced: Synced) -> std::io::Result<()> {
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
