//! Plugins through a real OCI registry: Debian's `docker-registry`
//! (distribution 2.8), started here on a free loopback port with in-memory
//! storage and a configuration of its own. A hostile registry (crafted
//! answers, in process) shows what this client refuses.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use witplug_registry::{Bounds, Client, ContentStore, Policy, Reference, Registry};

use crate::cli::witplug_bin;
use crate::support::{Scratch, plugins_dir};

/// What names the `docker-registry` binary (`cargo xtask test` sets it).
const ENV: &str = "WITPLUG_DOCKER_REGISTRY";

/// A running `docker-registry`, stopped when dropped.
struct RealRegistry {
    child: Child,
    addr: String,
    _dir: Scratch,
}

impl RealRegistry {
    fn start() -> Self {
        let binary = std::env::var_os(ENV).map(PathBuf::from).unwrap_or_else(|| {
            let unpacked = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/tools/docker-registry/usr/bin/docker-registry");
            assert!(
                unpacked.is_file(),
                "no docker-registry: run `cargo xtask test`, which installs it, or set {ENV}"
            );
            unpacked
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = Scratch::new();
        let config = dir.write(
            "config.yml",
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  inmemory: {{}}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n"
            ),
        );
        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, addr, _dir: dir }
    }

    fn reference(&self, path: &str) -> String {
        format!("{}/{path}", self.addr)
    }
}

impl Drop for RealRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry(store: &Path, policy: Policy) -> Registry {
    Registry::new(
        Client::new(Bounds::default(), Vec::new()).unwrap(),
        ContentStore::new(store),
        policy,
    )
}

