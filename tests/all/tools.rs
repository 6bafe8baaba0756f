//! Tools plugins provide to each other, and the cycles the host refuses.

use witplug_host::{Error, PluginError};

use crate::support::{Scratch, fixture, plugins_dir};

#[tokio::test]
async fn a_plugin_calls_a_tool_another_plugin_provides() {
    // plugins/word-count.toml provides count-words; plugins/tool-user.toml
    // grants calling it.
    let host = crate::support::builder().build().unwrap();
    host.load_dir(plugins_dir()).await.unwrap();
    let tool_user = host.plugin("tool-user").unwrap();
    assert_eq!(
        tool_user.handle("count-words:the quick brown fox").await.unwrap(),
        "count-words says: 4"
    );
    let word_count = host.plugin("word-count").unwrap();
    assert_eq!(word_count.handle("").await.unwrap(), "served 1 tool calls");
    assert_eq!(word_count.metrics().calls, 2);
}

#[tokio::test]
async fn a_tool_cycle_is_refused_not_deadlocked() {
    let dir = Scratch::new();
    crate::support::tool_cycle_relays(&dir);
    let host = crate::support::builder().build().unwrap();
    let report = host.load_dir(dir.path()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let err = host.plugin("relay-a").unwrap().handle("x").await.unwrap_err();
    let Error::Plugin { plugin, error: PluginError::Failed(message) } = &err else {
        panic!("unexpected error: {err}")
    };
    assert_eq!(plugin, "relay-a");
    assert_eq!(message, "refused a tool cycle: relay-a -> relay-b -> relay-a");
}

#[tokio::test]
async fn two_plugins_cannot_provide_the_same_tool() {
    let dir = Scratch::new();
    let word_count = std::fs::read(fixture("word-count")).unwrap();
    for name in ["counter-one", "counter-two"] {
        dir.write(&format!("{name}.wasm"), &word_count);
        dir.write(&format!("{name}.toml"), "[provides]\ntools = [\"count-words\"]\n");
    }
    let host = crate::support::builder().build().unwrap();
    let report = host.load_dir(dir.path()).await.unwrap();
    assert_eq!(report.loaded.len(), 1);
    let [Error::Conflict { reason, .. }] = report.failed.as_slice() else {
        panic!("{:?}", report.failed)
    };
    assert_eq!(reason, "provides tool `count-words`, which plugin `counter-one` already provides");
}

#[tokio::test]
async fn an_unloaded_plugins_tools_are_gone() {
    let host = crate::support::builder().build().unwrap();
    host.load_dir(plugins_dir()).await.unwrap();
    let tool_user = host.plugin("tool-user").unwrap();
    assert_eq!(tool_user.handle("count-words:a b").await.unwrap(), "count-words says: 2");
    let word_count = host.plugin("word-count").unwrap();
    host.unload("word-count").await.unwrap();
    // Even while someone still holds the unloaded plugin, its tool is gone.
    assert_eq!(tool_user.handle("count-words:a b").await.unwrap(), "no tool named count-words");
    drop(word_count);
}
