//! `witplug mcp` driven by a real MCP client this project did not write:
//! the official Python SDK (`mcp` on PyPI, pinned), which `cargo xtask
//! test` installs under `target/tools/` and names in `WITPLUG_MCP_PYTHON`.
//! `tests/mcp/client.py` runs one session from a script and prints what it
//! saw as JSON.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::{Scratch, fixture, suite_cache};

/// The Python with the MCP client installed.
fn python() -> PathBuf {
    let python = std::env::var_os("WITPLUG_MCP_PYTHON").map(PathBuf::from).expect(
        "WITPLUG_MCP_PYTHON is not set: run `cargo xtask test`, which installs the MCP client",
    );
    assert!(python.exists(), "{} is missing: run `cargo xtask test`", python.display());
    python
}

/// Runs the client with `script`, and what it printed.
pub(crate) fn client(script: Value) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp/client.py");
    let output = Command::new(python())
        .arg(path)
        .arg(script.to_string())
        .env_remove("WITPLUG_LOG")
        .output()
        .expect("running the MCP client");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the client failed: {stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("the client printed no JSON ({err}): {stderr}"))
}

/// A plugins folder with the tools of Rust, Python and JavaScript plugins,
/// and the kit, whose `handle` loops, hogs memory or logs on demand.
fn plugins() -> Scratch {
    let dir = Scratch::new();
    dir.copy_fixture("word-count");
    dir.write("word-count.toml", "[provides]\ntools = [\"count-words\"]\n");
    for (kit, tool) in [("py-kit", "py-echo"), ("js-kit", "js-echo")] {
        dir.copy_fixture(kit);
        let manifest = format!("[config]\ntools = \"{tool}\"\n[provides]\ntools = [\"{tool}\"]\n");
        dir.write(&format!("{kit}.toml"), manifest);
    }
    dir.copy_fixture("kit");
    dir.write("kit.toml", "[limits]\nmemory = \"16 MiB\"\n");
    dir
}

/// `witplug mcp` over the folder `dir`, with `args`.
pub(crate) fn server(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut command = vec![crate::cli::witplug_bin().display().to_string(), "mcp".to_owned()];
    command.extend(["--plugins".to_owned(), dir.display().to_string()]);
    command.extend(["--cache".to_owned(), suite_cache().display().to_string()]);
    command.extend(args.iter().map(|arg| (*arg).to_owned()));
    command
}

fn results(out: &Value) -> &Vec<Value> {
    out["results"].as_array().unwrap_or_else(|| panic!("no results: {out}"))
}

fn text(result: &Value) -> String {
    result["text"].as_array().map_or(String::new(), |texts| {
        texts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n")
    })
}