/// Runs `witplug` in `cwd` (where its `witplug.toml` and lock are).
fn witplug_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(witplug_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("WITPLUG_PLUGINS")
        .env("WITPLUG_LOG", "off")
        .env("WITPLUG_DATA", cwd.join("data"))
        .env("WITPLUG_CACHE", cwd.join("cache"))
        .output()
        .expect("running witplug")
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The one line a failed command printed, and its exit code.
fn refused(output: &Output) -> (String, Option<i32>) {
    assert!(!output.status.success(), "succeeded: {}", String::from_utf8_lossy(&output.stdout));
    let err = String::from_utf8_lossy(&output.stderr).trim_end().to_owned();
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    (err, output.status.code())
}

/// A folder holding a plugin `tool-user` (a component with a manifest).
fn plugin_with_manifest(dir: &Scratch, grants: &str) -> PathBuf {
    std::fs::copy(plugins_dir().join("tool-user.wasm"), dir.path().join("tool-user.wasm")).unwrap();
    dir.write("tool-user.toml", format!("[grants]\ntools = [{grants}]\n"));
    dir.path().join("tool-user.wasm")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_pulls_back_byte_identical_in_the_cncf_layout() {
    let real = RealRegistry::start();
    let dir = Scratch::new();
    let file = plugin_with_manifest(&dir, "\"upper\"");
    let store = Scratch::new();
    let registry = registry(store.path(), Policy::default());
    let reference = Reference::parse(&real.reference("team/tool-user:1.0.0")).unwrap();
    let digest =
        registry.push(&file, Some(&dir.path().join("tool-user.toml")), &reference).await.unwrap();
    assert!(witplug_registry::is_digest(&digest), "{digest}");

    // The layout other clients read: an OCI manifest, the Wasm config, one
    // `application/wasm` layer, and witplug's manifest layer beside it.
    let fetched =
        registry.client.manifest(&reference, &[witplug_registry::layout::MANIFEST]).await.unwrap();
    assert_eq!(fetched.digest, digest);
    let manifest: serde_json::Value = serde_json::from_slice(&fetched.bytes).unwrap();
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    let layers: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(layers, ["application/wasm", "application/vnd.witplug.plugin.manifest.v1+toml"]);
    let (config_digest, config_size) = (
        manifest["config"]["digest"].as_str().unwrap(),
        manifest["config"]["size"].as_u64().unwrap(),
    );
    let config = registry.client.blob(&reference, config_digest, config_size).await.unwrap();
    let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    assert_eq!(
        (config["architecture"].as_str(), config["os"].as_str()),
        (Some("wasm"), Some("wasip2"))
    );
    assert!(
        config["component"]["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("witplug:plugin/guest@")),
        "{config}"
    );

    let pulled = registry.fetch(&reference, false).await.unwrap();
    let into = Scratch::new();
    registry
        .install(
            &pulled.wasm.digest,
            pulled.plugin_manifest.as_ref().map(|(_, b)| b.as_slice()),
            into.path(),
            "tool-user",
        )
        .unwrap();
    assert_eq!(
        std::fs::read(into.path().join("tool-user.wasm")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(into.path().join("tool-user.toml")).unwrap(),
        "[grants]\ntools = [\"upper\"]\n"
    );
    let host = witplug_host::Host::builder().build().unwrap();
    let report = host.load_dir(into.path()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
}

#[test]
fn add_then_install_on_an_empty_folder_reproduces_the_files_and_offline_from_the_store() {
    let real = RealRegistry::start();
    let source = Scratch::new();
    let file = plugin_with_manifest(&source, "\"upper\"");
    let a = Scratch::new();
    let reference = real.reference("plugins/tool-user:1");
    let digest =
        ok(&witplug_in(a.path(), &["push", file.to_str().unwrap(), &reference])).trim().to_owned();

    // Without --accept-grants and no terminal, nothing is approved.
    let (err, code) = refused(&witplug_in(a.path(), &["add", &reference]));
    assert!(err.contains("--accept-grants"), "{err}");
    assert_eq!(code, Some(3), "denied");
    assert!(
        !a.path().join("witplug.lock").exists()
            && !a.path().join("plugins/tool-user.wasm").exists()
    );

    let added = ok(&witplug_in(a.path(), &["add", &reference, "--accept-grants"]));
    assert!(added.contains("grants.tools: + upper"), "the grants it asks for are shown: {added}");
    let lock = std::fs::read_to_string(a.path().join("witplug.lock")).unwrap();
    assert!(lock.contains(&digest) && lock.contains("tools = [\"upper\"]"), "{lock}");

    // A second machine: the lock only, an empty folder and store.
    let b = Scratch::new();
    std::fs::copy(a.path().join("witplug.lock"), b.path().join("witplug.lock")).unwrap();
    let installed = ok(&witplug_in(b.path(), &["install"]));
    assert!(installed.contains("from its registry"), "{installed}");
    for name in ["tool-user.wasm", "tool-user.toml"] {
        assert_eq!(
            std::fs::read(a.path().join("plugins").join(name)).unwrap(),
            std::fs::read(b.path().join("plugins").join(name)).unwrap(),
            "{name}"
        );
    }
    // Offline, from the store alone: the registry is gone.
    drop(real);
    std::fs::remove_dir_all(b.path().join("plugins")).unwrap();
    let offline = ok(&witplug_in(b.path(), &["install", "--offline"]));
    assert!(offline.contains("from the content store"), "{offline}");
    assert!(b.path().join("plugins/tool-user.wasm").is_file());
    // And the host runs it within what was approved.
    let listed = ok(&witplug_in(b.path(), &["list"]));
    assert!(listed.contains("tool-user"), "{listed}");
}

#[test]
fn an_update_that_widens_the_grants_waits_for_the_operator_and_changes_nothing() {
    let real = RealRegistry::start();
    let work = Scratch::new();
    let v1 = Scratch::new();
    let reference = real.reference("plugins/tool-user:stable");
    ok(&witplug_in(
        work.path(),
        &["push", plugin_with_manifest(&v1, "\"upper\"").to_str().unwrap(), &reference],
    ));
    ok(&witplug_in(work.path(), &["add", &reference, "--accept-grants"]));
    let lock_before = std::fs::read_to_string(work.path().join("witplug.lock")).unwrap();
    let toml_before = std::fs::read_to_string(work.path().join("plugins/tool-user.toml")).unwrap();

    let v2 = Scratch::new();
    ok(&witplug_in(
        work.path(),
        &["push", plugin_with_manifest(&v2, "\"upper\", \"shell\"").to_str().unwrap(), &reference],
    ));
    // The tag moved; the lock did not: an install still gets what it pins.
    let elsewhere = Scratch::new();
    std::fs::copy(work.path().join("witplug.lock"), elsewhere.path().join("witplug.lock")).unwrap();
    ok(&witplug_in(elsewhere.path(), &["install"]));
    assert_eq!(
        std::fs::read_to_string(elsewhere.path().join("plugins/tool-user.toml")).unwrap(),
        toml_before
    );

    let update = witplug_in(work.path(), &["update"]);
    let shown = String::from_utf8_lossy(&update.stdout).into_owned();
    assert!(shown.contains("+ grants.tools: + shell"), "the widening is shown: {shown}");
    let (err, code) = refused(&update);
    assert!(err.contains("ask for more than was approved: tool-user"), "{err}");
    assert_eq!(code, Some(3), "denied");
    assert_eq!(std::fs::read_to_string(work.path().join("witplug.lock")).unwrap(), lock_before);
    assert_eq!(
        std::fs::read_to_string(work.path().join("plugins/tool-user.toml")).unwrap(),
        toml_before
    );

    // A manifest edited beside the plugin is no way around the lock.
    std::fs::write(
        work.path().join("plugins/tool-user.toml"),
        "[grants]\ntools = [\"upper\", \"shell\"]\n",
    )
    .unwrap();
    let called = witplug_in(work.path(), &["call", "tool-user", "handle", "\"x\""]);
    let (err, code) = refused(&called);
    assert!(
        err.contains("asks for more than witplug.lock approved")
            && err.contains("grants.tools: + shell"),
        "{err}"
    );
    assert_eq!(code, Some(3), "denied");
    std::fs::write(work.path().join("plugins/tool-user.toml"), &toml_before).unwrap();

    // Accepted, it goes through.
    let accepted = ok(&witplug_in(work.path(), &["update", "--accept-grants"]));
    assert!(accepted.contains("moved from"), "{accepted}");
    let lock = std::fs::read_to_string(work.path().join("witplug.lock")).unwrap();
    assert!(lock.contains("\"shell\""), "{lock}");
}

#[test]
fn signatures_under_a_trust_policy() {
    let real = RealRegistry::start();
    let work = Scratch::new();
    let src = Scratch::new();
    let file = plugin_with_manifest(&src, "\"upper\"");
    let reference = real.reference("signed/tool-user:1");
    ok(&witplug_in(work.path(), &["push", file.to_str().unwrap(), &reference]));
    let trusted = ok(&witplug_in(work.path(), &["key", "new", "trusted.key"])).trim().to_owned();
    let stranger = ok(&witplug_in(work.path(), &["key", "new", "stranger.key"])).trim().to_owned();
    assert!(trusted.starts_with("ed25519:") && trusted != stranger);
    work.write("witplug.toml", format!("[trust]\n\"{}/signed\" = [\"{trusted}\"]\n", real.addr));

    // Unsigned: refused, nothing written.
    let (err, code) = refused(&witplug_in(work.path(), &["pull", &reference]));
    assert!(err.contains("unsigned"), "{err}");
    assert_eq!(code, Some(3));
    assert!(!work.path().join("plugins").exists());
    // Signed by a key the policy does not name: refused.
    ok(&witplug_in(work.path(), &["sign", &reference, "--key", "stranger.key"]));
    let (err, _) = refused(&witplug_in(work.path(), &["pull", &reference]));
    assert!(err.contains("no signature on it verifies"), "{err}");
    assert!(!work.path().join("plugins").exists());
    // Signed by the trusted key: taken, the signer named.
    ok(&witplug_in(work.path(), &["sign", &reference, "--key", "trusted.key"]));
    let pulled = ok(&witplug_in(work.path(), &["pull", &reference]));
    assert!(pulled.contains(&format!("signed by {trusted}")), "{pulled}");
    // A repository no prefix covers has no trusted key.
    let other = real.reference("elsewhere/tool-user:1");
    ok(&witplug_in(work.path(), &["push", file.to_str().unwrap(), &other]));
    let (err, _) = refused(&witplug_in(work.path(), &["pull", &other, "--name", "other"]));
    assert!(err.contains("names no key for"), "{err}");
    // --allow-unsigned is explicit.
    ok(&witplug_in(work.path(), &["pull", &other, "--name", "other", "--allow-unsigned"]));

    // At load: a locked plugin runs only while its signature, from the
    // content store, verifies under the policy of the day.
    ok(&witplug_in(work.path(), &["add", &reference, "--accept-grants"]));
    ok(&witplug_in(work.path(), &["call", "tool-user", "handle", "\"upper:x\""]));
    work.write("witplug.toml", format!("[trust]\n\"{}/signed\" = [\"{stranger}\"]\n", real.addr));
    let (err, code) =
        refused(&witplug_in(work.path(), &["call", "tool-user", "handle", "\"upper:x\""]));
    assert!(
        err.contains("tool-user.wasm")
            && err.contains("no signature on it verifies")
            && err.contains("witplug.lock"),
        "{err}"
    );
    assert_eq!(code, Some(3), "denied");
    // Under a policy, a plugin the lock does not pin (pulled with
    // --allow-unsigned, or dropped in the folder) is refused at load.
    let listed = witplug_in(work.path(), &["list"]);
    let shown = String::from_utf8_lossy(&listed.stdout);
    assert!(shown.contains("plugin `other` is not pinned in witplug.lock"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cosign_keyed_signature_verifies() {
    use base64::Engine as _;
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey as _;

    let real = RealRegistry::start();
    let src = Scratch::new();
    let file = plugin_with_manifest(&src, "\"upper\"");
    let store = Scratch::new();
    let plain = registry(store.path(), Policy::default());
    let reference = Reference::parse(&real.reference("cosigned/tool-user:1")).unwrap();
    let digest = plain.push(&file, None, &reference).await.unwrap();

    // cosign's keyed signature, as `cosign sign --key` lays it out.
    let secret = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let payload = serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": { "docker-reference": reference.repository_path() },
            "image": { "docker-manifest-digest": digest },
            "type": "cosign container image signature"
        },
        "optional": null
    }))
    .unwrap();
    let signature: p256::ecdsa::Signature = secret.sign(&payload);
    let signature = base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
    plain.client.push_blob(&reference, b"{}").await.unwrap();
    plain.client.push_blob(&reference, &payload).await.unwrap();
    let mut layer =
        witplug_registry::layout::Descriptor::of(witplug_registry::sign::COSIGN_PAYLOAD, &payload);
    layer.annotations.insert(witplug_registry::sign::COSIGN_ANNOTATION.to_owned(), signature);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": witplug_registry::layout::MANIFEST,
        "config": witplug_registry::layout::Descriptor::of("application/vnd.oci.image.config.v1+json", b"{}"),
        "layers": [layer],
    });
    let tag = format!("{}.sig", digest.replace(':', "-"));
    plain
        .client
        .push_manifest(
            &reference,
            &tag,
            witplug_registry::layout::MANIFEST,
            &serde_json::to_vec(&manifest).unwrap(),
        )
        .await
        .unwrap();

    let pem = secret.verifying_key().to_public_key_pem(p256::pkcs8::LineEnding::LF).unwrap();
    let key = witplug_registry::sign::PublicKey::parse(&pem).unwrap();
    let checked = registry(
        store.path(),
        Policy::default().with(&format!("{}/cosigned", real.addr), vec![key.clone()]),
    );
    let pulled = checked.fetch(&reference, false).await.unwrap();
    assert_eq!(pulled.signature.unwrap().signer, key.id());
    // Another key: refused.
    let other = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    let other = witplug_registry::sign::PublicKey::parse(
        &other.verifying_key().to_public_key_pem(p256::pkcs8::LineEnding::LF).unwrap(),
    )
    .unwrap();
    let strict = registry(
        store.path(),
        Policy::default().with(&format!("{}/cosigned", real.addr), vec![other]),
    );
    let err = strict.fetch(&reference, false).await.unwrap_err();
    assert!(err.to_string().contains("cosign signature verifies with no key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_artifact_in_the_cncf_layout_only_pulls_and_loads() {
    let real = RealRegistry::start();
    // Pushed by "another tool": a plain HTTP client, the layout only.
    let wasm = std::fs::read(plugins_dir().join("counter.wasm")).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "created": "2026-01-01T00:00:00Z", "architecture": "wasm", "os": "wasip2",
        "layerDigests": [witplug_registry::sha256_digest(&wasm)],
    }))
    .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}/v2/other/counter", real.addr);
    for blob in [&wasm, &config] {
        let start = http.post(format!("{base}/blobs/uploads/")).send().await.unwrap();
        let location = start.headers()["location"].to_str().unwrap().to_owned();
        let url = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", real.addr)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let put = http
            .put(format!("{url}{sep}digest={}", witplug_registry::sha256_digest(blob)))
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 201);
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.wasm.config.v0+json", "digest": witplug_registry::sha256_digest(&config), "size": config.len() },
        "layers": [{ "mediaType": "application/wasm", "digest": witplug_registry::sha256_digest(&wasm), "size": wasm.len() }],
    });
    let put = http
        .put(format!("{base}/manifests/1.0"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);

    let work = Scratch::new();
    let pulled = tokio::task::spawn_blocking({
        let reference = real.reference("other/counter:1.0");
        let cwd = work.path().to_owned();
        move || witplug_in(&cwd, &["pull", &reference])
    })
    .await
    .unwrap();
    ok(&pulled);
    assert_eq!(std::fs::read(work.path().join("plugins/counter.wasm")).unwrap(), wasm);
    // Or to one file.
    let one = work.path().join("one.wasm");
    let to_file = tokio::task::spawn_blocking({
        let (reference, cwd, one) =
            (real.reference("other/counter:1.0"), work.path().to_owned(), one.clone());
        move || witplug_in(&cwd, &["pull", &reference, "-o", one.to_str().unwrap()])
    })
    .await
    .unwrap();
    ok(&to_file);
    assert_eq!(std::fs::read(&one).unwrap(), wasm);
    assert!(!work.path().join("plugins/counter.toml").exists());
    let host = witplug_host::Host::builder().build().unwrap();
    let report = host.load_dir(work.path().join("plugins")).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(host.plugin("counter").unwrap().handle("tick").await.unwrap(), "1");
}

