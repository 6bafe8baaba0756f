//! The cache's records, each MAC'd with the cache's key: an entry's `.mac`
//! (what binds compiled code to its component and engine), a plugin
//! file's `.seen` (the component it held) and an entry's `.ok` (its MAC was
//! checked over the whole file), and how they are read and compared.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::private_file::open_checked;
use crate::compile::fingerprint::Fingerprint;
use crate::digest::hmac_sha256;

/// Marks an entry's `.mac` file; the version changes with the layout.
pub(super) const MAGIC: &[u8; 16] = b"witplug-cache-3\0";

/// An entry's `.mac` file: its mark and the MAC.
pub(super) const MAC_LEN: usize = 16 + 32;

/// Marks a record of what a plugin file held (`<device>-<inode>.seen`).
pub(super) const SEEN: &[u8; 16] = b"witplug-seen-1\0\0";

/// Marks a record that an entry's MAC was checked (`<entry>.ok`).
pub(super) const CHECKED: &[u8; 16] = b"witplug-ok-1\0\0\0\0";

/// What one component's entry is bound to.
pub(super) struct Binding {
    pub(super) component: [u8; 32],
    pub(super) engine: [u8; 32],
}

/// HMAC-SHA256 (RFC 2104) over what binds an entry: the component's hash,
/// the engine's, then the compiled code.
pub(super) fn mac(key: &[u8; 32], binding: &Binding, code: &[u8]) -> [u8; 32] {
    hmac_sha256(key, &[&binding.component, &binding.engine, code])
}

/// A `.seen` record: its mark, the plugin file's fingerprint, the
/// component's hash, and their MAC.
pub(super) const SEEN_LEN: usize = 16 + 48 + 32 + 32;

pub(super) fn seen_record(
    key: &[u8; 32],
    file: &Fingerprint,
    component: &[u8; 32],
) -> [u8; SEEN_LEN] {
    let print = file.to_bytes();
    let mut record = [0u8; SEEN_LEN];
    record[..16].copy_from_slice(SEEN);
    record[16..64].copy_from_slice(&print);
    record[64..96].copy_from_slice(component);
    record[96..].copy_from_slice(&hmac_sha256(key, &[SEEN, &print, component]));
    record
}

/// A `.ok` record: its mark, the entry's fingerprint, and their MAC with
/// the entry's binding.
pub(super) const CHECKED_LEN: usize = 16 + 48 + 32;

pub(super) fn checked_record(
    key: &[u8; 32],
    binding: &Binding,
    entry: &Fingerprint,
) -> [u8; CHECKED_LEN] {
    let print = entry.to_bytes();
    let mut record = [0u8; CHECKED_LEN];
    record[..16].copy_from_slice(CHECKED);
    record[16..64].copy_from_slice(&print);
    let parts: [&[u8]; 4] = [CHECKED, &binding.component, &binding.engine, &print];
    record[64..].copy_from_slice(&hmac_sha256(key, &parts));
    record
}

/// The `.ok` record beside the entry at `entry`.
pub(super) fn checked_path(entry: &Path) -> PathBuf {
    entry.with_extension("ok")
}

/// The `.mac` file beside the entry at `entry`.
pub(super) fn mac_path(entry: &Path) -> PathBuf {
    entry.with_extension("mac")
}

/// A record of exactly `N` bytes, read from a checked open file; `None`
/// when there is none or it is not such a file.
pub(super) fn read_record<const N: usize>(path: &Path) -> Option<[u8; N]> {
    let mut file = open_checked(path).ok()??;
    let mut record = [0u8; N];
    file.read_exact(&mut record).ok()?;
    // Exactly N: a longer file is not a record.
    (file.read(&mut [0u8; 1]).ok()? == 0).then_some(record)
}

/// Compares in time independent of where the first difference is.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::digest::hex;

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
