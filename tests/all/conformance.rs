//! The conformance kit: every behaviour of the contract, written once and
//! run against the same plugin in each guest language (`kit` in Rust,
//! `py-kit` in Python, `js-kit` in JavaScript; they answer the commands
//! listed in `example-plugins/rust/kit/src/lib.rs`). A test's name says the
//! language: `conformance::python::state_lasts_across_calls`. A new guest
//! language is one more line in the `languages!` call at the bottom.
//!
//! The same kits built against contract 0.1 and committed for good
//! (`tests/fixtures/v0.1`) run beside them: `conformance::python_v0_1::...`.
//! A kit is named by its file: `kit`, or `v0.1/kit` for the frozen one.
//!
//! The key-value behaviours (`wasi:keyvalue`) run the same way against
//! `kv-counter`, `py-kv` and `js-kv`: `conformance::keyvalue::rust::...`.

use std::sync::Arc;
use std::time::Duration;

use witplug_host::{Error, Grants, Host, HostBuilder, Plugin, PluginError};

use crate::support::{Scratch, capture_logs, wait_until};

/// The kit's plugin name: its file's name without the version folder.
fn name(kit: &str) -> &str {
    kit.rsplit('/').next().unwrap_or(kit)
}

/// The contract the kit was built against.
fn contract(kit: &str) -> witplug_host::contract::Contract {
    if kit.starts_with("v0.1/") {
        witplug_host::contract::Contract::V0_1
    } else {
        witplug_host::contract::Contract::V0_2
    }
}

/// The kit's component: built from this tree, or a frozen fixture.
fn fixture(kit: &str) -> std::path::PathBuf {
    match kit.strip_prefix("v0.1/") {
        Some(frozen) => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/v0.1")
            .join(format!("{frozen}.wasm")),
        None => crate::support::fixture(kit),
    }
}

/// A host (from `builder`) with the kit plugin `kit` loaded under its own
/// name, with `manifest` as its manifest.
async fn load(
    kit: &str,
    manifest: &str,
    builder: &mut HostBuilder,
) -> (Host, Arc<Plugin>, Scratch) {
    compiled_once(kit).await;
    let dir = Scratch::new();
    let path = dir.path().join(format!("{}.wasm", name(kit)));
    std::os::unix::fs::symlink(fixture(kit), &path).unwrap();
    dir.write(&format!("{}.toml", name(kit)), manifest);
    let host = builder.build().unwrap();
    let plugin = host.load_file(&path).await.unwrap_or_else(|err| panic!("{kit} loads: {err}"));
    (host, plugin, dir)
}

/// Compiles `kit` into the suite's cache before any test loads it, so the
/// tests of a large component (a Python or JavaScript runtime) that start
/// together wait for one compilation instead of each running their own.
async fn compiled_once(kit: &str) {
    static COMPILED: tokio::sync::Mutex<Vec<String>> = tokio::sync::Mutex::const_new(Vec::new());
    let mut compiled = COMPILED.lock().await;
    if !compiled.iter().any(|done| done == kit) {
        let host = crate::support::builder().build().unwrap();
        host.load_file(fixture(kit)).await.unwrap_or_else(|err| panic!("{kit} loads: {err}"));
        compiled.push(kit.to_owned());
    }
}

async fn handle(plugin: &Plugin, input: &str) -> String {
    plugin.handle(input).await.unwrap_or_else(|err| panic!("`{input}`: {err}"))
}

async fn info_names_the_plugin(kit: &str) {
    let (_host, plugin, _dir) = load(kit, "", &mut crate::support::builder()).await;
    assert_eq!(plugin.info().name, name(kit));
    assert_eq!(plugin.info().version, "0.1.0");
    assert_eq!(plugin.info().contract, Some(contract(kit)));
    assert!(plugin.info().description.contains("conformance kit"), "{:?}", plugin.info());
}

