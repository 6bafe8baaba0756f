//! The host imports, as real plugins use them: log, get-config,
//! send-message and call-tool.

use witplug_host::{Error, Grants, PluginError};

use crate::support::{Scratch, capture_logs, fixture, host_with_examples};

#[tokio::test]
async fn log_lines_reach_a_tracing_subscriber_tagged_with_the_plugin() {
    let (lines, _guard) = capture_logs();
    let host = host_with_examples(&mut crate::support::builder()).await;
    let echo = host.plugin("echo").unwrap();
    assert_eq!(echo.handle("hello").await.unwrap(), "hello");
    let err = echo.handle("").await.unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { plugin, error: PluginError::InvalidInput(m) } if plugin == "echo" && m == "nothing to echo"),
        "{err}"
    );

    let lines = lines.lock().unwrap();
    let echo_lines: Vec<_> = lines.iter().filter(|l| l.plugin == "echo").collect();
    let messages: Vec<_> = echo_lines.iter().map(|l| (l.level, l.message.as_str())).collect();
    assert_eq!(
        messages,
        [
            (tracing::Level::DEBUG, "echo ready"),
            (tracing::Level::INFO, "echoing 5 bytes"),
            (tracing::Level::WARN, "asked to echo nothing"),
        ]
    );
}

#[tokio::test]
async fn config_comes_from_the_manifest_and_the_builder_overrides_it() {
    let dir = Scratch::new();
    let greeter = dir.copy_fixture("greeter-fr");
    let counter = dir.copy_fixture("counter");
    dir.write("greeter-fr.toml", "[config]\ngreeting = \"Salut\"\n");
    dir.write("counter.toml", "[config]\nstart = 41\n");

    let host = crate::support::builder().build().unwrap();
    host.load_file(&greeter).await.unwrap();
    host.load_file(&counter).await.unwrap();
    let greeting =
        host.plugin("greeter-fr").unwrap().call_wave("greet", &["\"JP\""]).await.unwrap();
    assert_eq!(greeting, ["\"Salut, JP!\""]);
    assert_eq!(host.plugin("counter").unwrap().handle("tick").await.unwrap(), "42");

    let host =
        crate::support::builder().config("greeter-fr", "greeting", "Coucou").build().unwrap();
    host.load_file(&greeter).await.unwrap();
    let greeting =
        host.plugin("greeter-fr").unwrap().call_wave("greet", &["\"JP\""]).await.unwrap();
    assert_eq!(greeting, ["\"Coucou, JP!\""]);
}

#[tokio::test]
async fn without_config_a_plugin_sees_none_and_uses_its_default() {
    let host = crate::support::builder().build().unwrap();
    let greeter = host.load_file(fixture("greeter-fr")).await.unwrap();
    assert_eq!(greeter.call_wave("greet", &["\"JP\""]).await.unwrap(), ["\"Bonjour, JP!\""]);
}

#[tokio::test]
async fn a_failing_init_is_reported_with_the_plugins_error() {
    let host = crate::support::builder().config("counter", "start", "many").build().unwrap();
    let counter = host.load_file(fixture("counter")).await.unwrap();
    let err = counter.handle("tick").await.unwrap_err();
    let Error::InitFailed { plugin, error: PluginError::InvalidInput(message) } = &err else {
        panic!("unexpected error: {err}")
    };
    assert_eq!(plugin, "counter");
    assert_eq!(message, "config `start` is not a number: many");
}

#[tokio::test]
async fn messages_a_plugin_sends_reach_host_subscribers() {
    // plugins/messenger.toml grants publishing on `news.*`.
    let host =
        host_with_examples(crate::support::builder().config("messenger", "topic", "news.local"))
            .await;
    let mut news = host.subscribe("news.*");
    let mut everything = host.subscribe("*");
    let mut other = host.subscribe("greetings");

    let messenger = host.plugin("messenger").unwrap();
    assert_eq!(messenger.handle("first").await.unwrap(), "sent message 1 on news.local");
    assert_eq!(messenger.handle("second").await.unwrap(), "sent message 2 on news.local");

    for inbox in [&mut news, &mut everything] {
        for expected in ["first", "second"] {
            let message = inbox.recv().await.unwrap();
            assert_eq!(message.topic, "news.local");
            assert_eq!(message.payload, expected.as_bytes());
            assert_eq!(message.from.as_deref(), Some("messenger"));
        }
    }
    assert!(other.try_recv().is_none());
}

