//! Bucket names and keys in the alphabets NATS allows: a JetStream bucket
//! name is `[A-Za-z0-9_-]+`, a key `[-/_=.A-Za-z0-9]+` that neither starts
//! nor ends with `.`. Plugin names and keys may hold anything, so each is
//! encoded, readably where it already fits.

use crate::kv::BucketId;

/// The JetStream bucket of `bucket`: `<prefix>_<plugin>__<bucket>`, the
/// plugin's name escaped (`_` and two hex digits for a byte outside
/// `[A-Za-z0-9-]`, so its escape never holds `__`); a shared bucket has an
/// empty plugin part: `<prefix>___<bucket>`.
pub(crate) fn bucket_name(prefix: &str, bucket: &BucketId) -> String {
    let mut name = format!("{prefix}_");
    for byte in bucket.plugin().unwrap_or_default().bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("_{byte:02x}"));
        }
    }
    name.push_str("__");
    name.push_str(bucket.name());
    name
}

/// A key as NATS keeps it: as it is when it holds only `[A-Za-z0-9_-]`,
/// otherwise `=` and its bytes in unpadded base64url (whose alphabet has
/// no `=`, so the two never meet).
pub(crate) fn encode_key(key: &str) -> String {
    let plain =
        !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        return key.to_owned();
    }
    let mut out = String::with_capacity(1 + key.len().div_ceil(3) * 4);
    out.push('=');
    for chunk in key.as_bytes().chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// The key `encoded` stands for; `None` for a NATS key witplug did not
/// write.
pub(crate) fn decode_key(encoded: &str) -> Option<String> {
    let Some(body) = encoded.strip_prefix('=') else {
        return Some(encoded.to_owned());
    };
    let mut bytes = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let value = ALPHABET.iter().position(|a| a == c)? as u32;
            n |= value << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            bytes.push((n >> (16 - 8 * i)) as u8);
        }
    }
    String::from_utf8(bytes).ok()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[cfg(test)]
mod tests {
    use super::*;

    fn nats_key(key: &str) -> bool {
        !key.is_empty()
            && !key.starts_with('.')
            && !key.ends_with('.')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
    }

    #[test]
    fn keys_round_trip_in_the_nats_alphabet() {
        for key in ["count", "", ".", "a.b", "héllo wörld", "=x", "a/b", "\0", "ab", "abc", "abcd"]
        {
            let encoded = encode_key(key);
            assert!(nats_key(&encoded), "{key:?} -> {encoded:?}");
            assert_eq!(decode_key(&encoded).as_deref(), Some(key), "{encoded}");
        }
        assert_eq!(encode_key("count-2_x"), "count-2_x");
        assert_eq!(decode_key("=A"), None);
    }

    #[test]
    fn bucket_names_keep_plugins_apart() {
        let name = |plugin: &str, bucket: &str| {
            bucket_name("witplug", &BucketId::of_plugin(plugin, bucket))
        };
        assert_eq!(name("kv-counter", "default"), "witplug_kv-counter__default");
        assert_eq!(name("a_b", "c"), "witplug_a_5fb__c");
        assert_ne!(name("a", "b__c"), name("a__b", "c"));
        assert_eq!(bucket_name("witplug", &BucketId::shared("team")), "witplug___team");
        let valid =
            |n: &str| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        assert!(valid(&name("ünï cödé.wasm", "x")));
    }
}
