//! The WIT contract: each version in `wit/vX.Y.Z`, 0.1 and 0.2 frozen to
//! the byte (0.3's `types`, `host` and `guest` are 0.2's, byte for byte),
//! and the copies inside the published crates that need one: `host/wit`
//! (every version), `guest-sdk/wit` and `build/wit` (0.2, the `plugin`
//! world), `guest-sdk/wit-mcp` and `build/wit-mcp` (0.3).

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

fn wit_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wit"))
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn contract_0_1_is_frozen_to_the_byte() {
    // The files as 0.1 shipped them (commit f5fef45): never to change, so
    // every plugin built against 0.1 keeps loading.
    let frozen = [
        ("guest.wit", "1303818fd5d883e51a33f64199c120720a94f4664b46dd4384a3d6d5ff345f76"),
        ("host.wit", "d49a1a6f0fe4bc21b6fe6efb574388b45e380bb4389d001bb21b456324441126"),
        ("types.wit", "a3bcdf22313dcbe156726e7f3447029a5e9e18b428979c607621f2df666196e4"),
        ("worlds.wit", "76d71d793c3ee2452ff5a351305200a308c594e6cf5b8d78995bac83862b3e9c"),
    ];
    let files = wit_files(&root().join("wit/v0.1.0"));
    assert_eq!(files.len(), frozen.len(), "{:?}", files.keys());
    for (name, sha256) in frozen {
        let actual = format!("{:x}", Sha256::digest(&files[name]));
        assert_eq!(actual, sha256, "wit/v0.1.0/{name} changed: 0.1 is frozen; change 0.2");
    }
}

#[test]
fn contract_0_2_is_frozen_to_the_byte_and_0_3_keeps_its_interfaces() {
    // The files as 0.2 shipped them, the last version before 0.3.
    let frozen = [
        ("guest.wit", "be8c90b8f4a8b7427b9628beeb4b23e40e4e7d121c1f1ee8a039e181ff77fc92"),
        ("host.wit", "cb94e7a990f9aa0a4b518e84f6e58a05893efc0baec8f42fbe734f31dfb88359"),
        ("types.wit", "4511abc45ba961ead7570fd64feca975bb2bc1336d0ec8624b7985e5401eb6a9"),
        ("worlds.wit", "530718d66a607c4474a41713f9698e414ce9802b130c7b2430e8bd25cab2a2ff"),
    ];
    let files = wit_files(&root().join("wit/v0.2.0"));
    assert_eq!(files.len(), frozen.len(), "{:?}", files.keys());
    for (name, sha256) in frozen {
        let actual = format!("{:x}", Sha256::digest(&files[name]));
        assert_eq!(actual, sha256, "wit/v0.2.0/{name} changed: 0.2 is frozen; change 0.3");
    }
    // 0.3's host bindings delegate to 0.2's and share its types: the same
    // interfaces, to the byte.
    let newer = wit_files(&root().join("wit/v0.3.0"));
    for name in ["guest.wit", "host.wit", "types.wit"] {
        assert_eq!(newer[name], files[name], "wit/v0.3.0/{name} differs from 0.2's");
    }
}

#[test]
fn the_crates_carry_the_contract_unchanged() {
    let mcp = wit_files(&root().join("wit/v0.3.0"));
    for copy in ["guest-sdk/wit-mcp", "build/wit-mcp"] {
        assert_eq!(
            wit_files(&root().join(copy)),
            mcp,
            "{copy} differs from wit/v0.3.0: run `cp wit/v0.3.0/*.wit {copy}/`"
        );
    }
    for version in ["v0.1.0", "v0.2.0", "v0.3.0"] {
        let contract = wit_files(&root().join("wit").join(version));
        assert!(contract.contains_key("host.wit"), "{version}: {:?}", contract.keys());
        let copy = format!("host/wit/{version}");
        assert_eq!(
            wit_files(&root().join(&copy)),
            contract,
            "{copy} differs from wit/{version}: run `cp wit/{version}/*.wit {copy}/`"
        );
    }
    let newest = wit_files(&root().join("wit/v0.2.0"));
    for copy in ["guest-sdk/wit", "build/wit"] {
        assert_eq!(
            wit_files(&root().join(copy)),
            newest,
            "{copy} differs from wit/v0.2.0: run `cp wit/v0.2.0/*.wit {copy}/`"
        );
    }
}

#[test]
fn the_standard_wit_is_vendored_unchanged() {
    // wasi:logging: no crate ships it; the host crate carries a copy.
    let logging = wit_files(&root().join("wit/deps/logging"));
    assert!(logging.contains_key("logging.wit"), "{:?}", logging.keys());
    assert_eq!(wit_files(&root().join("host/wit/deps/logging")), logging);
    // The build crate offers every standard package to plugins of a world
    // of their own.
    for package in ["config", "logging"] {
        let copy = format!("build/wit/deps/{package}");
        let source = wit_files(&root().join("wit/deps").join(package));
        assert_eq!(wit_files(&root().join(&copy)), source, "{copy} differs");
    }
    // wasi:keyvalue@0.2.0-draft2: upstream's files at the commit its
    // LICENSE names; the host and the SDK carry copies.
    let keyvalue = wit_files(&root().join("wit/deps/keyvalue"));
    let names: Vec<&str> = keyvalue.keys().map(String::as_str).collect();
    assert_eq!(names, ["atomic.wit", "batch.wit", "store.wit", "watch.wit", "world.wit"]);
    let world = String::from_utf8_lossy(&keyvalue["world.wit"]).into_owned();
    assert!(world.starts_with("package wasi:keyvalue@0.2.0-draft2;"), "{world}");
    for copy in ["host/wit/deps/keyvalue", "guest-sdk/wit/deps/keyvalue", "build/wit/deps/keyvalue"]
    {
        assert_eq!(
            wit_files(&root().join(copy)),
            keyvalue,
            "{copy} differs from wit/deps/keyvalue"
        );
    }
    let digest = keyvalue.values().fold(String::new(), |mut all, file| {
        all.push_str(&witplug_host::compile::hex_sha256(file));
        all
    });
    assert_eq!(
        witplug_host::compile::hex_sha256(digest.as_bytes()),
        KEYVALUE_DRAFT2_SHA256,
        "wit/deps/keyvalue changed: a standard's WIT is vendored as published"
    );
    // wasi:config: the very files of the crate the host links.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(root().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let manifest = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|package| package["name"] == "wasmtime-wasi-config")
        .and_then(|package| package["manifest_path"].as_str())
        .expect("the host depends on wasmtime-wasi-config");
    let shipped = Path::new(manifest).parent().unwrap().join("wit/deps/config");
    assert_eq!(
        wit_files(&root().join("wit/deps/config")),
        wit_files(&shipped),
        "wit/deps/config differs from {}: copy it again",
        shipped.display()
    );
}

/// The digest of `wit/deps/keyvalue`'s files (each file's sha256, in name
/// order, hashed again), as upstream published them at da58d54.
const KEYVALUE_DRAFT2_SHA256: &str =
    "1fbb247e5804c69cf71a72dec8ff825ec62cb68ae4f919c457e028722f13d3eb";