#[tokio::test]
async fn plugins_call_host_tools_and_see_their_errors() {
    let host = host_with_examples(
        crate::support::builder()
            .tool("upper", |input| Ok(input.to_uppercase()))
            .tool("fail", |input| Err(format!("cannot handle {input}")))
            .tool_async("slow-echo", |input: String| async move {
                tokio::task::yield_now().await;
                Ok(input)
            })
            .tool("secret", |_| Ok("never".into()))
            // plugins/tool-user.toml grants upper, fail and translate.
            .grants("tool-user", Grants::new().tool("slow-echo")),
    )
    .await;
    let tool_user = host.plugin("tool-user").unwrap();

    assert_eq!(tool_user.handle("upper:abc").await.unwrap(), "upper says: ABC");
    assert_eq!(tool_user.handle("slow-echo:hi").await.unwrap(), "slow-echo says: hi");
    // An unknown tool is an error value the plugin handles itself.
    assert_eq!(tool_user.handle("translate:hi").await.unwrap(), "no tool named translate");
    // A failing tool's message reaches the plugin, which passes it on.
    let err = tool_user.handle("fail:x").await.unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { error: PluginError::Failed(m), .. } if m == "tool fail failed: cannot handle x"),
        "{err}"
    );
    // A registered tool that was not granted is denied.
    assert_eq!(tool_user.handle("secret:x").await.unwrap(), "not allowed: tool:secret");
    // None of this trapped: the plugin keeps its instance and keeps working.
    assert_eq!(tool_user.handle("upper:ok").await.unwrap(), "upper says: OK");
}

/// `wasi-greeter`, built with plain wit-bindgen against the standard WASI
/// interfaces only, in a folder of its own with `manifest`.
async fn wasi_greeter(
    manifest: &str,
) -> (witplug_host::Host, std::sync::Arc<witplug_host::Plugin>, Scratch) {
    let dir = Scratch::new();
    let path = dir.copy_fixture("wasi-greeter");
    dir.write("wasi-greeter.toml", manifest);
    let host = crate::support::builder().build().unwrap();
    let plugin =
        host.load_file(&path).await.unwrap_or_else(|err| panic!("wasi-greeter loads: {err}"));
    (host, plugin, dir)
}

#[tokio::test]
async fn a_plain_wasi_component_reads_wasi_config_and_logs_through_wasi_logging() {
    let (lines, _guard) = capture_logs();
    let (_host, greeter, _dir) =
        wasi_greeter("[config]\ngreeting = \"Bonjour\"\nsecond = 2\n").await;
    // It speaks no witplug contract: called by name, dynamically.
    assert_eq!(greeter.info().contract, None);
    assert_eq!(greeter.call_wave("greet", &["\"JP\""]).await.unwrap(), ["\"Bonjour, JP!\""]);
    let lines = lines.lock().unwrap();
    let line = lines.iter().find(|l| l.plugin == "wasi-greeter").expect("its log line");
    // The context before the message; both config keys seen by `get-all`.
    assert_eq!(line.message, "greet: greeting JP (2 config keys)");
    assert_eq!(line.level, tracing::Level::INFO);
}

#[tokio::test]
async fn wasi_logging_counts_against_the_same_log_limit() {
    let (_host, greeter, _dir) = wasi_greeter("[limits]\nlog-lines = 0\n").await;
    let err = greeter.call_wave("greet", &["\"JP\""]).await.unwrap_err();
    assert!(matches!(&err, Error::LogLimit { limit: 0, .. }), "{err}");
    // Unset, the greeting is the default.
    let (_host, greeter, _dir) = wasi_greeter("").await;
    assert_eq!(greeter.call_wave("greet", &["\"Ana\""]).await.unwrap(), ["\"Hello, Ana!\""]);
}
