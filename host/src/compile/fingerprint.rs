//! What a file was when last read, so that reading it again can be skipped:
//! its device, inode, size, and its modification and change times.
//!
//! The change time (ctime) is set by the kernel on every write, rename,
//! link and metadata change, and cannot be set back by an unprivileged
//! process, so a file whose fingerprint is unchanged holds the bytes it held
//! when the fingerprint was taken. Two guards keep that true: a fingerprint
//! is taken before and after a read and kept only when both agree (the file
//! did not change while read), and only once the file's last change is
//! [`SETTLED`] in the past (a write in the same clock tick as the read
//! would leave ctime as it was).

use std::fs::Metadata;
use std::time::{Duration, SystemTime};

/// How old a file's last change must be before its fingerprint is trusted:
/// far above the coarsest timestamp granularity of the file systems the
/// host runs on.
pub(crate) const SETTLED: Duration = Duration::from_secs(1);

/// A file's identity and version, as its metadata gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    device: u64,
    inode: u64,
    size: u64,
    modified: i128,
    changed: i128,
}

impl Fingerprint {
    /// The fingerprint of a file's `metadata`; `None` where the platform
    /// gives no change time (the caller then reads the file).
    #[cfg(unix)]
    pub fn of(metadata: &Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let nanos =
            |seconds: i64, nanos: i64| i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
        Some(Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: nanos(metadata.mtime(), metadata.mtime_nsec()),
            changed: nanos(metadata.ctime(), metadata.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    pub fn of(_metadata: &Metadata) -> Option<Self> {
        None
    }

    /// The fingerprint of a file read between `before` and `after`, if the
    /// file did not change while read and its last change is settled.
    pub fn settled(before: &Metadata, after: &Metadata) -> Option<Self> {
        let (before, after) = (Self::of(before)?, Self::of(after)?);
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).ok()?.as_nanos();
        let settled = i128::try_from(now).ok()? - SETTLED.as_nanos() as i128;
        (before == after && before.changed < settled).then_some(before)
    }

    /// The file's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The device and inode, which name a file's record.
    pub fn identity(&self) -> (u64, u64) {
        (self.device, self.inode)
    }

    /// The bytes a record binds.
    pub fn to_bytes(self) -> [u8; 48] {
        let mut bytes = [0u8; 48];
        bytes[..8].copy_from_slice(&self.device.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.inode.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.size.to_le_bytes());
        // Times fit 64 bits of nanoseconds until 2262.
        bytes[24..32].copy_from_slice(&(self.modified as u64).to_le_bytes());
        bytes[32..40].copy_from_slice(&(self.changed as u64).to_le_bytes());
        bytes[40..48].copy_from_slice(b"witplug\0");
        bytes
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_write_changes_the_fingerprint_and_a_fresh_file_is_not_settled() {
        let dir = std::env::temp_dir().join(format!("witplug-fingerprint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("file");
        std::fs::write(&path, b"one").unwrap();
        let first = std::fs::metadata(&path).unwrap();
        assert_eq!(Fingerprint::settled(&first, &first), None, "changed just now");
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, b"two").unwrap();
        let second = std::fs::metadata(&path).unwrap();
        assert_ne!(Fingerprint::of(&first), Fingerprint::of(&second), "same size, new ctime");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
