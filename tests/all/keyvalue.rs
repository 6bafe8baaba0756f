//! `wasi:keyvalue` on a real redb file and a real `nats-server -js`: state
//! shared by a plugin's instances and kept across traps, reloads and host
//! restarts; buckets kept apart per plugin unless shared; every quota;
//! crash safety under SIGKILL; JetStream across hosts through a server
//! restart; hostile keys and values. (The same behaviours in Rust,
//! Python and JavaScript are the conformance kit's: `conformance::keyvalue`.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use witplug_host::{
    Error, Host, HostBuilder, PluginError, kv::BucketId, kv::DATABASE_FILE, kv::Embedded,
    kv::KeyValue, nats::JetStreamKeyValue, nats::NatsBus, nats::NatsOptions,
};

use crate::nats_server::NatsServer;
use crate::support::{Scratch, builder, fixture};

/// A plugins folder holding `plugin` (a copy of the example `example`)
/// with `manifest` as its `<plugin>.toml`.
fn install(dir: &Path, example: &str, plugin: &str, manifest: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(fixture(example), dir.join(format!("{plugin}.wasm"))).unwrap();
    std::fs::write(dir.join(format!("{plugin}.toml")), manifest).unwrap();
}

const COUNTER: &str = "[grants]\nkeyvalue = [\"default\"]\n\n[pool]\nsize = 4\n";

fn host_on(data: &Path) -> Host {
    builder().data_dir(data).build().unwrap()
}

async fn handle(host: &Host, plugin: &str, input: &str) -> Result<String, Error> {
    host.plugin(plugin)?.handle(input).await
}

async fn answer(host: &Host, plugin: &str, input: &str) -> String {
    handle(host, plugin, input).await.unwrap_or_else(|err| panic!("{plugin} `{input}`: {err}"))
}

/// The error a plugin returned, as `kind: text`.
async fn refusal(host: &Host, plugin: &str, input: &str) -> String {
    match handle(host, plugin, input).await {
        Err(Error::Plugin { error, .. }) => match error {
            PluginError::InvalidInput(text) => format!("invalid-input: {text}"),
            PluginError::Denied(text) => format!("denied: {text}"),
            PluginError::NotFound(text) => format!("not-found: {text}"),
            PluginError::LimitExceeded(text) => format!("limit-exceeded: {text}"),
            PluginError::Failed(text) => format!("failed: {text}"),
        },
        other => panic!("{plugin} `{input}`: expected the plugin's error, got {other:?}"),
    }
}

