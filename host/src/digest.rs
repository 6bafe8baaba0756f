//! SHA-256, spelled one way for the whole host: a file's digest as bytes
//! (the cache's key of a component) or as lowercase hex (a manifest's
//! `sha256`), a digest of `Hash` data stable across runs (the engine's
//! compatibility hash), and HMAC-SHA256 (the cache's records).

use std::hash::{Hash, Hasher};

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The SHA-256 of `bytes`, in lowercase hex, as a manifest's `sha256` names it.
pub fn hex_sha256(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

/// The SHA-256 of what `value` feeds a [`Hasher`]: stable across runs,
/// where `std`'s hashers are seeded.
pub(crate) fn sha256_of_hash(value: &impl Hash) -> [u8; 32] {
    let mut hasher = ShaHasher(Sha256::new());
    value.hash(&mut hasher);
    hasher.0.finalize().into()
}

/// HMAC-SHA256 (RFC 2104) with a 32-byte key over `parts`, one after the
/// other.
pub(crate) fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
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

/// `bytes` in lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
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
    fn the_digest_of_abc_is_the_standard_one() {
        assert_eq!(
            hex_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