async fn init_fails_with_its_error_then_succeeds(kit: &str) {
    let manifest = "[config]\nfail-init = \"no database\"\n";
    let (_host, plugin, _dir) = load(kit, manifest, &mut crate::support::builder()).await;
    let err = plugin.handle("count").await.unwrap_err();
    assert!(
        matches!(&err, Error::InitFailed { error: PluginError::Failed(why), .. } if why == "no database"),
        "{err}"
    );
    let (_host, plugin, _dir) = load(kit, "", &mut crate::support::builder()).await;
    assert_eq!(handle(&plugin, "count").await, "1");
}

async fn state_lasts_across_calls(kit: &str) {
    let (_host, plugin, _dir) = load(kit, "", &mut crate::support::builder()).await;
    for expected in ["1", "2", "3"] {
        assert_eq!(handle(&plugin, "count").await, expected);
    }
}

async fn log_lines_reach_the_host_tagged_with_the_plugin(kit: &str) {
    let (_host, plugin, _dir) = load(kit, "", &mut crate::support::builder()).await;
    let (lines, _guard) = capture_logs();
    assert_eq!(handle(&plugin, "log hello from the kit").await, "logged");
    let lines = lines.lock().unwrap();
    let line = lines.iter().find(|l| l.message == "hello from the kit").expect("the line");
    assert_eq!((line.level, line.plugin.as_str()), (tracing::Level::INFO, name(kit)));
}

async fn config_is_read_and_a_missing_key_is_none(kit: &str) {
    let manifest = "[config]\ngreeting = \"hi there\"\n";
    let (_host, plugin, _dir) = load(kit, manifest, &mut crate::support::builder()).await;
    assert_eq!(handle(&plugin, "config greeting").await, "hi there");
    assert_eq!(handle(&plugin, "config nothing").await, "<none>");
}

async fn send_message_granted_and_denied(kit: &str) {
    let manifest = "[grants]\npublish = [\"kit.*\"]\n";
    let (host, plugin, _dir) = load(kit, manifest, &mut crate::support::builder()).await;
    let mut inbox = host.subscribe("kit.out");
    assert_eq!(handle(&plugin, "send kit.out hello").await, "sent");
    let message = tokio::time::timeout(Duration::from_secs(10), inbox.recv()).await.unwrap();
    let message = message.unwrap();
    assert_eq!((message.topic.as_str(), &message.payload[..]), ("kit.out", &b"hello"[..]));
    assert_eq!(handle(&plugin, "send admin.stop now").await, "denied:publish:admin.stop");
    assert_eq!(plugin.metrics().denied, 1);
}

async fn call_tool_granted_denied_and_unknown(kit: &str) {
    let manifest = "[grants]\ntools = [\"upper\", \"missing\"]\n";
    let mut builder = crate::support::builder();
    builder.tool("upper", |input| Ok(input.to_uppercase())).tool("secret", |_| Ok("!".into()));
    let (_host, plugin, _dir) = load(kit, manifest, &mut builder).await;
    assert_eq!(handle(&plugin, "tool upper abc").await, "ok:ABC");
    assert_eq!(handle(&plugin, "tool secret x").await, "denied:tool:secret");
    assert_eq!(handle(&plugin, "tool missing x").await, "not-found:missing");
    assert_eq!(plugin.metrics().denied, 1);
}

async fn messages_are_delivered_to_on_message(kit: &str) {
    let manifest = "[grants]\nsubscribe = [\"news.*\"]\n";
    let (host, plugin, _dir) = load(kit, manifest, &mut crate::support::builder()).await;
    let mut events = host.events();
    host.publish("news.today", "sunny");
    host.publish("sports", "not for the kit");
    host.publish("news.tomorrow", "rain");
    wait_until(&mut events, "the kit received two messages", || {
        plugin.metrics().messages_delivered >= 2
    })
    .await;
    assert_eq!(handle(&plugin, "received").await, "news.today=sunny;news.tomorrow=rain");
}

