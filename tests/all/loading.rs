//! Loading plugins from a folder, and every kind of bad file in it.

use std::time::Duration;

use witplug_host::Error;

use crate::support::{EXAMPLES, Scratch, fixture, plugins_dir};

#[tokio::test]
async fn every_example_plugin_loads_from_the_plugins_folder() {
    let host = crate::support::builder().build().unwrap();
    let report = host.load_dir(plugins_dir()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    for name in EXAMPLES {
        let plugin = host.plugin(name).unwrap();
        assert_eq!(plugin.name(), name);
        assert!(plugin.size() > 0);
    }
}

#[tokio::test]
async fn plugins_of_the_default_world_describe_themselves() {
    let host = crate::support::builder().build().unwrap();
    let counter = host.load_file(fixture("counter")).await.unwrap();
    assert!(counter.is_guest());
    assert_eq!(counter.info().name, "counter");
    assert_eq!(counter.info().version, "0.1.0");
    assert_eq!(
        counter.info().description,
        "Counts its calls: state kept across calls in &mut self"
    );
    let greeter = host.load_file(fixture("greeter-en")).await.unwrap();
    assert!(!greeter.is_guest());
    assert_eq!(greeter.info().version, "");
}

#[tokio::test]
async fn bad_files_are_reported_by_name_and_do_not_stop_the_others() {
    // Inspecting a core module as a component says what it is.
    let module = wat::parse_str("(module)").unwrap();
    let err = witplug_host::compile::inspect(std::path::Path::new("m.wasm"), &module).unwrap_err();
    assert!(matches!(err, Error::CoreModule { .. }), "{err}");
    let dir = Scratch::new();
    dir.copy_fixture("counter");
    let text = dir.write("notes.wasm", "these are not the bytes you are looking for");
    dir.write("core.wasm", wat::parse_str("(module (func (export \"f\")))").unwrap());
    let component = std::fs::read(fixture("echo")).unwrap();
    let truncated = dir.write("truncated.wasm", &component[..component.len() / 2]);
    let foreign = dir.write(
        "foreign.wasm",
        wat::parse_str(
            r#"(component
                 (import "acme:payments/api@1.0.0" (instance (export "charge" (func))))
               )"#,
        )
        .unwrap(),
    );
    dir.write("readme.txt", "not a .wasm file, so not a plugin");

    let host = crate::support::builder().build().unwrap();
    let report = host.load_dir(dir.path()).await.unwrap();

    let loaded: Vec<&str> = report.loaded.iter().map(|p| p.name()).collect();
    // A core module is a plugin too, under the core ABI (tests/all/core_modules.rs).
    assert_eq!(loaded, ["core", "counter"]);
    assert!(report.loaded[0].is_core_module());
    assert_eq!(report.failed.len(), 3, "{:?}", report.failed);
    for err in &report.failed {
        let message = err.to_string();
        assert!(!message.contains('\n'), "not one line: {message}");
        match err {
            Error::NotWasm { path } => {
                assert_eq!(path, &text);
                assert_eq!(message, format!("{}: not a WebAssembly file", text.display()));
            }
            Error::InvalidComponent { path, reason } => {
                assert_eq!(path, &truncated);
                assert!(!reason.is_empty());
            }
            Error::MissingImport { path, import, .. } => {
                assert_eq!(path, &foreign);
                assert_eq!(import, "acme:payments/api@1.0.0");
                assert!(
                    message.contains(
                        "imports `acme:payments/api@1.0.0`, which this host does not provide"
                    ),
                    "{message}"
                );
            }
            other => panic!("unexpected error: {other}"),
        }
    }
    // The plugin that loaded works.
    assert_eq!(host.plugin("counter").unwrap().handle("tick").await.unwrap(), "1");
}