#[test]
fn a_lock_edited_by_hand_is_refused_naming_the_plugin_and_the_field() {
    let work = Scratch::new();
    work.write(
        "witplug.lock",
        "version = 1\n[[plugin]]\nname = \"x\"\nsource = \"r.example/x\"\ndigest = \"sha256:abc\"\nwasm = \"sha256:abc\"\napproved = \"\"\n",
    );
    let (err, code) = refused(&witplug_in(work.path(), &["install", "--offline"]));
    assert!(
        err.contains("witplug.lock") && err.contains("plugin `x`: `digest` is not sha256"),
        "{err}"
    );
    assert_eq!(code, Some(5));
    let (err, _) = refused(&witplug_in(work.path(), &["list"]));
    assert!(err.contains("plugin `x`"), "a host will not start from it either: {err}");
}

/// A registry that lies, in process: each repository is one attack.
async fn hostile_registry() -> (String, Vec<u8>) {
    use axum::body::Body;
    use axum::extract::Path as UrlPath;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    let wasm = std::fs::read(plugins_dir().join("counter.wasm")).unwrap();
    let config = br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#.to_vec();
    let manifest = |layer_size: u64, media_type: &str| {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": { "mediaType": "application/vnd.wasm.config.v0+json", "digest": witplug_registry::sha256_digest(&config), "size": config.len() },
            "layers": [{ "mediaType": "application/wasm", "digest": witplug_registry::sha256_digest(&wasm), "size": layer_size }],
        }))
        .unwrap()
    };
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let (normal, giant, index) = (
        manifest(wasm.len() as u64, oci),
        manifest(10 << 30, oci),
        manifest(wasm.len() as u64, "application/vnd.oci.image.index.v1+json"),
    );
    let (wasm2, config2) = (wasm.clone(), config.clone());
    let app = axum::Router::new()
        .route(
            "/v2/{attack}/manifests/{reference}",
            get(move |UrlPath((attack, _)): UrlPath<(String, String)>| {
                let (normal, giant, index) = (normal.clone(), giant.clone(), index.clone());
                async move {
                    let typed = |bytes: Vec<u8>| {
                        (
                            [(header::CONTENT_TYPE, "application/vnd.oci.image.manifest.v1+json")],
                            bytes,
                        )
                            .into_response()
                    };
                    match attack.as_str() {
                        "huge" => {
                            // Without end, and without a length.
                            let chunk = bytes_chunk();
                            let stream = futures_stream(chunk);
                            Response::builder()
                                .header(
                                    header::CONTENT_TYPE,
                                    "application/vnd.oci.image.manifest.v1+json",
                                )
                                .body(Body::from_stream(stream))
                                .unwrap()
                        }
                        "giant" => typed(giant),
                        "index" => typed(index),
                        _ => typed(normal),
                    }
                }
            }),
        )
        .route(
            "/v2/{attack}/blobs/{digest}",
            get(move |UrlPath((attack, digest)): UrlPath<(String, String)>| {
                let (wasm, config) = (wasm2.clone(), config2.clone());
                async move {
                    if digest == witplug_registry::sha256_digest(&config) {
                        return config.into_response();
                    }
                    match attack.as_str() {
                        "mismatch" => {
                            let mut other = wasm.clone();
                            let last = other.len() - 1;
                            other[last] ^= 1;
                            other.into_response()
                        }
                        "truncated" => Response::builder()
                            .body(Body::from(wasm[..wasm.len() / 2].to_vec()))
                            .unwrap(),
                        "redirect" => (
                            StatusCode::FOUND,
                            [(header::LOCATION, format!("/v2/redirect/blobs/{digest}"))],
                        )
                            .into_response(),
                        _ => wasm.into_response(),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("127.0.0.1:{}", addr.port()), wasm)
}

fn bytes_chunk() -> Vec<u8> {
    vec![b' '; 1 << 16]
}

fn futures_stream(
    chunk: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send {
    futures_util::stream::repeat_with(move || Ok(chunk.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_registry_is_refused_naming_the_reference_and_nothing_is_kept() {
    let (addr, wasm) = hostile_registry().await;
    let store = Scratch::new();
    let registry = registry(store.path(), Policy::default());
    let cases = [
        ("mismatch", "whose digest is"),
        ("truncated", "sent"),
        ("redirect", "redirect"),
        ("huge", "more than the 4194304 bytes"),
        ("giant", "over the bound"),
        ("index", "not application/vnd.oci.image.manifest.v1+json"),
    ];
    for (attack, expected) in cases {
        let reference = Reference::parse(&format!("{addr}/{attack}:1")).unwrap();
        let started = Instant::now();
        let err = registry.fetch(&reference, false).await.expect_err(attack).to_string();
        assert!(
            err.starts_with(&format!("{addr}/{attack}")) && err.contains(expected),
            "{attack}: {err}"
        );
        assert!(!err.contains('\n'), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{attack} took {:?}",
            started.elapsed()
        );
        let layer =
            store.path().join("blobs/sha256").join(&witplug_registry::sha256_digest(&wasm)[7..]);
        assert!(!layer.exists(), "{attack}: a refused layer was kept");
        let scratch: Vec<_> =
            std::fs::read_dir(store.path().join("tmp")).map(|d| d.collect()).unwrap_or_default();
        assert!(scratch.is_empty(), "{attack}: left {scratch:?}");
    }
    // The honest repository of the same server pulls.
    let reference = Reference::parse(&format!("{addr}/honest:1")).unwrap();
    registry.fetch(&reference, false).await.unwrap();
}

/// A registry with the OCI 1.1 referrers API, in front of the real one:
/// it forwards every request, answers `GET …/referrers/<digest>` from the
/// real registry's `sha256-<hex>` tag index, and hides that tag, so a
/// signature is found through the referrers API or not at all.
async fn with_referrers_api(real: &str) -> String {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
    use axum::response::{IntoResponse, Response};

    let real = real.to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let me = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let this = me.clone();
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (http, real, this) = (http.clone(), real.clone(), this.clone());
        async move {
            let path = uri.path().to_owned();
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            if let Some((repo, digest)) = path.strip_prefix("/v2/").and_then(|rest| rest.split_once("/referrers/")) {
                let tag = digest.replace(':', "-");
                let index = http
                    .get(format!("http://{real}/v2/{repo}/manifests/{tag}"))
                    .header("accept", "application/vnd.oci.image.index.v1+json")
                    .send()
                    .await
                    .unwrap();
                let bytes = if index.status().is_success() {
                    index.bytes().await.unwrap().to_vec()
                } else {
                    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec()
                };
                return ([(header::CONTENT_TYPE, "application/vnd.oci.image.index.v1+json")], bytes).into_response();
            }
            if method == Method::GET && path.contains("/manifests/sha256-") {
                return StatusCode::NOT_FOUND.into_response();
            }
            let mut request = http.request(method, format!("http://{real}{path}{query}")).body(body.to_vec());
            for (name, value) in &headers {
                if name != header::HOST {
                    request = request.header(name, value);
                }
            }
            let answer = request.send().await.unwrap();
            let mut response = Response::builder().status(answer.status().as_u16());
            for (name, value) in answer.headers() {
                let value = value.to_str().unwrap_or_default().replace(&real, &this);
                response = response.header(name.as_str(), value);
            }
            response.body(Body::from(answer.bytes().await.unwrap())).unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_is_found_through_the_referrers_api() {
    let real = RealRegistry::start();
    let addr = with_referrers_api(&real.addr).await;
    let src = Scratch::new();
    let file = plugin_with_manifest(&src, "\"upper\"");
    let store = Scratch::new();
    let key = witplug_registry::sign::KeyPair::generate().unwrap();
    let reference = Reference::parse(&format!("{addr}/referred/tool-user:1")).unwrap();
    let plain = registry(store.path(), Policy::default());
    plain.push(&file, None, &reference).await.unwrap();
    plain.sign(&reference, &key).await.unwrap();
    let checked = registry(
        store.path(),
        Policy::default().with(&format!("{addr}/referred"), vec![key.public()]),
    );
    let pulled = checked.fetch(&reference, false).await.unwrap();
    assert_eq!(pulled.signature.unwrap().signer, key.public().id());
    // Without the signature in the index, nothing else reveals one.
    let unsigned = Reference::parse(&format!("{addr}/referred/other:1")).unwrap();
    plain.push(&file, None, &unsigned).await.unwrap();
    let err = checked.fetch(&unsigned, false).await.unwrap_err().to_string();
    assert!(err.contains("unsigned"), "{err}");
}

#[test]
fn sources_in_witplug_toml_are_pinned_by_install_once_approved() {
    let real = RealRegistry::start();
    let work = Scratch::new();
    let src = Scratch::new();
    let reference = real.reference("sources/tool-user:2");
    ok(&witplug_in(
        work.path(),
        &["push", plugin_with_manifest(&src, "\"upper\"").to_str().unwrap(), &reference],
    ));
    work.write("witplug.toml", format!("[registry.sources]\ntool-user = \"{reference}\"\n"));
    let (err, code) = refused(&witplug_in(work.path(), &["install"]));
    assert!(err.contains("tool-user") && err.contains("--accept-grants"), "{err}");
    assert_eq!(code, Some(3));
    assert!(!work.path().join("witplug.lock").exists() && !work.path().join("plugins").exists());
    let installed = ok(&witplug_in(work.path(), &["install", "--accept-grants"]));
    assert!(
        installed.contains("a source of witplug.toml")
            && installed.contains("grants.tools: + upper"),
        "{installed}"
    );
    let lock = std::fs::read_to_string(work.path().join("witplug.lock")).unwrap();
    assert!(lock.contains("name = \"tool-user\"") && lock.contains("tag = \"2\""), "{lock}");
    // Pinned now: a second install takes it from the store, and asks nothing.
    let again = ok(&witplug_in(work.path(), &["install", "--offline"]));
    assert!(again.contains("from the content store") && !again.contains("asks for"), "{again}");
    assert!(ok(&witplug_in(work.path(), &["list"])).contains("tool-user"));
}

#[test]
fn pinned_sources_refuse_a_tag_without_a_digest_and_latest() {
    let work = Scratch::new();
    work.write("witplug.toml", "[registry]\npinned = true\n");
    for reference in ["127.0.0.1:9/x/y:1", "127.0.0.1:9/x/y:latest"] {
        let (err, code) = refused(&witplug_in(work.path(), &["add", reference, "--accept-grants"]));
        assert!(err.contains("pinned"), "{err}");
        assert_eq!(code, Some(2), "usage");
    }
    assert!(!work.path().join("witplug.lock").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wat_plugin_travels_as_a_core_module_and_remove_takes_a_plugin_out() {
    let real = RealRegistry::start();
    let store = Scratch::new();
    let registry = registry(store.path(), Policy::default());
    let wat = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-plugins/wat/math.wat");
    let reference = Reference::parse(&real.reference("wat/math:1")).unwrap();
    registry.push(&wat, None, &reference).await.unwrap();
    let fetched =
        registry.client.manifest(&reference, &[witplug_registry::layout::MANIFEST]).await.unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&fetched.bytes).unwrap();
    let (digest, size) = (
        manifest["config"]["digest"].as_str().unwrap(),
        manifest["config"]["size"].as_u64().unwrap(),
    );
    let config: serde_json::Value =
        serde_json::from_slice(&registry.client.blob(&reference, digest, size).await.unwrap())
            .unwrap();
    assert_eq!(config["os"], "wasip1", "{config}");
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let bytes = registry
        .client
        .blob(&reference, layer, manifest["layers"][0]["size"].as_u64().unwrap())
        .await
        .unwrap();
    assert_eq!(&bytes[..8], b"\0asm\x01\0\0\0", "the WAT travels compiled, as a core module");

    let work = Scratch::new();
    let added = tokio::task::spawn_blocking({
        let (cwd, reference) = (work.path().to_owned(), reference.to_string());
        move || {
            ok(&witplug_in(&cwd, &["add", &reference, "--accept-grants"]));
            let removed = ok(&witplug_in(&cwd, &["remove", "math"]));
            let missing = witplug_in(&cwd, &["remove", "math"]);
            (removed, missing)
        }
    })
    .await
    .unwrap();
    assert!(added.0.contains("removed math"), "{}", added.0);
    assert!(!work.path().join("plugins/math.wasm").exists());
    assert!(!std::fs::read_to_string(work.path().join("witplug.lock")).unwrap().contains("math"));
    let (err, code) = refused(&added.1);
    assert!(err.contains("no plugin `math`"), "{err}");
    assert_eq!(code, Some(4), "not found");
}