async fn run_tool_serves_other_plugins(kit: &str) {
    // A 0.2 kit describes the tools its config names; a 0.1 kit serves
    // `kit-echo` undescribed.
    let manifest = "[config]\ntools = \"kit-echo\"\n[provides]\ntools = [\"kit-echo\"]\n";
    let mut builder = crate::support::builder();
    builder.grants("tool-user", Grants::new().tool("kit-echo"));
    let (host, _plugin, _dir) = load(kit, manifest, &mut builder).await;
    let caller = host.load_file(fixture("tool-user")).await.unwrap();
    let answer = handle(&caller, r#"kit-echo:"hi""#).await;
    // 0.2's Rust kit answers JSON (`"kit-echo:\"hi\""`), the others text.
    assert!(answer.starts_with("kit-echo says: ") && answer.contains("kit-echo:"), "{answer}");
    let tools = host.tools();
    let echo = tools.iter().find(|tool| tool.name == "kit-echo").expect("kit-echo is listed");
    assert_eq!(echo.provider, witplug_host::tools::Provider::Plugin(name(kit).to_owned()));
    match contract(kit) {
        witplug_host::contract::Contract::V0_1 => assert!(!echo.spec.takes_json(), "{echo:?}"),
        _ => {
            assert_eq!(echo.spec.input_schema["type"], "string", "{echo:?}");
            assert_eq!(echo.spec.hints.read_only, Some(true));
            // Not a JSON string: refused before the kit runs.
            let refused = caller.handle("kit-echo:hi").await.unwrap_err().to_string();
            assert!(refused.contains("is not JSON"), "{refused}");
        }
    }
}

async fn an_error_value_is_returned_not_trapped(kit: &str) {
    let (_host, plugin, _dir) = load(kit, "", &mut crate::support::builder()).await;
    assert_eq!(handle(&plugin, "count").await, "1");
    let err = plugin.handle("fail out of stock").await.unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { error: PluginError::Failed(why), .. } if why == "out of stock"),
        "{err}"
    );
    // The same instance goes on.
    assert_eq!(handle(&plugin, "count").await, "2");
    assert_eq!(plugin.restarts(), 0);
}

async fn an_uncaught_exception_is_a_trap_with_its_message(kit: &str) {
    let (_host, plugin, _dir) = load(kit, "", &mut crate::support::builder()).await;
    assert_eq!(handle(&plugin, "count").await, "1");
    let err = plugin.handle("throw the kit gave up").await.unwrap_err();
    assert!(
        matches!(&err, Error::Trap { plugin, message } if plugin == name(kit) && message.contains("the kit gave up")),
        "{err}"
    );
    // A fresh instance serves the next call.
    assert_eq!(handle(&plugin, "count").await, "1");
    assert_eq!(plugin.restarts(), 1);
}

async fn a_loop_is_stopped_at_its_deadline_and_the_instance_rebuilt(kit: &str) {
    let manifest = "[limits]\ndeadline = \"300 ms\"\n";
    let (_host, plugin, _dir) = load(kit, manifest, &mut crate::support::builder()).await;
    let err = plugin.handle("spin").await.unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { deadline, .. } if *deadline == Duration::from_millis(300)),
        "{err}"
    );
    assert_eq!(handle(&plugin, "count").await, "1");
    assert_eq!(plugin.restarts(), 1);
}

async fn memory_is_refused_at_its_limit_and_the_instance_rebuilt(kit: &str) {
    let manifest = "[limits]\nmemory = \"96 MiB\"\n";
    let (_host, plugin, _dir) = load(kit, manifest, &mut crate::support::builder()).await;
    let err = plugin.handle("grow").await.unwrap_err();
    assert!(matches!(&err, Error::MemoryLimit { limit, .. } if *limit == 96 << 20), "{err}");
    assert_eq!(handle(&plugin, "count").await, "1");
    assert_eq!(plugin.restarts(), 1);
}

