//! Capabilities: without a grant a plugin reaches nothing; with one it
//! reaches exactly what was granted.

use witplug_host::{Error, Grants, Host, PluginError, compile::hex_sha256, config::DirMode};

use crate::support::{Scratch, fixture};

async fn snoop(host: &Host) -> std::sync::Arc<witplug_host::Plugin> {
    host.load_file(fixture("hostile-snoop")).await.unwrap()
}

#[tokio::test]
async fn tools_and_topics_that_were_not_granted_are_denied_to_the_plugin() {
    let host =
        crate::support::builder().tool("shell", |_| Ok("should never run".into())).build().unwrap();
    let mut inbox = host.subscribe("*");
    let overreach = host.load_file(fixture("hostile-overreach")).await.unwrap();

    let err = overreach.handle("tool").await.unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { error: PluginError::Denied(c), .. } if c == "tool:shell"),
        "{err}"
    );
    let err = overreach.handle("publish").await.unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { error: PluginError::Denied(c), .. } if c == "publish:admin.shutdown"),
        "{err}"
    );
    assert!(inbox.try_recv().is_none(), "a denied message was published");
    // Denials are errors the plugin handles, not traps.
    assert_eq!(overreach.restarts(), 0);
}

#[tokio::test]
async fn granted_tools_and_topics_work() {
    let host = crate::support::builder()
        .tool("shell", |input| Ok(format!("ran {input}")))
        .grants("hostile-overreach", Grants::new().tool("shell").publish("admin.*"))
        .build()
        .unwrap();
    let mut inbox = host.subscribe("admin.*");
    let overreach = host.load_file(fixture("hostile-overreach")).await.unwrap();
    assert_eq!(overreach.handle("tool").await.unwrap(), "ran rm -rf /");
    assert_eq!(overreach.handle("publish").await.unwrap(), "published");
    assert_eq!(inbox.recv().await.unwrap().topic, "admin.shutdown");
}

#[tokio::test]
async fn without_grants_files_and_environment_are_not_there() {
    let host = crate::support::builder().build().unwrap();
    let snoop = snoop(&host).await;
    let err = snoop.handle("file:/etc/passwd").await.unwrap_err();
    let Error::Plugin { error: PluginError::Failed(message), .. } = &err else { panic!("{err}") };
    assert!(message.starts_with("cannot read /etc/passwd:"), "{message}");
    // The host has PATH; the plugin was not granted it.
    assert!(std::env::var("PATH").is_ok());
    let err = snoop.handle("env:PATH").await.unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { error: PluginError::Failed(m), .. } if m.starts_with("cannot read $PATH")),
        "{err}"
    );
}

#[tokio::test]
async fn granted_folders_and_variables_are_visible_read_only_by_default() {
    let data = Scratch::new();
    data.write("note.txt", "granted text");
    let host = crate::support::builder()
        .grants(
            "hostile-snoop",
            Grants::new().dir(data.path(), "/data", DirMode::ReadOnly).env("PATH"),
        )
        .build()
        .unwrap();
    let snoop = snoop(&host).await;
    assert_eq!(snoop.handle("file:/data/note.txt").await.unwrap(), "granted text");
    assert_eq!(snoop.handle("env:PATH").await.unwrap(), std::env::var("PATH").unwrap());
    // Outside the granted folder there is still nothing.
    assert!(snoop.handle("file:/etc/passwd").await.is_err());
}

#[tokio::test]
async fn manifest_grants_map_folders_relative_to_the_manifest() {
    let dir = Scratch::new();
    let wasm = dir.copy_fixture("hostile-snoop");
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    dir.write("shared/hello.txt", "hello from the manifest's folder");
    dir.write(
        "hostile-snoop.toml",
        "[[grants.dirs]]\nhost = \"shared\"\nguest = \"/shared\"\nmode = \"read-write\"\n",
    );
    let host = crate::support::builder().build().unwrap();
    let snoop = host.load_file(&wasm).await.unwrap();
    assert_eq!(
        snoop.handle("file:/shared/hello.txt").await.unwrap(),
        "hello from the manifest's folder"
    );
}

#[tokio::test]
async fn a_file_whose_hash_does_not_match_its_manifest_is_refused() {
    let dir = Scratch::new();
    let wasm = dir.copy_fixture("counter");
    let good = hex_sha256(&std::fs::read(&wasm).unwrap());
    dir.write("counter.toml", format!("sha256 = \"{good}\"\n"));
    crate::support::builder().build().unwrap().load_file(&wasm).await.unwrap();

    let wrong = "0".repeat(64);
    dir.write("counter.toml", format!("sha256 = \"{wrong}\"\n"));
    let err = crate::support::builder().build().unwrap().load_file(&wasm).await.unwrap_err();
    assert!(
        matches!(&err, Error::HashMismatch { expected, actual, .. } if *expected == wrong && *actual == good),
        "{err}"
    );
}

#[tokio::test]
async fn network_imports_fail_at_load_only_where_the_operator_switched_them_off() {
    let dir = Scratch::new();
    let path = dir.write(
        "netcat.wasm",
        wat::parse_str(
            r#"(component
                 (import "wasi:sockets/tcp@0.2.0" (instance))
               )"#,
        )
        .unwrap(),
    );
    // Linked for every component, and refused when used (tests/all/network.rs).
    crate::support::builder().build().unwrap().load_file(&path).await.unwrap();
    let err = crate::support::builder()
        .switch_off("wasi:sockets")
        .build()
        .unwrap()
        .load_file(&path)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingImport { import, .. } if import == "wasi:sockets/tcp@0.2.0"),
        "{err}"
    );
    assert!(err.to_string().contains("the host operator switched it off"), "{err}");
}

#[tokio::test]
async fn messages_reach_a_plugin_only_on_subscribed_topics() {
    let host = crate::support::builder()
        .grants("echo", Grants::new().subscribe("news.*"))
        .build()
        .unwrap();
    let echo = host.load_file(fixture("echo")).await.unwrap();
    echo.on_message("news.today", b"x").await.unwrap();
    let err = echo.on_message("secrets", b"x").await.unwrap_err();
    assert!(
        matches!(&err, Error::Denied { capability, .. } if capability == "subscribe:secrets"),
        "{err}"
    );
}

#[tokio::test]
async fn a_payload_over_max_input_is_limit_exceeded_to_the_plugin() {
    let dir = Scratch::new();
    let wasm = dir.copy_fixture("messenger");
    dir.write(
        "messenger.toml",
        "[grants]\npublish = [\"greetings\"]\n[limits]\nmax-input = \"16 B\"\n",
    );
    let host = crate::support::builder().build().unwrap();
    let messenger = host.load_file(&wasm).await.unwrap();
    assert_eq!(messenger.handle("short").await.unwrap(), "sent message 1 on greetings");
    let err = messenger.handle("a message longer than sixteen bytes").await.unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { error: PluginError::LimitExceeded(m), .. } if m.contains("over the limit of 16 bytes")),
        "{err}"
    );
}
