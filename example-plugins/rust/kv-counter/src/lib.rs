//! Shows state that lasts, through `witplug_sdk::kv` (the standard
//! `wasi:keyvalue`): an empty input counts in the bucket `default`, so
//! every instance of the plugin, every restart of the host and (on
//! JetStream) every host counts on the same number:
//!
//! ```text
//! $ witplug call kv-counter handle '""'      # with [grants] keyvalue = ["default"]
//! ok("1")
//! ```
//!
//! Any other input is one command, the protocol the Python `py-kv` and the
//! JavaScript `js-kv` share: an optional `@NAME ` picks bucket NAME, then
//! `incr KEY [DELTA]`, `get KEY`, `set KEY VALUE`, `delete KEY`,
//! `exists KEY`, `cas KEY OLD NEW`, `list`, `set-many K=V,K=V`,
//! `get-many K,K`, `delete-many K,K`, or `fill N SIZE` (N keys of SIZE
//! bytes, to meet the host's limits); and, in Rust alone, `noise N SIZE`
//! (N keys of SIZE bytes of binary noise) and `trap` (the instance traps;
//! the count does not care).

use witplug_sdk::kv::{self, Bucket};
use witplug_sdk::{Error, Plugin, Result};

#[derive(Default)]
struct KvCounter;

impl Plugin for KvCounter {
    fn handle(&mut self, input: &str) -> Result<String> {
        let (name, input) = match input.strip_prefix('@').and_then(|rest| rest.split_once(' ')) {
            Some((name, rest)) => (name, rest),
            None => ("default", input),
        };
        let bucket = kv::open(name)?;
        match input {
            "" => return Ok(bucket.increment("count", 1)?.to_string()),
            // For the tests: the state outlives an instance that traps.
            "trap" => panic!("asked to trap"),
            _ => {}
        }
        let (command, rest) = input.split_once(' ').unwrap_or((input, ""));
        run(&bucket, command, rest)
    }
}

fn usage(command: &str) -> Error {
    let usage = match command {
        "incr" => "incr KEY [DELTA]",
        "get" => "get KEY",
        "set" => "set KEY VALUE",
        "delete" => "delete KEY",
        "exists" => "exists KEY",
        "cas" => "cas KEY OLD NEW",
        "list" => "list",
        "set-many" => "set-many K1=V1,K2=V2",
        "get-many" => "get-many K1,K2",
        "delete-many" => "delete-many K1,K2",
        "fill" => "fill N SIZE",
        "noise" => "noise N SIZE",
        other => return Error::InvalidInput(format!("unknown command `{other}`")),
    };
    Error::InvalidInput(format!("usage: {usage}"))
}

/// The `count` space-separated arguments of `command`.
fn words<'a>(command: &str, rest: &'a str, count: usize) -> Result<Vec<&'a str>> {
    let found: Vec<&str> = if rest.is_empty() { Vec::new() } else { rest.split(' ').collect() };
    if found.len() != count || found.contains(&"") {
        return Err(usage(command));
    }
    Ok(found)
}

fn text(value: Option<&[u8]>) -> String {
    value.map_or_else(|| "(none)".to_owned(), |v| String::from_utf8_lossy(v).into_owned())
}