async fn output_over_its_limit_is_refused_and_the_instance_rebuilt(kit: &str) {
    let manifest = "[limits]\nmax-output = \"64 KiB\"\n";
    let (_host, plugin, _dir) = load(kit, manifest, &mut crate::support::builder()).await;
    assert_eq!(handle(&plugin, "big 1000").await.len(), 1000);
    let err = plugin.handle("big 100000").await.unwrap_err();
    assert!(
        matches!(&err, Error::OutputTooLarge { size: 100_000, limit, .. } if *limit == 64 << 10),
        "{err}"
    );
    assert_eq!(handle(&plugin, "count").await, "1");
}

/// One module per language, each running every test above against that
/// language's kit plugin.
macro_rules! languages {
    ($($language:ident => $kit:literal),* $(,)?) => {$(
        mod $language {
            languages!(@tests $kit;
                info_names_the_plugin,
                init_fails_with_its_error_then_succeeds,
                state_lasts_across_calls,
                log_lines_reach_the_host_tagged_with_the_plugin,
                config_is_read_and_a_missing_key_is_none,
                send_message_granted_and_denied,
                call_tool_granted_denied_and_unknown,
                messages_are_delivered_to_on_message,
                run_tool_serves_other_plugins,
                an_error_value_is_returned_not_trapped,
                an_uncaught_exception_is_a_trap_with_its_message,
                a_loop_is_stopped_at_its_deadline_and_the_instance_rebuilt,
                memory_is_refused_at_its_limit_and_the_instance_rebuilt,
                output_over_its_limit_is_refused_and_the_instance_rebuilt,
            );
        }
    )*};
    (@tests $kit:literal; $($test:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $test() {
            super::$test($kit).await;
        }
    )*};
}

languages! {
    rust => "kit",
    python => "py-kit",
    javascript => "js-kit",
    rust_v0_1 => "v0.1/kit",
    python_v0_1 => "v0.1/py-kit",
    javascript_v0_1 => "v0.1/js-kit",
}

/// Key-value behaviours (`wasi:keyvalue`), written once and run against
/// the plugin that answers the key-value commands in each language
/// (`kv-counter`, `py-kv`, `js-kv`; the commands are listed in
/// `example-plugins/rust/kv-counter/src/lib.rs`), on a real redb file:
/// `conformance::keyvalue::python::a_script_gets_the_same_answers`.
mod keyvalue {
    use witplug_host::{Error, Host, PluginError};

    use crate::support::Scratch;

    /// Commands and their answers, the same in every language.
    const SCRIPT: [(&str, &str); 20] = [
        ("get missing", "(none)"),
        ("set greeting hello world", "ok"),
        ("get greeting", "hello world"),
        ("exists greeting", "true"),
        ("exists nothing", "false"),
        ("incr hits", "1"),
        ("incr hits 41", "42"),
        ("cas hits 42 100", "swapped"),
        ("cas hits 42 7", "failed: 100"),
        ("cas fresh (none) new", "swapped"),
        ("get fresh", "new"),
        ("set-many a=1,b=2,c=3", "ok"),
        ("get-many a,zz,c", "a=1,zz=(none),c=3"),
        ("delete-many a,b", "ok"),
        ("delete greeting", "ok"),
        ("list", "c,fresh,hits"),
        ("@cache set k v", "ok"),
        ("@cache list", "k"),
        ("list", "c,fresh,hits"),
        ("incr hits 1", "101"),
    ];

    /// A host on the data folder `data` with `plugin` loaded under its own
    /// name, granted the buckets `default` and `cache`, with `limits`.
    async fn load(plugin: &str, data: &std::path::Path, limits: &str) -> Host {
        super::compiled_once(plugin).await;
        let dir = data.join("plugins");
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::os::unix::fs::symlink(
            crate::support::fixture(plugin),
            dir.join(format!("{plugin}.wasm")),
        );
        let manifest = format!("[grants]\nkeyvalue = [\"default\", \"cache\"]\n{limits}");
        std::fs::write(dir.join(format!("{plugin}.toml")), manifest).unwrap();
        let host = crate::support::builder().data_dir(data).build().unwrap();
        host.load_dir(&dir).await.unwrap();
        host
    }