#[tokio::test]
async fn a_host_interface_of_the_wrong_shape_is_a_missing_import() {
    let dir = Scratch::new();
    let path = dir.write(
        "impostor.wasm",
        wat::parse_str(
            r#"(component
                 (import "witplug:plugin/host@0.1.0" (instance (export "log" (func (param "x" u32)))))
               )"#,
        )
        .unwrap(),
    );
    let host = crate::support::builder().build().unwrap();
    let err = host.load_file(&path).await.unwrap_err();
    assert!(
        matches!(&err, Error::MissingImport { import, .. } if import == "witplug:plugin/host@0.1.0"),
        "{err}"
    );
}

#[tokio::test]
async fn a_plugin_name_is_loaded_once() {
    let host = crate::support::builder().build().unwrap();
    host.load_file(fixture("echo")).await.unwrap();
    let err = host.load_file(fixture("echo")).await.unwrap_err();
    assert!(matches!(&err, Error::DuplicatePlugin { name, .. } if name == "echo"), "{err}");
}

#[tokio::test]
async fn unknown_plugins_and_folders_are_named_in_the_error() {
    let host = crate::support::builder().build().unwrap();
    host.load_file(fixture("echo")).await.unwrap();
    let err = host.plugin("nope").unwrap_err();
    assert_eq!(err.to_string(), "no plugin named `nope` (loaded: echo)");
    let err = host.load_dir("/nonexistent/plugins").await.unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().starts_with("/nonexistent/plugins: "), "{err}");
}

#[tokio::test]
async fn a_malformed_manifest_names_the_file_and_the_key() {
    let dir = Scratch::new();
    let wasm = dir.copy_fixture("counter");
    dir.write("counter.toml", "[config]\nstart = 1\n[limitz]\nmemory = 1\n");
    let host = crate::support::builder().build().unwrap();
    let err = host.load_file(&wasm).await.unwrap_err();
    let Error::Manifest { path, reason } = &err else { panic!("unexpected error: {err}") };
    assert!(path.ends_with("counter.toml"));
    assert!(reason.starts_with("line 3: unknown field `limitz`"), "{reason}");
}

/// Resident memory of this process, in bytes.
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

#[tokio::test]
async fn a_fifo_a_folder_and_a_huge_file_are_reported_and_never_read() {
    let dir = Scratch::new();
    dir.copy_fixture("counter");
    let fifo = dir.path().join("fifo.wasm");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo {}", fifo.display());
    std::fs::create_dir(dir.path().join("folder.wasm")).unwrap();
    // 1 GiB that takes no disk: a sparse file.
    let huge = std::fs::File::create(dir.path().join("huge.wasm")).unwrap();
    huge.set_len(1 << 30).unwrap();
    drop(huge);

    let host = crate::support::builder().build().unwrap();
    let before = resident();
    // A FIFO opened for reading would block for ever: a hang fails here.
    let report = tokio::time::timeout(Duration::from_secs(10), host.load_dir(dir.path()))
        .await
        .expect("loading the folder does not hang")
        .unwrap();
    let grown = resident().saturating_sub(before);
    assert_eq!(report.loaded.len(), 1, "{:?}", report.failed);
    let messages: Vec<String> = report.failed.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].ends_with("fifo.wasm: a FIFO, not a plugin file"), "{messages:?}");
    assert!(messages[1].ends_with("folder.wasm: a directory, not a plugin file"), "{messages:?}");
    assert!(messages[2].ends_with("huge.wasm: 1 GiB is over the limit of 256 MiB"), "{messages:?}");
    assert!(matches!(report.failed[2], Error::TooLarge { size, .. } if size == 1 << 30));
    // Other tests share this process: allow them their noise, not 1 GiB.
    assert!(grown < 256 << 20, "the host grew by {grown} bytes");

    // A lower limit set by the operator refuses the component itself.
    let strict = crate::support::builder().max_file_size(1024).build().unwrap();
    let err = strict.load_file(dir.path().join("counter.wasm")).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 1024, .. }), "{err}");
}