fn run(bucket: &Bucket, command: &str, rest: &str) -> Result<String> {
    match command {
        "incr" => {
            let args: Vec<&str> =
                if rest.is_empty() { Vec::new() } else { rest.split(' ').collect() };
            let delta = match args.as_slice() {
                [key] if !key.is_empty() => 1,
                [key, delta] if !key.is_empty() => delta.parse().map_err(|_| usage(command))?,
                _ => return Err(usage(command)),
            };
            Ok(bucket.increment(args[0], delta)?.to_string())
        }
        "get" => Ok(text(bucket.get(words(command, rest, 1)?[0])?.as_deref())),
        "set" => match rest.split_once(' ') {
            Some((key, value)) if !key.is_empty() => bucket.set(key, value).map(|()| "ok".into()),
            _ => Err(usage(command)),
        },
        "delete" => bucket.delete(words(command, rest, 1)?[0]).map(|()| "ok".into()),
        "exists" => Ok(bucket.exists(words(command, rest, 1)?[0])?.to_string()),
        "cas" => {
            let [key, old, new] = words(command, rest, 3)?[..] else { unreachable!() };
            let current = text(bucket.get(key)?.as_deref());
            if current != old {
                return Ok(format!("failed: {current}"));
            }
            let expected = (old != "(none)").then_some(old.as_bytes());
            let swapped = bucket.compare_and_swap(key, expected, new)?;
            Ok(if swapped { "swapped".into() } else { "failed: changed".into() })
        }
        "list" => {
            words(command, rest, 0)?;
            let mut keys = bucket.keys()?;
            keys.sort();
            Ok(keys.join(","))
        }
        "set-many" => {
            let list = words(command, rest, 1)?[0];
            let pairs: Vec<(&str, &[u8])> = list
                .split(',')
                .map(|pair| match pair.split_once('=') {
                    Some((key, value)) if !key.is_empty() => Ok((key, value.as_bytes())),
                    _ => Err(usage(command)),
                })
                .collect::<Result<_>>()?;
            bucket.set_many(&pairs).map(|()| "ok".into())
        }
        "get-many" => {
            let keys: Vec<&str> = words(command, rest, 1)?[0].split(',').collect();
            let values = bucket.get_many(&keys)?;
            let pairs: Vec<String> = keys
                .iter()
                .zip(&values)
                .map(|(key, value)| format!("{key}={}", text(value.as_deref())))
                .collect();
            Ok(pairs.join(","))
        }
        "delete-many" => {
            let keys: Vec<&str> = words(command, rest, 1)?[0].split(',').collect();
            bucket.delete_many(&keys).map(|()| "ok".into())
        }
        "noise" => {
            let [count, size] = words(command, rest, 2)?[..] else { unreachable!() };
            let count: u64 = count.parse().map_err(|_| usage(command))?;
            let size: usize = size.parse().map_err(|_| usage(command))?;
            // xorshift64: binary values of every byte, the same each run.
            let mut state = 0x9E37_79B9_7F4A_7C15_u64;
            for i in 0..count {
                let value: Vec<u8> = (0..size)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state as u8
                    })
                    .collect();
                bucket.set(&format!("n{i}"), value)?;
            }
            Ok(format!("noise {count}"))
        }
        "fill" => {
            let [count, size] = words(command, rest, 2)?[..] else { unreachable!() };
            let count: u64 = count.parse().map_err(|_| usage(command))?;
            let size: usize = size.parse().map_err(|_| usage(command))?;
            fill(bucket, count, size)
        }
        other => Err(usage(other)),
    }
}

/// Stores `k0`...`k{count-1}`, `size` bytes each, a thousand a batch, until
/// the first refusal.
fn fill(bucket: &Bucket, count: u64, size: usize) -> Result<String> {
    let value = vec![b'x'; size];
    let mut stored = 0;
    while stored < count {
        let end = (stored + 1000).min(count);
        let keys: Vec<String> = (stored..end).map(|i| format!("k{i}")).collect();
        let pairs: Vec<(&str, &[u8])> = keys.iter().map(|k| (k.as_str(), &value[..])).collect();
        if let Err(err) = bucket.set_many(&pairs) {
            let after = |text: String| format!("after {stored} keys: {text}");
            return Err(match err {
                Error::LimitExceeded(text) => Error::LimitExceeded(after(text)),
                Error::Denied(text) => Error::Denied(after(text)),
                Error::NotFound(text) => Error::NotFound(after(text)),
                Error::InvalidInput(text) => Error::InvalidInput(after(text)),
                Error::Failed(text) => Error::Failed(after(text)),
            });
        }
        stored = end;
    }
    Ok(format!("filled {stored}"))
}

witplug_sdk::export_plugin!(KvCounter);
