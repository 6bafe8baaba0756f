//! Pulls from a local registry (Debian's `docker-registry`, started here),
//! beside the same manifest and blobs fetched with a plain HTTP client and
//! written to a file (the floor: no checks, no store); the cost of
//! verifying a signature; and a host starting from a lock whose plugins
//! are in the content store and the cache, beside today's cached start.
//!
//! `cargo bench -p witplug-registry --bench pull` with
//! `WITPLUG_DOCKER_REGISTRY` naming the binary (`cargo xtask bench` does).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use witplug_registry::sign::{KeyPair, Predicate, Statement};
use witplug_registry::{Bounds, Client, ContentStore, Lock, Policy, Reference, Registry};

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn show(d: Duration) -> String {
    if d >= Duration::from_millis(1) {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

fn row(what: &str, ours: Duration, floor: Duration, target: &str) -> String {
    let ratio = ours.as_secs_f64() / floor.as_secs_f64();
    format!("| {what} | {} | {} | {ratio:.2}× | {target} |", show(ours), show(floor))
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_registry(scratch: &Path) -> Fallible<(Server, String)> {
    let binary = std::env::var_os("WITPLUG_DOCKER_REGISTRY")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/tools/docker-registry/usr/bin/docker-registry"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = scratch.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  inmemory: {{}}\nhttp:\n  addr: 127.0.0.1:{port}\n"
        ),
    )?;
    let child = std::process::Command::new(binary)
        .arg("serve")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            return Err("docker-registry did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((Server(child), addr))
}

/// The floor: the manifest, then each blob it names, with a plain client,
/// written to a file.
async fn plain_pull(
    http: &reqwest::Client,
    addr: &str,
    repo: &str,
    tag: &str,
    out: &Path,
) -> Fallible<()> {
    let base = format!("http://{addr}/v2/{repo}");
    let manifest = http
        .get(format!("{base}/manifests/{tag}"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await?
        .bytes()
        .await?;
    let manifest: serde_json::Value = serde_json::from_slice(&manifest)?;
    let mut digests = vec![manifest["config"]["digest"].as_str().unwrap_or_default().to_owned()];
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        digests.push(layer["digest"].as_str().unwrap_or_default().to_owned());
    }
    for digest in digests {
        let bytes = http.get(format!("{base}/blobs/{digest}")).send().await?.bytes().await?;
        std::fs::write(out.join(&digest[7..]), &bytes)?;
    }
    Ok(())
}

fn main() -> Fallible<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run())
}

async fn run() -> Fallible<()> {
    let scratch = std::env::temp_dir().join(format!("witplug-pull-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let (_server, addr) = start_registry(&scratch)?;
    let client = || Client::new(Bounds::default(), Vec::new()).expect("a client");

    // A 100 KiB plugin (a core module with a data segment) and a 17 MiB
    // one (py-counter, a Python component).
    let small = scratch.join("small.wat");
    std::fs::write(
        &small,
        format!("(module (memory 2) (data (i32.const 0) \"{}\"))", "x".repeat(100 << 10)),
    )?;
    let large = root().join("plugins/py-counter.wasm");
    let pusher =
        Registry::new(client(), ContentStore::new(scratch.join("push-store")), Policy::default());
    let cases = [
        ("a 100 KiB plugin", small, "bench/small", 30),
        ("a 17 MiB plugin (py-counter)", large, "bench/large", 8),
    ];
    let http = reqwest::Client::new();
    let mut rows = Vec::new();
    for (label, file, repo, rounds) in cases {
        let reference = Reference::parse(&format!("{addr}/{repo}:1"))?;
        pusher.push(&file, None, &reference).await?;
        let (mut ours, mut floor) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // A fresh store and folder each round: nothing is already there.
            let dir = scratch.join(format!("{repo}-{round}"));
            std::fs::create_dir_all(dir.join("plain"))?;
            let started = Instant::now();
            plain_pull(&http, &addr, repo, "1", &dir.join("plain")).await?;
            floor.push(started.elapsed());
            let registry =
                Registry::new(client(), ContentStore::new(dir.join("store")), Policy::default());
            let started = Instant::now();
            let pulled = registry.fetch(&reference, false).await?;
            registry.install(&pulled.wasm.digest, None, &dir.join("plugins"), "p")?;
            ours.push(started.elapsed());
            std::fs::remove_dir_all(&dir)?;
        }
        rows.push(row(
            &format!("pull {label} from a local registry into a plugins folder (every digest checked, the content store written)"),
            median(ours),
            median(floor),
            "≤ 1.2× floor (floor: the same manifest and blobs with a plain HTTP client, to files)",
        ));
    }

    // Verifying a signature: the envelope's Ed25519 signature and its
    // statement's subject.
    let key = KeyPair::generate()?;
    let digest = format!("sha256:{}", "a".repeat(64));
    let statement = Statement::new(
        "r.example/x",
        &digest,
        Predicate {
            contract: Some("0.2.0".into()),
            wasm_layer: digest.clone(),
            manifest_layer: None,
        },
    );
    let envelope = key.sign(&statement);
    let keys = [key.public()];
    let rounds = 2000;
    let started = Instant::now();
    for _ in 0..rounds {
        witplug_registry::sign::verify_envelope(&envelope, &keys, "r.example/x", &digest)?;
    }
    let each = started.elapsed() / rounds;
    rows.push(format!("| verifying a plugin's signature (DSSE envelope, Ed25519, its statement checked) | {} | - | - | < 1 ms |", show(each)));

    // A host starting from a lock, plugins in the content store and the
    // cache, under a trust policy, beside the same folder's cached start.
    let work = scratch.join("lock");
    std::fs::create_dir_all(&work)?;
    let reference = Reference::parse(&format!("{addr}/bench/counter:1"))?;
    pusher.push(&root().join("plugins/counter.wasm"), None, &reference).await?;
    pusher.sign(&reference, &key).await?;
    let policy = Policy::default().with(&format!("{addr}/bench"), vec![key.public()]);
    let registry = Registry::new(client(), ContentStore::new(work.join("store")), policy);
    let pulled = registry.fetch(&reference, false).await?;
    let plugins = work.join("plugins");
    registry.install(&pulled.wasm.digest, None, &plugins, "counter")?;
    let mut lock = Lock { version: 1, plugins: Vec::new() };
    lock.put(pulled.locked("counter", String::new()));
    let cache = work.join("cache");
    let start = |with_lock: bool| {
        let (lock, registry, plugins, cache) = (&lock, &registry, &plugins, &cache);
        async move {
            let started = Instant::now();
            let mut builder = witplug_host::Host::builder();
            builder.cache_dir(cache);
            if with_lock {
                lock.approve(registry, &mut builder);
            }
            let host = builder.build().expect("a host");
            let report = host.load_dir(plugins).await.expect("loaded");
            assert!(report.failed.is_empty(), "{:?}", report.failed);
            started.elapsed()
        }
    };
    start(false).await; // fills the cache
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        floor.push(start(false).await);
        ours.push(start(true).await);
    }
    rows.push(row(
        "a host starting from a lock (counter; signature verified from the content store, no network request) and the cache",
        median(ours),
        median(floor),
        "≤ 1.2× floor (floor: the same folder's start from the cache, without a lock)",
    ));
    for row in rows {
        println!("{row}");
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
