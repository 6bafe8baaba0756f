//! Tools plugins provide to each other, and the cycles the host refuses.

use witplug_host::{Error, PluginError, tools::Provider};

use crate::support::{Scratch, fixture, plugins_dir};

#[tokio::test]
async fn a_plugin_calls_a_tool_another_plugin_provides() {
    // plugins/word-count.toml provides count-words; plugins/tool-user.toml
    // grants calling it.
    let host = crate::support::builder().build().unwrap();
    host.load_dir(plugins_dir()).await.unwrap();
    let tool_user = host.plugin("tool-user").unwrap();
    assert_eq!(
        tool_user.handle(r#"count-words:{"text":"the quick brown fox"}"#).await.unwrap(),
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
    let err = host.plugin("relay-a").unwrap().handle("\"x\"").await.unwrap_err();
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
    assert_eq!(
        tool_user.handle(r#"count-words:{"text":"a b"}"#).await.unwrap(),
        "count-words says: 2"
    );
    let word_count = host.plugin("word-count").unwrap();
    host.unload("word-count").await.unwrap();
    // Even while someone still holds the unloaded plugin, its tool is gone.
    assert_eq!(
        tool_user.handle(r#"count-words:{"text":"a b"}"#).await.unwrap(),
        "no tool named count-words"
    );
    drop(word_count);
}

#[tokio::test]
async fn host_tools_lists_every_tool_with_its_schema_and_provider() {
    let mut builder = crate::support::builder();
    let spec = witplug_host::tools::ToolSpec::new(
        "Upper-cases a string",
        serde_json::json!({"type": "string", "maxLength": 8}),
    )
    .unwrap();
    builder
        .tool("upper", |input| Ok(input.to_uppercase()))
        .describe_tool("upper", spec)
        .tool("reverse", |input| Ok(input.chars().rev().collect()));
    let host = builder.build().unwrap();
    host.load_dir(plugins_dir()).await.unwrap();
    let tools = host.tools();
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "listed by name");
    for name in ["count-words", "reverse", "upper"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let count = tools.iter().find(|tool| tool.name == "count-words").unwrap();
    assert_eq!(count.provider, Provider::Plugin("word-count".into()));
    assert_eq!(count.spec.description, "Counts the words of a text");
    // From the SDK: the schema of the plugin's Rust input type.
    let schema = &count.spec.input_schema;
    assert_eq!(schema["type"], "object", "{schema}");
    assert_eq!(schema["properties"]["text"]["type"], "string", "{schema}");
    assert_eq!(schema["required"], serde_json::json!(["text"]), "{schema}");
    assert_eq!(count.spec.output_schema.as_ref().unwrap()["type"], "integer");
    assert_eq!(count.spec.hints.read_only, Some(true));
    assert!(count.spec.takes_json());
    // A host tool without a description takes a string, as a 0.1 tool does.
    let reverse = tools.iter().find(|tool| tool.name == "reverse").unwrap();
    assert_eq!(reverse.provider, Provider::Host);
    assert!(!reverse.spec.takes_json());
    assert_eq!(reverse.spec.input_schema["properties"]["input"]["type"], "string");
    // Serializable for an agent or a JSON report.
    let json = serde_json::to_value(count).unwrap();
    assert_eq!(json["provider"], serde_json::json!({"kind": "plugin", "name": "word-count"}));
    assert_eq!(json["input_schema"]["type"], "object");
}

#[tokio::test]
async fn an_input_its_schema_refuses_is_invalid_input_before_the_provider_runs() {
    let mut builder = crate::support::builder();
    let spec =
        witplug_host::tools::ToolSpec::new("Upper", serde_json::json!({"type": "string"})).unwrap();
    builder.tool("upper", |input| Ok(input.to_uppercase())).describe_tool("upper", spec);
    let host = builder.build().unwrap();
    host.load_dir(plugins_dir()).await.unwrap();
    let tool_user = host.plugin("tool-user").unwrap();
    let word_count = host.plugin("word-count").unwrap();
    for (input, path) in [
        (r#"count-words:{"text": 7}"#, "`/text`"),
        (r#"count-words:{"words": "a b"}"#, "`/`"),
        ("count-words:a b", "not JSON"),
        ("upper:abc", "not JSON"),
    ] {
        let err = tool_user.handle(input).await.unwrap_err().to_string();
        assert!(err.contains(path) && err.contains("input of tool"), "{input}: {err}");
    }
    // Refused before it ran: word-count served no call.
    assert_eq!(word_count.metrics().calls, 0);
    assert_eq!(tool_user.handle(r#"upper:"abc""#).await.unwrap(), r#"upper says: "ABC""#);
}

#[tokio::test]
async fn described_and_provided_tools_must_agree() {
    let dir = Scratch::new();
    let word_count = std::fs::read(fixture("word-count")).unwrap();
    let relay = std::fs::read(fixture("relay")).unwrap();
    // Provided, not described; described, not provided; both, agreeing.
    dir.write("undescribed.wasm", &relay);
    dir.write("undescribed.toml", "[provides]\ntools = [\"hop\"]\n");
    dir.write("unprovided.wasm", &word_count);
    dir.write("agreeing.wasm", &relay);
    dir.write("agreeing.toml", "[config]\ntools = \"hop\"\n[provides]\ntools = [\"hop\"]\n");
    let host = crate::support::builder().build().unwrap();
    let report = host.load_dir(dir.path()).await.unwrap();
    let loaded: Vec<&str> = report.loaded.iter().map(|plugin| plugin.name()).collect();
    assert_eq!(loaded, ["agreeing"]);
    let mut reasons: Vec<String> = report.failed.iter().map(ToString::to_string).collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].ends_with(
            "undescribed.wasm: its manifest provides tool `hop`, which the plugin does not describe"
        ),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].ends_with(
            "unprovided.wasm: describes tool `count-words`, which its manifest does not provide \
             (add it to `[provides] tools`)"
        ),
        "{}",
        reasons[1]
    );
    assert!(report.failed.iter().all(|err| matches!(err, Error::ToolDescriptions { .. })));
}