    async fn answer(host: &Host, plugin: &str, input: &str) -> String {
        let plugin_ref = host.plugin(plugin).unwrap();
        plugin_ref.handle(input).await.unwrap_or_else(|err| panic!("{plugin} `{input}`: {err}"))
    }

    async fn refusal(host: &Host, plugin: &str, input: &str) -> PluginError {
        match host.plugin(plugin).unwrap().handle(input).await {
            Err(Error::Plugin { error, .. }) => error,
            other => panic!("{plugin} `{input}`: expected the plugin's error, got {other:?}"),
        }
    }

    async fn a_script_gets_the_same_answers(plugin: &str) {
        let data = Scratch::new();
        let host = load(plugin, data.path(), "").await;
        for (input, expected) in SCRIPT {
            assert_eq!(answer(&host, plugin, input).await, expected, "{plugin} `{input}`");
        }
    }

    async fn state_outlives_the_host(plugin: &str) {
        let data = Scratch::new();
        let host = load(plugin, data.path(), "").await;
        assert_eq!(answer(&host, plugin, "incr visits 5").await, "5");
        drop(host);
        let host = load(plugin, data.path(), "").await;
        assert_eq!(answer(&host, plugin, "incr visits").await, "6");
    }

    async fn a_bucket_not_granted_is_denied(plugin: &str) {
        let data = Scratch::new();
        let host = load(plugin, data.path(), "").await;
        let refused = refusal(&host, plugin, "@other get x").await;
        assert!(
            matches!(&refused, PluginError::Denied(text) if text == "bucket other"),
            "{plugin}: {refused:?}"
        );
        assert_eq!(host.plugin(plugin).unwrap().metrics().denied, 1);
    }

    async fn a_write_past_the_quota_names_the_limit_and_stores_nothing(plugin: &str) {
        let data = Scratch::new();
        let limits = "\n[limits]\nkeyvalue-keys = 3\nkeyvalue-value-size = \"16 B\"\n";
        let host = load(plugin, data.path(), limits).await;
        let refused = refusal(&host, plugin, "set big 12345678901234567").await;
        assert!(
            matches!(&refused, PluginError::LimitExceeded(text) if text.starts_with("keyvalue-value-size: ")),
            "{plugin}: {refused:?}"
        );
        let refused = refusal(&host, plugin, "set-many a=1,b=2,c=3,d=4").await;
        assert!(
            matches!(&refused, PluginError::LimitExceeded(text) if text.starts_with("keyvalue-keys: ")),
            "{plugin}: {refused:?}"
        );
        assert_eq!(answer(&host, plugin, "list").await, "", "{plugin}: nothing of the batch");
    }

    async fn bad_commands_are_invalid_input(plugin: &str) {
        let data = Scratch::new();
        let host = load(plugin, data.path(), "").await;
        for (input, usage) in
            [("incr hits x", "usage: incr KEY"), ("set greeting", "usage: set KEY VALUE")]
        {
            let refused = refusal(&host, plugin, input).await;
            assert!(
                matches!(&refused, PluginError::InvalidInput(text) if text.starts_with(usage)),
                "{plugin} `{input}`: {refused:?}"
            );
        }
    }

    macro_rules! kv_languages {
        ($($language:ident => $plugin:literal),* $(,)?) => {$(
            mod $language {
                kv_languages!(@tests $plugin;
                    a_script_gets_the_same_answers,
                    state_outlives_the_host,
                    a_bucket_not_granted_is_denied,
                    a_write_past_the_quota_names_the_limit_and_stores_nothing,
                    bad_commands_are_invalid_input,
                );
            }
        )*};
        (@tests $plugin:literal; $($test:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $test() {
                super::$test($plugin).await;
            }
        )*};
    }

    kv_languages! {
        rust => "kv-counter",
        python => "py-kv",
        javascript => "js-kv",
    }
}
