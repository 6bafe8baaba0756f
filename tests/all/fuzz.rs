//! Random and mutated bytes as plugin files, random text as manifests: the
//! host returns one-line errors and never panics.
//!
//! The cases are seeded, so a failure repeats. `WITPLUG_FUZZ_CASES` and
//! `WITPLUG_FUZZ_SEED` run more or other cases; CI runs the bounded default.

use std::time::Duration;

use witplug_host::{Host, Limits, Manifest, config::LimitsSpec};

use crate::support::{Scratch, fixture};

/// A small, seeded xorshift generator: reproducible without a dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn from_env() -> Self {
        let seed = std::env::var("WITPLUG_FUZZ_SEED").ok().and_then(|s| s.parse().ok());
        Self(seed.unwrap_or(0x5eed_cafe_f00d_d00d) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

pub(crate) fn cases(default: usize) -> usize {
    std::env::var("WITPLUG_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// One random change to a valid component.
fn mutate(original: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = original.to_vec();
    match rng.below(6) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        1 => bytes.truncate(rng.below(bytes.len())),
        2 => {
            let at = rng.below(bytes.len());
            let len = 1 + rng.below(64);
            let junk = rng.bytes(len);
            bytes.splice(at..at, junk);
        }
        3 => {
            let at = rng.below(bytes.len());
            let span = 1 + rng.below(256);
            let end = (at + span).min(bytes.len());
            let junk = rng.bytes(end - at);
            bytes.splice(at..end, junk);
        }
        4 => {
            // A plausible header over random contents.
            bytes = b"\0asm\x0d\0\x01\0".to_vec();
            let len = rng.below(4096);
            bytes.extend(rng.bytes(len));
        }
        _ => {
            let len = rng.below(4096);
            bytes = rng.bytes(len);
        }
    }
    bytes
}

#[tokio::test]
async fn random_and_mutated_plugin_files_are_errors_never_panics() {
    let original = std::fs::read(fixture("counter")).unwrap();
    let mut rng = Rng::from_env();
    let dir = Scratch::new();
    let mut limits = Limits::default();
    limits.deadline = Duration::from_millis(200);
    let host = Host::builder().limits(limits).build().unwrap();
    let (mut loaded, mut refused) = (0, 0);
    for case in 0..cases(200) {
        let path = dir.write(&format!("case-{case}.wasm"), mutate(&original, &mut rng));
        match host.load_file(&path).await {
            Ok(plugin) => {
                loaded += 1;
                // Whatever the mutation did, a call ends with an answer or
                // an error, within the deadline.
                let _ = plugin.handle("x").await;
            }
            Err(err) => {
                refused += 1;
                let message = err.to_string();
                assert!(!message.contains('\n'), "case {case}: not one line: {message}");
                assert!(message.contains(&format!("case-{case}")), "case {case}: {message}");
            }
        }
    }
    assert!(refused > 0 && loaded + refused == cases(200));
}

#[test]
fn random_manifest_text_is_an_error_never_a_panic() {
    const PIECES: &[&str] = &[
        "[config]",
        "[grants]",
        "[limits]",
        "[[grants.dirs]]",
        "memory",
        "deadline",
        "fuel",
        "stack",
        "tools",
        "publish",
        "env",
        "host",
        "guest",
        "mode",
        "sha256",
        "log-lines",
        " = ",
        "\"16 MiB\"",
        "\"-1\"",
        "\"500 ms\"",
        "-1",
        "0",
        "1e400",
        "99999999999999999999",
        "true",
        "[\"a\", \"b\"]",
        "{ x = 1 }",
        "\"read-write\"",
        "\"\\u0000\"",
        "\n",
        "\n",
        "#",
        "'''",
        "\"",
        "=",
        ".",
        "é",
        "\u{1F600}",
    ];
    let mut rng = Rng::from_env();
    for case in 0..cases(3000) {
        let mut text = String::new();
        for _ in 0..rng.below(24) {
            if rng.below(8) == 0 {
                let len = rng.below(8);
                text.push_str(&String::from_utf8_lossy(&rng.bytes(len)));
            } else {
                text.push_str(PIECES[rng.below(PIECES.len())]);
            }
        }
        match Manifest::parse(&text) {
            Ok(manifest) => {
                // What parses must still resolve to limits or a clear error.
                let resolved = Limits::resolve(
                    &Limits::default(),
                    &Limits::default_ceilings(),
                    &manifest.limits,
                );
                if let Err(reason) = resolved {
                    assert!(!reason.contains('\n'), "case {case}: {reason}");
                }
            }
            Err(reason) => assert!(!reason.contains('\n'), "case {case}: {text:?}: {reason}"),
        }
    }
}

#[test]
fn extreme_limit_values_are_refused_or_kept() {
    for text in [
        "memory = \"18446744073709551615 GiB\"",
        "memory = 9223372036854775807",
        "deadline = \"1e300 s\"",
        "stack = \"0 B\"",
        "fuel = -5",
        "log-lines = 1.5",
    ] {
        if let Ok(spec) = toml::from_str::<LimitsSpec>(text) {
            let _ = Limits::resolve(&Limits::default(), &Limits::default_ceilings(), &spec);
        }
    }
}