/// `calls` calls of the counter from 16 tasks at once; every answer is a
/// count no other call got.
async fn count_concurrently(hosts: &[Arc<Host>], calls: u64) -> Vec<u64> {
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let host = hosts[task % hosts.len()].clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < calls {
                    got.push(answer(&host, "kv-counter", "").await.parse::<u64>().unwrap());
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pooled_counter_counts_each_call_once_and_outlives_traps_reloads_and_restarts() {
    let scratch = Scratch::new();
    let (plugins, data) = (scratch.path().join("plugins"), scratch.path().join("data"));
    install(&plugins, "kv-counter", "kv-counter", COUNTER);
    let host = Arc::new(host_on(&data));
    host.load_dir(&plugins).await.unwrap();

    let counts = count_concurrently(std::slice::from_ref(&host), 1_000).await;
    assert_eq!(counts, (1..=1_000).collect::<Vec<_>>(), "each call counted once");
    assert_eq!(answer(&host, "kv-counter", "get count").await, "1000");
    let metrics = host.plugin("kv-counter").unwrap().metrics();
    assert!(metrics.kv_writes >= 1_000 && metrics.kv_reads >= 1_001, "{metrics:?}");
    assert!(metrics.kv_bytes > 0, "{metrics:?}");

    // A trap throws the instance away, not the count.
    assert!(matches!(handle(&host, "kv-counter", "trap").await, Err(Error::Trap { .. })));
    assert_eq!(answer(&host, "kv-counter", "").await, "1001");
    host.reload("kv-counter").await.unwrap();
    assert_eq!(answer(&host, "kv-counter", "").await, "1002");

    // A new host on the same data folder: the database file, reopened.
    drop(host);
    assert!(data.join(DATABASE_FILE).is_file());
    let host = host_on(&data);
    host.load_dir(&plugins).await.unwrap();
    assert_eq!(answer(&host, "kv-counter", "").await, "1003");
}

#[tokio::test]
async fn each_plugin_has_its_own_buckets_unless_the_operator_shares_one() {
    let scratch = Scratch::new();
    let plugins = scratch.path().join("plugins");
    let grants = "[grants]\nkeyvalue = [\"default\", \"team\"]\n";
    install(&plugins, "kv-counter", "kv-a", grants);
    install(&plugins, "kv-counter", "kv-b", grants);
    install(&plugins, "kv-counter", "kv-c", "[grants]\nkeyvalue = [\"default\"]\n");
    let host = builder()
        .data_dir(scratch.path().join("data"))
        .share_bucket("team", ["kv-a", "kv-b"])
        .build()
        .unwrap();
    host.load_dir(&plugins).await.unwrap();

    assert_eq!(answer(&host, "kv-a", "set secret a's").await, "ok");
    assert_eq!(answer(&host, "kv-b", "get secret").await, "(none)");
    assert_eq!(answer(&host, "kv-b", "list").await, "");
    assert_eq!(answer(&host, "kv-c", "get secret").await, "(none)");

    assert_eq!(answer(&host, "kv-a", "@team set plan ship it").await, "ok");
    assert_eq!(answer(&host, "kv-b", "@team get plan").await, "ship it");
    // kv-c is granted no `team` at all: refused, counted, told.
    assert_eq!(refusal(&host, "kv-c", "@team get plan").await, "denied: bucket team");
    assert_eq!(host.plugin("kv-c").unwrap().metrics().denied, 1);
    assert_eq!(refusal(&host, "kv-a", "@secrets list").await, "denied: bucket secrets");
}

#[tokio::test]
async fn a_write_past_any_quota_is_refused_and_stores_nothing() {
    let scratch = Scratch::new();
    let plugins = scratch.path().join("plugins");
    let manifest = "[grants]\nkeyvalue = [\"default\"]\n\n[limits]\n\
                    keyvalue-bytes = \"2 KiB\"\nkeyvalue-keys = 20\n\
                    keyvalue-value-size = \"200 B\"\nkeyvalue-answer = \"300 B\"\n";
    install(&plugins, "kv-counter", "kv-counter", manifest);
    let host = host_on(&scratch.path().join("data"));
    host.load_dir(&plugins).await.unwrap();
    let big = "x".repeat(201);

    // One value over `keyvalue-value-size`.
    let refused = refusal(&host, "kv-counter", &format!("set v {big}")).await;
    assert!(refused.starts_with("limit-exceeded: keyvalue-value-size: "), "{refused}");
    assert_eq!(answer(&host, "kv-counter", "get v").await, "(none)");

    // A batch of 25 keys passes `keyvalue-keys`: none of it is stored.
    let refused = refusal(&host, "kv-counter", "fill 25 1").await;
    assert!(refused.contains("after 0 keys") && refused.contains("keyvalue-keys"), "{refused}");
    assert_eq!(answer(&host, "kv-counter", "list").await, "");
    assert_eq!(answer(&host, "kv-counter", "fill 20 1").await, "filled 20");
    let refused = refusal(&host, "kv-counter", "set one-more x").await;
    assert!(refused.contains("keyvalue-keys"), "{refused}");
    // Overwriting a key adds none: allowed at the quota.
    assert_eq!(answer(&host, "kv-counter", "set k0 y").await, "ok");
    assert_eq!(answer(&host, "kv-counter", "delete-many k1,k2,k3,k4,k5").await, "ok");

    // Bytes: 15 keys of 190 bytes pass 2 KiB; the batch is refused whole.
    let pairs: Vec<String> = (0..12).map(|i| format!("b{i}={}", "z".repeat(190))).collect();
    let refused = refusal(&host, "kv-counter", &format!("set-many {}", pairs.join(","))).await;
    assert!(refused.contains("keyvalue-bytes"), "{refused}");
    assert_eq!(answer(&host, "kv-counter", "exists b0").await, "false");

    // An answer over `keyvalue-answer`: three values of 150 bytes.
    let fat = "w".repeat(150);
    let set = format!("set-many f1={fat},f2={fat},f3={fat}");
    assert_eq!(answer(&host, "kv-counter", &set).await, "ok");
    assert_eq!(answer(&host, "kv-counter", "get-many f1").await, format!("f1={fat}"));
    let refused = refusal(&host, "kv-counter", "get-many f1,f2,f3").await;
    assert!(refused.contains("keyvalue-answer"), "{refused}");
    // Listing pages at the answer's size and follows the cursor.
    let keys = answer(&host, "kv-counter", "list").await;
    assert_eq!(keys.split(',').count(), 18, "{keys}");

    let store = Embedded::open(scratch.path().join("data").join(DATABASE_FILE)).unwrap();
    let usage = store.usage("kv-counter").unwrap();
    assert_eq!(usage.keys, 18);
    assert!(usage.bytes <= 2048, "{usage:?}");
}

#[tokio::test]
async fn hostile_keys_and_values_stay_within_the_quota_and_the_host() {
    let scratch = Scratch::new();
    let plugins = scratch.path().join("plugins");
    let manifest = "[grants]\nkeyvalue = [\"default\"]\n\n[limits]\n\
                    deadline = \"20 s\"\nkeyvalue-keys = 5000\nkeyvalue-bytes = \"1 MiB\"\n";
    install(&plugins, "kv-counter", "kv-fill", manifest);
    install(&plugins, "kv-counter", "kv-noise", manifest);
    let data = scratch.path().join("data");
    let host = host_on(&data);
    host.load_dir(&plugins).await.unwrap();

    // A key of 1 MiB: refused before any store sees it.
    let huge = "k".repeat(1 << 20);
    let refused = refusal(&host, "kv-fill", &format!("set {huge} v")).await;
    assert!(refused.contains("over the 1024 bytes a key may hold"), "{}", &refused[..200]);
    let refused = refusal(&host, "kv-fill", &format!("get {huge}")).await;
    assert!(refused.starts_with("failed: a key of 1 MiB"), "{}", &refused[..200]);

    // Ten million tiny keys: stopped at the quota, a batch at a time.
    let refused = refusal(&host, "kv-fill", "fill 10000000 1").await;
    assert!(refused.contains("after 5000 keys") && refused.contains("keyvalue-keys"), "{refused}");

    // Binary values of every byte, up to the bytes quota.
    assert_eq!(answer(&host, "kv-noise", "noise 20 4096").await, "noise 20");
    let refused = refusal(&host, "kv-noise", "noise 1000 4096").await;
    assert!(refused.contains("keyvalue-bytes"), "{refused}");

    let store = Embedded::open(data.join(DATABASE_FILE)).unwrap();
    for plugin in ["kv-fill", "kv-noise"] {
        let usage = store.usage(plugin).unwrap();
        assert!(usage.keys <= 5000 && usage.bytes <= 1 << 20, "{plugin}: {usage:?}");
    }
    let value = store.get(&BucketId::of_plugin("kv-noise", "default"), "n0").await.unwrap();
    let value = value.expect("n0 stored");
    assert_eq!(value.len(), 4096);
    assert!(std::str::from_utf8(&value).is_err(), "binary, not text");
    let file = std::fs::metadata(data.join(DATABASE_FILE)).unwrap().len();
    assert!(file < 64 << 20, "the database grew to {file} bytes");
}

/// The child of the crash test: a host writing 10,000 keys one call at a
/// time, saying on stdout each write whose call returned. Does nothing
/// unless the crash test started it.
#[tokio::test]
async fn crash_child() {
    let Some(dir) = std::env::var_os("WITPLUG_KV_CRASH_CHILD") else { return };
    let dir = Path::new(&dir);
    let host = host_on(&dir.join("data"));
    host.load_dir(dir.join("plugins")).await.unwrap();
    for i in 0..10_000 {
        answer(&host, "kv-counter", &format!("set key{i} value{i}")).await;
        println!("wrote {i}");
    }
}

#[tokio::test]
async fn a_host_killed_mid_write_leaves_every_returned_write_in_a_consistent_database() {
    let scratch = Scratch::new();
    install(&scratch.path().join("plugins"), "kv-counter", "kv-counter", COUNTER);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["keyvalue::crash_child", "--exact", "--nocapture", "--test-threads", "1"])
        .env("WITPLUG_KV_CRASH_CHILD", scratch.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut returned = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(i) = line.strip_prefix("wrote ").and_then(|i| i.parse::<u64>().ok()) {
            returned = Some(i);
            if i == 1_500 {
                // SIGKILL: no destructor, no flush, in the middle of writes.
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    let returned = returned.expect("the child wrote something");
    assert_eq!(returned, 1_500, "the child stopped before it was killed");

    let store = Embedded::open(scratch.path().join("data").join(DATABASE_FILE))
        .expect("the database reopens after the kill");
    let bucket = BucketId::of_plugin("kv-counter", "default");
    for i in 0..=returned {
        let value = store.get(&bucket, &format!("key{i}")).await.unwrap();
        assert_eq!(value.as_deref(), Some(format!("value{i}").as_bytes()), "key{i}");
    }
    // Consistent: the usage counted in each transaction matches the keys.
    let mut keys = 0u64;
    let mut cursor = None;
    loop {
        let quota = witplug_host::kv::Quota::of(&witplug_host::Limits::default_ceilings());
        let (page, next) = store.list(&bucket, cursor.as_deref(), quota).await.unwrap();
        keys += page.len() as u64;
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let usage = store.usage("kv-counter").unwrap();
    assert_eq!(usage.keys, keys);
    assert!((returned + 1..=returned + 2).contains(&keys), "{keys} keys after {returned} returned");
    println!("crash test: {} writes returned, {keys} keys found after SIGKILL", returned + 1);
}

async fn jetstream_host(url: &str, plugins: &Path) -> Arc<Host> {
    let bus = NatsBus::connect(NatsOptions::new(url)).await.unwrap();
    let mut builder: HostBuilder = builder();
    builder.bus(bus.clone());
    builder.key_value(Arc::new(JetStreamKeyValue::new(bus.client().clone())));
    let host = builder.build().unwrap();
    host.load_dir(plugins).await.unwrap();
    Arc::new(host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_share_a_counter_on_jetstream_through_a_server_restart() {
    let scratch = Scratch::new();
    let plugins = scratch.path().join("plugins");
    install(&plugins, "kv-counter", "kv-counter", COUNTER);
    let mut server = NatsServer::start_jetstream(&scratch.path().join("jetstream"));
    let url = server.url();
    let hosts = [jetstream_host(&url, &plugins).await, jetstream_host(&url, &plugins).await];

    let counts = count_concurrently(&hosts, 1_000).await;
    assert_eq!(counts, (1..=1_000).collect::<Vec<_>>(), "each call counted once");
    assert_eq!(answer(&hosts[1], "kv-counter", "get count").await, "1000");

    // The server goes away: calls fail with a clear error, in time.
    server.stop();
    let started = Instant::now();
    let refused = refusal(&hosts[0], "kv-counter", "").await;
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert!(refused.starts_with("failed: the key-value store is unavailable"), "{refused}");

    // It comes back, with its store: the count goes on where it was.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let next = loop {
        match handle(&hosts[1], "kv-counter", "").await {
            Ok(count) => break count,
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("no call succeeded 20 s after the restart: {err}"),
        }
    };
    assert_eq!(next, "1001");
    assert_eq!(answer(&hosts[0], "kv-counter", "").await, "1002");
}

#[tokio::test]
async fn a_corrupt_or_locked_database_fails_the_call_that_needs_it_and_nothing_else() {
    let scratch = Scratch::new();
    let plugins = scratch.path().join("plugins");
    install(&plugins, "kv-counter", "kv-counter", COUNTER);
    std::fs::copy(fixture("counter"), plugins.join("counter.wasm")).unwrap();

    // Not a database at all.
    let corrupt = scratch.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join(DATABASE_FILE), vec![0x5a; 64 << 10]).unwrap();
    let host = host_on(&corrupt);
    host.load_dir(&plugins).await.unwrap();
    let refused = refusal(&host, "kv-counter", "").await;
    assert!(refused.starts_with("failed: the key-value store is unavailable: "), "{refused}");
    assert!(refused.contains(DATABASE_FILE) && !refused.contains('\n'), "{refused}");
    assert_eq!(answer(&host, "counter", "tick").await, "1", "other plugins run on");

    // Held by another process's exclusive writer.
    let locked = scratch.path().join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    let holder = redb::Database::create(locked.join(DATABASE_FILE)).unwrap();
    let host = host_on(&locked);
    host.load_dir(&plugins).await.unwrap();
    let refused = refusal(&host, "kv-counter", "").await;
    assert!(refused.starts_with("failed: the key-value store is unavailable: "), "{refused}");
    // Once it is free, the next call opens it.
    drop(holder);
    assert_eq!(answer(&host, "kv-counter", "").await, "1");
}