#[tokio::test]
async fn a_contract_version_the_host_does_not_speak_is_refused_naming_those_it_does() {
    let dir = Scratch::new();
    let host = crate::support::builder().build().unwrap();
    for version in ["0.4.0", "0.1.5-draft", "1.0.0"] {
        let path = dir.write(
            &format!("future-{version}.wasm"),
            wat::parse_str(format!(
                r#"(component
                     (import "witplug:plugin/host@{version}" (instance (export "log" (func (param "x" u32)))))
                   )"#
            ))
            .unwrap(),
        );
        let err = host.load_file(&path).await.unwrap_err();
        assert!(matches!(&err, Error::UnsupportedContract { .. }), "{err}");
        assert!(
            err.to_string().ends_with(&format!(
                "future-{version}.wasm: targets witplug:plugin@{version}, which this host does not \
                 speak (it speaks 0.1.0, 0.2.0, 0.3.0)"
            )),
            "{err}"
        );
    }
    // A later 0.2.x that only adds is served by 0.2.
    let path = dir.write(
        "later.wasm",
        wat::parse_str(
            r#"(component
                 (import "witplug:plugin/host@0.2.9" (instance (export "get-config" (func (param "key" string) (result (option string))))))
               )"#,
        )
        .unwrap(),
    );
    let plugin = host.load_file(&path).await.unwrap();
    assert_eq!(plugin.info().contract, Some(witplug_host::contract::Contract::V0_2));
    // 0.3's MCP interfaces may go with 0.2's `host`; they do not exist
    // before 0.3, and `host` and `guest` still name one version.
    let component = |imports: &str| wat::parse_str(format!(r#"(component {imports})"#)).unwrap();
    let host_0_2 = r#"(import "witplug:plugin/host@0.2.0" (instance (export "get-config" (func (param "key" string) (result (option string))))))"#;
    let paired = dir.write(
        "paired.wasm",
        component(&format!(r#"{host_0_2} (import "witplug:plugin/client@0.3.0" (instance))"#)),
    );
    let plugin = host.load_file(&paired).await.unwrap();
    assert_eq!(plugin.info().contract, Some(witplug_host::contract::Contract::V0_2));
    let early = dir.write(
        "early.wasm",
        component(r#"(import "witplug:plugin/client@0.2.0" (instance (export "x" (func))))"#),
    );
    let err = host.load_file(&early).await.unwrap_err();
    assert!(err.to_string().contains("which witplug:plugin has only since 0.3.0"), "{err}");
    let mixed = dir.write(
        "mixed.wasm",
        component(&format!(
            r#"{host_0_2} (import "witplug:plugin/host@0.3.0" (instance (export "get-config" (func (param "key" string) (result (option string))))))"#
        )),
    );
    let err = host.load_file(&mixed).await.unwrap_err();
    assert!(err.to_string().contains("mixes witplug:plugin@0.2.0 and @0.3.0"), "{err}");
}

#[tokio::test]
async fn a_compile_of_over_a_second_is_told_as_it_starts_and_ends() {
    // No cache: the Python runtime compiles for seconds.
    let host = witplug_host::Host::builder().build().unwrap();
    let mut events = host.events();
    host.load_file(crate::support::fixture("py-counter")).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    let told: Vec<String> = seen.iter().map(ToString::to_string).collect();
    assert!(
        matches!(&seen[..], [witplug_host::Event::Compiling { cached_afterwards: false, .. }, witplug_host::Event::Compiled { took, .. }, witplug_host::Event::Loaded { .. }] if took.as_secs_f64() > 1.0),
        "{told:?}"
    );
    assert_eq!(told[0], "py-counter: compiling (no cache: at every start)");
    assert!(told[1].starts_with("py-counter: compiled in "), "{told:?}");
    // From the cache, a load says nothing of compiling.
    let cached = crate::support::builder().build().unwrap();
    crate::support::builder()
        .build()
        .unwrap()
        .load_file(crate::support::fixture("counter"))
        .await
        .unwrap();
    let mut events = cached.events();
    cached.load_file(crate::support::fixture("counter")).await.unwrap();
    let first = events.try_recv().unwrap();
    assert!(matches!(first, witplug_host::Event::Loaded { .. }), "{first}");
}
