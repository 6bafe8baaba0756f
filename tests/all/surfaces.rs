//! Every way into the host is a boundary: each test here attacks one of
//! them as a stranger would reach it (a plugin's tool schema, the
//! key-value store's file, the HTTP endpoints, MCP's stdio, outgoing HTTP
//! bodies, the CLI's output), asserts the exact refusal, and checks that a
//! well-behaved plugin or client is answered during and after the attack.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use witplug_host::{Error, Host, PluginError};

use crate::support::{Scratch, builder, fixture, suite_cache};

/// A folder with word-count, which provides `count-words`.
fn word_count_folder() -> Scratch {
    let dir = Scratch::new();
    dir.copy_fixture("word-count");
    dir.write("word-count.toml", "[provides]\ntools = [\"count-words\"]\n");
    dir
}

/// `witplug mcp` over `dir` with `args` and the suite's cache, its stdin
/// piped and stdout and stderr as given, started.
fn witplug_mcp(dir: &Path, args: &[&str], stdout: Stdio, stderr: Stdio) -> std::process::Child {
    Command::new(crate::cli::witplug_bin())
        .arg("mcp")
        .args(args)
        .arg("--plugins")
        .arg(dir)
        .arg("--cache")
        .arg(suite_cache())
        .env_remove("WITPLUG_LOG")
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// A folder with word-count, and hostile-schema attacking with `attack`.
fn schema_attack(attack: &str) -> Scratch {
    let dir = word_count_folder();
    dir.copy_fixture("hostile-schema");
    let manifest =
        format!("[config]\nattack = \"{attack}\"\n[provides]\ntools = [\"hostile-tool\"]\n");
    dir.write("hostile-schema.toml", manifest);
    dir
}

/// The reason hostile-schema was refused at load.
async fn refused_at_load(attack: &str) -> String {
    let dir = schema_attack(attack);
    let host = builder().build().unwrap();
    let started = Instant::now();
    let report = host.load_dir(dir.path()).await.unwrap();
    // Refused early: nothing compiled for seconds.
    eprintln!("measured: hostile-schema `{attack}` refused at load in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(20), "{attack}: {:?}", started.elapsed());
    assert_eq!(report.loaded.len(), 1, "{attack}: word-count loads beside it");
    assert_eq!(report.failed.len(), 1, "{attack}: {:?}", report.failed);
    let err = report.failed[0].to_string();
    assert!(err.contains("hostile-schema.wasm") && !err.contains('\n'), "{err}");
    let count = host.call_tool("count-words", r#"{"text": "still served"}"#).await.unwrap();
    assert_eq!(count, "2");
    err
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_past_its_bounds_is_refused_at_load_naming_the_tool_and_the_bound() {
    let err = refused_at_load("patterns").await;
    assert!(
        err.contains("tool `hostile-tool`: its input schema: it holds 2000 patterns, over the schema-patterns limit of 256"),
        "{err}"
    );
    let err = refused_at_load("backreference").await;
    assert!(err.contains("tool `hostile-tool`: its input schema: it does not compile"), "{err}");
    let err = refused_at_load("deep").await;
    assert!(err.contains("over the schema-depth limit of 32"), "{err}");
    let err = refused_at_load("huge").await;
    assert!(err.contains("over the tool-descriptions limit of 1 MiB"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_input_makes_a_pattern_backtrack_and_a_heavy_check_delays_no_other_tool() {
    let dir = schema_attack("backtrack");
    let host = builder().build().unwrap();
    let report = host.load_dir(dir.path()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    // 200 words and a final `!`: exponential for a backtracking engine,
    // linear here, and refused.
    let input = json!({ "text": format!("{}!", "word ".repeat(200)) }).to_string();
    let started = Instant::now();
    for _ in 0..2 {
        match host.call_tool("hostile-tool", &input).await {
            Err(Error::Plugin { error: PluginError::InvalidInput(reason), .. }) => {
                assert!(reason.contains("does not match its schema at `/text`"), "{reason}");
            }
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }
    eprintln!("measured: two 200-word inputs refused in {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());

    // 200 patterns over every string of an 8 KB input: checked off the
    // async workers, within the provider's deadline, while word-count
    // answers; a 1 MiB input to the same schema is refused before any
    // check, which would take too long.
    let dir = schema_attack("heavy");
    let host = std::sync::Arc::new(builder().build().unwrap());
    let report = host.load_dir(dir.path()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let input = |strings: usize| {
        let map: serde_json::Map<String, Value> =
            (0..strings).map(|i| (format!("k{i}"), json!("word ".repeat(100)))).collect();
        Value::Object(map).to_string()
    };
    match host.call_tool("hostile-tool", &input(2_000)).await {
        Err(Error::Plugin { error: PluginError::LimitExceeded(reason), .. }) => {
            assert!(
                reason.contains("is too large to check against a schema of its weight"),
                "{reason}"
            );
        }
        other => panic!("expected limit-exceeded, got {other:?}"),
    }
    let heavy = input(16);
    let attacker = tokio::spawn({
        let host = host.clone();
        async move {
            let started = Instant::now();
            let mut answers = Vec::new();
            for _ in 0..20 {
                answers.push(host.call_tool("hostile-tool", &heavy).await);
            }
            (answers, started.elapsed())
        }
    });
    let mut slowest = Duration::ZERO;
    while !attacker.is_finished() {
        let started = Instant::now();
        let count = host.call_tool("count-words", r#"{"text": "a b c"}"#).await.unwrap();
        assert_eq!(count, "3");
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (answers, took) = attacker.await.unwrap();
    for answer in answers {
        // No string ends in `z`: refused, within the deadline.
        match answer {
            Err(Error::Plugin { error: PluginError::InvalidInput(reason), .. }) => {
                assert!(reason.contains("does not match its schema"), "{reason}");
            }
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }
    eprintln!("measured: 20 heavy checks in {took:?}; word-count waited {slowest:?} at most");
    assert!(took < Duration::from_secs(20), "the checks took {took:?}");
    assert!(slowest < Duration::from_millis(500), "word-count waited {slowest:?}");
}

/// A plugins folder with kv-counter (deadline 500 ms) and counter.
fn kv_plugins(dir: &Scratch) -> std::path::PathBuf {
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(fixture("kv-counter"), plugins.join("kv-counter.wasm")).unwrap();
    std::fs::write(
        plugins.join("kv-counter.toml"),
        "[grants]\nkeyvalue = [\"default\"]\n[limits]\ndeadline = \"500 ms\"\n",
    )
    .unwrap();
    std::fs::copy(fixture("counter"), plugins.join("counter.wasm")).unwrap();
    plugins
}

/// Holds the database's write lock, as another process stopped mid-write
/// would, until dropped.
struct WriteLockHeld {
    release: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WriteLockHeld {
    fn on(file: &Path) -> Self {
        let db = redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .create(file)
            .unwrap();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (held, holding) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let tx = db.begin_write().unwrap();
            held.send(()).unwrap();
            let _ = released.recv();
            drop(tx);
        });
        holding.recv().unwrap();
        Self { release, thread: Some(thread) }
    }
}

impl Drop for WriteLockHeld {
    fn drop(&mut self) {
        let _ = self.release.send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_lock_held_elsewhere_fails_the_call_within_its_deadline_and_nothing_else() {
    let dir = Scratch::new();
    let plugins = kv_plugins(&dir);
    let data = dir.path().join("data");
    let host = builder().data_dir(&data).build().unwrap();
    host.load_dir(&plugins).await.unwrap();
    let kv = host.plugin("kv-counter").unwrap();
    assert_eq!(kv.handle("").await.unwrap(), "1");
    let lock = WriteLockHeld::on(&data.join(witplug_host::kv::DATABASE_FILE));
    let started = Instant::now();
    let err = kv.handle("").await.unwrap_err().to_string();
    let took = started.elapsed();
    eprintln!("measured: a write behind a held lock failed in {took:?}: {err}");
    assert!(took < Duration::from_secs(2), "the call took {took:?}");
    assert!(err.contains("kv-counter") && err.contains("deadline"), "{err}");
    // Another plugin is served meanwhile, at once.
    let started = Instant::now();
    assert_eq!(host.plugin("counter").unwrap().handle("tick").await.unwrap(), "1");
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
    drop(lock);
    // The write the failed call made was not stored after it failed.
    assert_eq!(kv.handle("").await.unwrap(), "2");
}

#[test]
fn the_cli_says_the_store_is_held_and_exits_in_bounded_time() {
    let dir = Scratch::new();
    let plugins = kv_plugins(&dir);
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let started = Instant::now();
        let output = Command::new(crate::cli::witplug_bin())
            .args(args)
            .arg("--plugins")
            .arg(&plugins)
            .arg("--data")
            .arg(&data)
            .arg("--cache")
            .arg(suite_cache())
            .env_remove("WITPLUG_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (output, started.elapsed())
    };
    let (output, _) = run(&["call", "kv-counter", "handle", "\"\""]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let _lock = WriteLockHeld::on(&data.join(witplug_host::kv::DATABASE_FILE));
    let (output, took) = run(&["call", "kv-counter", "handle", "\"\""]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("deadline"), "{stderr}");
    eprintln!("measured: `witplug call` behind a held lock exited in {took:?}");
    assert!(took < Duration::from_secs(5), "the process took {took:?} to exit");
    let (output, took) = run(&["kv", "set", "kv-counter", "default", "k", "v"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("another process holds the database"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    eprintln!(
        "measured: `witplug kv set` behind a held lock exited in {took:?}: {}",
        stderr.trim()
    );
    assert!(took < Duration::from_secs(10), "the process took {took:?} to exit");
}

/// Opens `count` connections to `addr` that never send a byte.
fn idle_connections(addr: &str, count: usize) -> Vec<TcpStream> {
    witplug_endpoint::raise_descriptor_limit();
    (0..count).filter_map(|_| TcpStream::connect(addr).ok()).collect()
}

/// A plain HTTP/1.1 GET of `path` on `addr`, with `headers`: the status.
fn get(addr: &str, path: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

/// Starts `witplug` with `args` and waits for the stderr line holding
/// `marker`; the child and the address after `marker`.
fn start_server(args: &[&str], marker: &str, limit: Option<u64>) -> (std::process::Child, String) {
    let mut command = match limit {
        // The server's own descriptor limit, set in its process alone.
        Some(limit) => {
            let mut command = Command::new("prlimit");
            command.arg(format!("--nofile={limit}:{limit}")).arg(crate::cli::witplug_bin());
            command
        }
        None => Command::new(crate::cli::witplug_bin()),
    };
    let mut child = command
        .args(args)
        .arg("--cache")
        .arg(suite_cache())
        .env_remove("WITPLUG_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines().map_while(Result::ok);
    let line = lines.find(|line| line.contains(marker)).expect("the server names its address");
    std::thread::spawn(move || lines.for_each(drop));
    let addr = line.split("http://").nth(1).unwrap().split('/').next().unwrap().to_owned();
    (child, addr)
}

#[test]
fn idle_strangers_lock_out_neither_an_agent_with_the_token_nor_a_scrape() {
    let dir = word_count_folder();
    let token = dir.write("token", "s3cret\n");
    let plugins = dir.path().to_str().unwrap();
    for limit in [None, Some(256)] {
        let args = ["mcp", "--plugins", plugins, "--http", "127.0.0.1:0", "--token-file"];
        let mut args = args.to_vec();
        args.push(token.to_str().unwrap());
        let (mut mcp, addr) = start_server(&args, "over MCP at", limit);
        let strangers = idle_connections(&addr, 1_100);
        assert!(strangers.len() >= 1_000, "{} connections opened", strangers.len());
        // A refused request never reaches MCP, nor admits its connection.
        assert_eq!(get(&addr, "/mcp", "").0, 401);
        let started = Instant::now();
        let out = crate::mcp::client(json!({
            "transport": "http", "url": format!("http://{addr}/mcp"),
            "headers": {"Authorization": "Bearer s3cret"},
            "steps": [{"op": "call", "name": "count-words", "arguments": {"text": "an agent gets in"}}],
        }));
        assert_eq!(out["results"][0]["structured"], json!({"result": 4}), "{out}");
        eprintln!(
            "measured: with {} idle connections (descriptor limit {limit:?}), an agent's call answered in {:?}",
            strangers.len(),
            started.elapsed()
        );
        assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
        drop(strangers);
        let _ = mcp.kill();
        let _ = mcp.wait();

        let (mut run, addr) = start_server(
            &["run", "--plugins", plugins, "--metrics", "127.0.0.1:0"],
            "metrics for",
            limit,
        );
        let strangers = idle_connections(&addr, 1_100);
        let (status, scrape) = get(&addr, "/metrics", "");
        assert_eq!(status, 200, "{scrape}");
        assert!(scrape.contains("witplug_"), "{scrape}");
        drop(strangers);
        let _ = run.kill();
        let _ = run.wait();
    }
}

#[test]
fn a_silent_connection_is_closed_at_the_header_timeout() {
    // A short timeout, set as an embedder would.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let mut bounds = witplug_endpoint::Bounds::default();
        bounds.header_timeout = Duration::from_millis(300);
        let gate = witplug_endpoint::Gate::open();
        tokio::spawn(witplug_endpoint::serve(listener, app, gate, bounds, std::future::pending()));
        let closed = tokio::task::spawn_blocking(move || {
            let mut silent = TcpStream::connect(addr).unwrap();
            silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let started = Instant::now();
            let mut byte = [0u8; 1];
            let read = silent.read(&mut byte);
            (read.map_err(|err| err.kind()), started.elapsed())
        })
        .await
        .unwrap();
        assert_eq!(closed.0, Ok(0), "closed by the server");
        assert!(closed.1 < Duration::from_secs(5), "{:?}", closed.1);
    });
}

#[test]
fn an_mcp_message_over_the_bound_is_answered_and_the_server_goes_on() {
    let dir = word_count_folder();
    let mut server = witplug_mcp(dir.path(), &[], Stdio::piped(), Stdio::null());
    let mut stdin = server.stdin.take().unwrap();
    // Each answer within 30 s, or the test fails (rather than waits on a
    // server that never answers).
    let (line, lines) = std::sync::mpsc::channel();
    let stdout = BufReader::new(server.stdout.take().unwrap());
    std::thread::spawn(move || {
        stdout.lines().map_while(Result::ok).for_each(|l| drop(line.send(l)))
    });
    let mut answers = std::iter::from_fn(move || {
        Some(Ok::<_, ()>(
            lines.recv_timeout(Duration::from_secs(30)).expect("an answer within 30 s"),
        ))
    });
    let mut send = |message: &str| {
        stdin.write_all(message.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    send(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}})
        .to_string(),
    );
    let initialized: Value = serde_json::from_str(&answers.next().unwrap().unwrap()).unwrap();
    assert_eq!(initialized["id"], 1, "{initialized}");
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    // 20 MB of text, over the default bound of 16 MiB; its id comes last,
    // as some SDKs write it.
    let text = "word ".repeat(4_000_000);
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"name":"count-words","arguments":{{"text":"{text}"}}}},"id":2}}"#
    );
    send(&big);
    let refused: Value = serde_json::from_str(&answers.next().unwrap().unwrap()).unwrap();
    assert_eq!(refused["id"], 2, "{refused}");
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "the message is {} bytes, over this server's bound of 16777216 bytes (witplug mcp --max-message)",
            big.len()
        )
    );
    send(
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"count-words","arguments":{"text":"still here"}}}"#,
    );
    let answered: Value = serde_json::from_str(&answers.next().unwrap().unwrap()).unwrap();
    assert_eq!(answered["id"], 3, "{answered}");
    assert_eq!(answered["result"]["structuredContent"], json!({"result": 2}), "{answered}");
    drop(stdin);
    let _ = server.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn unsent_http_bodies_are_charged_to_host_memory() {
    let dir = Scratch::new();
    dir.copy_fixture("hostile-hoard");
    dir.copy_fixture("counter");
    let host: Host = builder().build().unwrap();
    host.load_dir(dir.path()).await.unwrap();
    let hoard = host.plugin("hostile-hoard").unwrap();
    // No HTTP grant: nothing is sent, and each body holds what it buffers.
    let err = hoard.handle("bodies:400").await.unwrap_err().to_string();
    assert!(err.contains("hostile-hoard") && err.contains("host-memory"), "{err}");
    // A few bodies fit the budget, with what they hold.
    let answer = hoard.handle("bodies:8").await.unwrap();
    assert_eq!(answer, format!("8 bodies, {} bytes buffered", 8 * 2 * 65_536));
    assert_eq!(host.plugin("counter").unwrap().handle("tick").await.unwrap(), "1");
}

#[test]
fn keys_a_plugin_chose_reach_the_terminal_made_safe() {
    let dir = Scratch::new();
    let data = dir.path().join("data");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use witplug_host::{Limits, kv::BucketId, kv::Embedded, kv::KeyValue, kv::Quota};
        let store = Embedded::open(data.join(witplug_host::kv::DATABASE_FILE)).unwrap();
        let bucket = BucketId::of_plugin("kv-counter", "default");
        let quota = Quota::of(&Limits::default());
        let keys = ["\u{1b}]0;pwned\u{7}title", "\u{1b}[2Jclear", "new\nline"];
        let pairs = keys.iter().map(|key| ((*key).to_owned(), b"v".to_vec())).collect();
        store.set_many(&bucket, pairs, quota).await.unwrap();
    });
    let list = |json: &[&str]| {
        Command::new(crate::cli::witplug_bin())
            .args(["kv", "list", "kv-counter", "default"])
            .args(json)
            .arg("--plugins")
            .arg(&plugins)
            .arg("--data")
            .arg(&data)
            .env_remove("WITPLUG_LOG")
            .output()
            .unwrap()
    };
    let output = list(&[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{7}'), "{stdout:?}");
    assert_eq!(stdout.lines().count(), 3, "{stdout:?}");
    // --json carries the keys whole.
    let output = list(&["--json"]);
    let keys: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(keys.contains(&"new\nline".to_owned()), "{keys:?}");
}

#[test]
fn the_list_table_cuts_long_text_and_prints_no_escape() {
    let dir = Scratch::new();
    dir.copy_fixture("hostile-schema");
    let manifest = "[config]\nattack = \"backtrack\"\n[provides]\ntools = [\"hostile-tool\"]\n";
    dir.write("hostile-schema.toml", manifest);
    dir.copy_fixture("counter");
    let output = Command::new(crate::cli::witplug_bin())
        .args(["list", "--plugins"])
        .arg(dir.path())
        .arg("--cache")
        .arg(suite_cache())
        .env("COLUMNS", "100")
        .env_remove("WITPLUG_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{7}'), "{stdout:?}");
    for line in stdout.lines() {
        assert!(line.chars().count() <= 100, "a line wider than the terminal: {line:?}");
    }
    assert!(stdout.contains("hostile-schema") && stdout.contains("counter"), "{stdout}");
}

#[test]
fn a_reload_cut_short_under_mcp_watch_is_told_on_stderr() {
    let dir = word_count_folder();
    let wasm = dir.path().join("word-count.wasm");
    let args = ["--watch", "--interval", "50ms"];
    let mut server = witplug_mcp(dir.path(), &args, Stdio::null(), Stdio::piped());
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines().map_while(Result::ok);
    assert!(lines.any(|line| line.contains("serving 1 tool over MCP on stdio")));
    // A copy cut short, as an interrupted deploy leaves it.
    let bytes = std::fs::read(&wasm).unwrap();
    std::fs::write(&wasm, &bytes[..bytes.len() / 2]).unwrap();
    let (found, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines {
            if line.contains("word-count.wasm") {
                let _ = found.send(line);
                return;
            }
        }
    });
    let line = seen.recv_timeout(Duration::from_secs(20)).expect("a line naming the file");
    assert!(line.contains("watch:"), "{line}");
    drop(server.stdin.take());
    let _ = server.kill();
    let _ = server.wait();
}