#[test]
fn stdio_lists_the_tools_with_their_schemas_and_calls_them_in_the_sandbox() {
    let dir = plugins();
    let command = server(dir.path(), &["--deadline", "3s", "--expose-handle"]);
    let calls = [
        json!({"op": "list"}),
        json!({"op": "call", "name": "count-words", "arguments": {"text": "one two three"}}),
        json!({"op": "call", "name": "py-echo", "arguments": {"input": "hi"}}),
        json!({"op": "call", "name": "js-echo", "arguments": {"input": "hi"}}),
        json!({"op": "call", "name": "count-words", "arguments": {"text": 7}}),
        json!({"op": "call", "name": "kit", "arguments": {"input": "spin"}}),
        json!({"op": "call", "name": "kit", "arguments": {"input": "grow"}}),
        json!({"op": "call", "name": "count-words", "arguments": {"text": "still here"}}),
        json!({"op": "call", "name": "no-such-tool", "arguments": {}}),
        json!({"op": "set_level", "level": "debug"}),
        json!({"op": "call", "name": "kit", "arguments": {"input": "log hello from the kit"}}),
        json!({"op": "wait_log", "text": "hello from the kit", "timeout": 10}),
        json!({"op": "set_level", "level": "error"}),
        json!({"op": "call", "name": "kit", "arguments": {"input": "log below the level"}}),
        json!({"op": "call", "name": "count-words", "arguments": {"text": "x"}}),
        json!({"op": "sleep", "seconds": 0.3}),
    ];
    let out = client(json!({"transport": "stdio", "command": command, "steps": calls}));
    assert_eq!(out["server"]["name"], "witplug", "{out}");
    let results = results(&out);

    // The list: each tool with its description, schemas and hints.
    let tools = results[0]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    // The tools, and with --expose-handle each plugin's `handle`.
    let expected = ["count-words", "js-echo", "js-kit", "kit", "py-echo", "py-kit", "word-count"];
    assert_eq!(names, expected, "{out}");
    let count = &tools[0];
    assert_eq!(count["description"], "Counts the words of a text");
    assert_eq!(count["inputSchema"]["properties"]["text"]["type"], "string", "{count}");
    assert_eq!(count["outputSchema"]["properties"]["result"]["type"], "integer", "{count}");
    assert_eq!(count["annotations"]["readOnlyHint"], true, "{count}");
    // A tool whose input is not an object takes `{"input": ...}`.
    assert_eq!(tools[4]["inputSchema"]["properties"]["input"]["type"], "string", "{out}");

    // Rust, Python and JavaScript tools answer.
    assert_eq!(results[1]["is_error"], false, "{out}");
    assert_eq!(results[1]["structured"], json!({"result": 3}), "{out}");
    assert_eq!(text(&results[2]), r#"py-echo:"hi""#, "{out}");
    assert_eq!(text(&results[3]), r#"js-echo:"hi""#, "{out}");

    // Refused before the plugin runs, naming the path.
    assert_eq!(results[4]["is_error"], true, "{out}");
    let refused = text(&results[4]);
    assert!(refused.starts_with("invalid input: ") && refused.contains("/text"), "{refused}");

    // A loop and a memory hog are tool errors naming the kind; the server
    // goes on serving.
    assert_eq!(results[5]["is_error"], true, "{out}");
    // One kind for every limit, the deadline's included (`ErrorKind`).
    assert!(text(&results[5]).starts_with("limit: "), "{out}");
    assert!(text(&results[5]).contains("timed out"), "{out}");
    assert_eq!(results[6]["is_error"], true, "{out}");
    assert!(text(&results[6]).starts_with("limit: "), "{out}");
    assert_eq!(results[7]["structured"], json!({"result": 2}), "{out}");

    // An unknown tool is a protocol error.
    assert_eq!(results[8]["error"]["code"], -32602, "{out}");

    // A plugin's log line reaches the client, tagged with the plugin.
    let log = &results[11]["log"];
    assert_eq!(log["logger"], "kit", "{out}");
    assert_eq!(log["level"], "info", "{out}");
    // Below the level the client set, nothing is sent.
    let logs = out["logs"].as_array().unwrap();
    assert!(!logs.iter().any(|l| l["data"] == "below the level"), "{out}");
}

#[test]
fn a_cancelled_call_stops_and_the_next_one_is_served_at_once() {
    let dir = plugins();
    let command = server(dir.path(), &["--deadline", "5s", "--expose-handle"]);
    let steps = [
        json!({"op": "cancel", "name": "kit", "arguments": {"input": "spin"}, "after": 0.3}),
        // The kit has one instance: were the loop still running, this call
        // would wait for the 5 s deadline.
        json!({"op": "call", "name": "kit", "arguments": {"input": "count"}}),
    ];
    let out = client(json!({"transport": "stdio", "command": command, "steps": steps}));
    let results = results(&out);
    assert_eq!(results[0]["cancelled"], true, "{out}");
    assert_eq!(results[1]["is_error"], false, "{out}");
    assert_eq!(text(&results[1]), "1", "a fresh instance serves it: {out}");
    assert!(results[1]["seconds"].as_f64().unwrap() < 2.5, "{out}");
}

#[test]
fn a_plugin_added_under_watch_is_listed_after_list_changed() {
    let dir = Scratch::new();
    let command = server(dir.path(), &["--watch", "--interval", "50ms"]);
    let wasm = dir.path().join("word-count.wasm");
    let manifest = dir.path().join("word-count.toml");
    let source = dir.write("provides.txt", "[provides]\ntools = [\"count-words\"]\n");
    let steps = [
        json!({"op": "list"}),
        json!({"op": "copy", "from": source, "to": manifest}),
        json!({"op": "copy", "from": fixture("word-count"), "to": wasm}),
        json!({"op": "wait_list_changed", "timeout": 20}),
        json!({"op": "list"}),
        json!({"op": "call", "name": "count-words", "arguments": {"text": "a b"}}),
        json!({"op": "remove", "path": wasm}),
        json!({"op": "wait_list_changed", "timeout": 20}),
        json!({"op": "list"}),
    ];
    let out = client(json!({"transport": "stdio", "command": command, "steps": steps}));
    let results = results(&out);
    assert_eq!(results[0]["tools"], json!([]), "{out}");
    assert_eq!(results[3]["changed"], true, "{out}");
    assert_eq!(results[4]["tools"][0]["name"], "count-words", "{out}");
    assert_eq!(results[5]["structured"], json!({"result": 2}), "{out}");
    assert_eq!(results[7]["changed"], true, "{out}");
    assert_eq!(results[8]["tools"], json!([]), "{out}");
}

/// `witplug mcp --http` on a free loopback port, and its URL.
pub(crate) struct HttpServer {
    child: Child,
    pub url: String,
}

impl HttpServer {
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        let command = server(dir, &[&["--http", "127.0.0.1:0"], args].concat());
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .env_remove("WITPLUG_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting witplug mcp --http");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut lines = stderr.lines().map_while(Result::ok);
        let url = lines
            .find_map(|line| line.split_once(" at ").map(|(_, url)| url.trim().to_owned()))
            .expect("witplug mcp --http names its URL");
        // Drained, so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, url }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn http_needs_the_token_and_a_loopback_origin() {
    let dir = plugins();
    let token = dir.write("token", "s3cret-token\n");
    let server = HttpServer::start(dir.path(), &["--token-file", token.to_str().unwrap()]);
    let steps = [
        json!({"op": "list"}),
        json!({"op": "call", "name": "count-words", "arguments": {"text": "over http"}}),
    ];
    let script = |headers: Value| json!({"transport": "http", "url": server.url, "headers": headers, "steps": steps});
    let out = client(script(json!({"Authorization": "Bearer s3cret-token"})));
    assert_eq!(results(&out)[1]["structured"], json!({"result": 2}), "{out}");
    // No token, a wrong one, or a page elsewhere: refused before MCP.
    for headers in [
        json!({}),
        json!({"Authorization": "Bearer s3cret-tokem"}),
        json!({"Authorization": "Bearer s3cret-token", "Origin": "https://evil.example"}),
    ] {
        let out = client(script(headers.clone()));
        assert!(out["refused"].is_object(), "{headers}: {out}");
    }
    // A loopback page with the token is served.
    let out = client(script(
        json!({"Authorization": "Bearer s3cret-token", "Origin": "http://localhost:3000"}),
    ));
    assert!(out["results"].is_array(), "{out}");
}

#[test]
fn http_on_an_address_beyond_loopback_needs_a_token() {
    let dir = Scratch::new();
    let output = Command::new(crate::cli::witplug_bin())
        .args(["mcp", "--plugins"])
        .arg(dir.path())
        .args(["--http", "0.0.0.0:0"])
        .env_remove("WITPLUG_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs a token (--token-file)"), "{stderr}");
}

#[test]
fn with_nats_the_tools_of_other_hosts_are_listed_and_called_where_they_live() {
    let nats = crate::nats_server::NatsServer::start();
    // Host A: `witplug run` with word-count, on the bus.
    let provider = Scratch::new();
    provider.copy_fixture("word-count");
    provider.write("word-count.toml", "[provides]\ntools = [\"count-words\"]\n");
    let mut run = Command::new(crate::cli::witplug_bin())
        .args(["run", "--nats", &nats.url(), "--plugins"])
        .arg(provider.path())
        .arg("--cache")
        .arg(suite_cache())
        .env("WITPLUG_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(run.stderr.take().unwrap()).lines();
    let running = lines.by_ref().map_while(Result::ok).find(|line| line.starts_with("running"));
    assert!(running.is_some(), "witplug run ended before running");
    // Host B: `witplug mcp` with no plugins of its own.
    let empty = Scratch::new();
    let command = server(empty.path(), &["--nats", &nats.url()]);
    let steps = [
        json!({"op": "list"}),
        json!({"op": "call", "name": "count-words", "arguments": {"text": "far away"}}),
        json!({"op": "call", "name": "count-words", "arguments": {"text": 1}}),
    ];
    let out = client(json!({"transport": "stdio", "command": command, "steps": steps}));
    let _ = run.kill();
    let _ = run.wait();
    let results = results(&out);
    let tools = results[0]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1, "{out}");
    // The description travelled with the tool.
    assert_eq!(tools[0]["name"], "count-words");
    assert_eq!(tools[0]["description"], "Counts the words of a text");
    assert_eq!(tools[0]["inputSchema"]["properties"]["text"]["type"], "string", "{out}");
    assert_eq!(results[1]["structured"], json!({"result": 2}), "{out}");
    // Checked against the schema where the tool lives, before it runs.
    assert_eq!(results[2]["is_error"], true, "{out}");
    assert!(text(&results[2]).starts_with("invalid input: "), "{out}");
}
