//! The demo that `cargo xtask demo` runs: every example plugin in one host.
//!
//! ```text
//! cargo run -p witplug-host --example demo -- plugins [NAME]
//! ```

use anyhow::{Context, Result, bail};
use witplug_host::{Host, Val};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WITPLUG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .without_time()
        .init();
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "plugins".to_owned());
    let name = args.next().unwrap_or_else(|| "JP".to_owned());

    let host = Host::builder()
        .tool("upper", |input| Ok(input.to_uppercase()))
        .tool_async("reverse", |input: String| async move { Ok(input.chars().rev().collect()) })
        .tool("fail", |_| Err("this tool always fails".to_owned()))
        .tool("secret", |_| Ok("no plugin was granted this".to_owned()))
        // The Python and JavaScript plugins carry their runtime (12-18 MiB):
        // compiled once, then loaded from the cache in a fraction of a second.
        .cache_dir(std::env::temp_dir().join("witplug-demo-cache"))
        .build()?;
    let loaded = host.load_dir(&dir).await.with_context(|| format!("loading {dir}"))?;
    println!("== Loaded {} plugins from {dir}", loaded.loaded.len());
    for error in &loaded.failed {
        println!("   failed: {error}");
    }
    let mut calls = 0;

    tour(&dir).await?;
    calls += 13;

    println!("\n== Greeters (world `greeter`, called dynamically)");
    for plugin in host.plugins() {
        let exports = plugin.exports();
        if !["greet", "language"].iter().all(|export| exports.iter().any(|e| e.name == *export)) {
            continue;
        }
        let language = one_string(plugin.call("language", &[]).await?)?;
        let greeting = one_string(plugin.call("greet", &[Val::String(name.clone())]).await?)?;
        println!("Language: {language}\nGreeting: {greeting}");
        calls += 2;
    }

    println!("\n== wasi-greeter: standard WASI interfaces only (wasi:config, wasi:logging)");
    let plain = host.plugin("wasi-greeter")?;
    let greeting = one_string(plain.call("greet", &[Val::String(name.clone())]).await?)?;
    println!("Greeting: {greeting} (contract: {:?})", plain.info().contract);
    calls += 1;

    println!("\n== counter: state kept across calls");
    let counter = host.plugin("counter")?;
    for _ in 0..3 {
        println!("counter -> {}", counter.handle("tick").await?);
        calls += 1;
    }

    println!("\n== The same contract in Python and JavaScript");
    for name in ["py-counter", "js-counter"] {
        let plugin = host.plugin(name)?;
        for input in ["apples", "pears"] {
            println!("{name} {input:?} -> {}", plugin.handle(input).await?);
            calls += 1;
        }
    }

    println!("\n== echo: logging through the host");
    let echo = host.plugin("echo")?;
    println!("echo -> {}", echo.handle("hello from the host").await?);
    println!("echo -> {}", outcome(echo.handle("").await));
    calls += 2;

    println!("\n== tool-user: calling host tools (plugins/tool-user.toml grants them)");
    let tool_user = host.plugin("tool-user")?;
    let inputs = [
        "upper:hello",
        "reverse:stressed",
        r#"count-words:{"text":"to be or not to be"}"#,
        "translate:hi",
    ];
    for input in inputs.into_iter().chain(["secret:x", "fail:now"]) {
        println!("tool-user {input:?} -> {}", outcome(tool_user.handle(input).await));
        calls += 1;
    }

    println!("\n== messenger: messages from a plugin to the host");
    let mut inbox = host.subscribe("greetings");
    let messenger = host.plugin("messenger")?;
    println!("messenger -> {}", messenger.handle(&format!("hello, {name}")).await?);
    calls += 1;
    let mut received = 0;
    while let Some(message) = inbox.try_recv() {
        let from = message.from.as_deref().unwrap_or("host");
        let text = String::from_utf8_lossy(&message.payload);
        println!("host received on {}: {text:?} (from {from})", message.topic);
        received += 1;
    }
    if received == 0 {
        bail!("the host received no message from messenger");
    }

    println!("\n== Plugins talking to each other: order-desk publishes, ledger subscribes");
    host.init_all().await;
    let desk = host.plugin("order-desk")?;
    let ledger = host.plugin("ledger")?;
    for batch in ["3", "97"] {
        println!("order-desk -> {}", desk.handle(batch).await?);
        calls += 1;
    }
    // Delivery is asynchronous: wait until the ledger has seen all 100.
    let mut report = String::new();
    for _ in 0..200 {
        report = ledger.handle("report").await?;
        calls += 1;
        if report.starts_with("orders=100 ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    println!("ledger -> {report}");
    if !report.starts_with("orders=100 ") {
        bail!("the ledger did not receive every order: {report}");
    }
    let relay = host.plugin("relay")?;
    println!(
        "relay -> {} words (relay called word-count's tool)",
        relay.handle(r#"{"text": "one two three"}"#).await?
    );
    calls += 1;

    println!("\n== Sandbox: hostile plugins are stopped; the others never notice");
    // The log flood would print a thousand lines: no logs in this part.
    let quiet = tracing::dispatcher::set_default(&tracing::Dispatch::none());
    let mut stopped = 0;
    for plugin in host.plugins() {
        if !plugin.name().starts_with("hostile-") {
            continue;
        }
        let outcome = match plugin.name() {
            // This one misbehaves on the way out: its shutdown never returns.
            "hostile-shutdown" => plugin.stop().await.map(|()| "stopped".to_owned()),
            "hostile-overreach" => plugin.handle("tool").await,
            // Its attack is the schema of the tool it describes: loaded
            // again with 2,000 patterns in it, it is refused at load.
            "hostile-schema" => schema_attack(plugin.path()).await,
            // It answers an agent with a 100 MiB image (contract 0.3).
            "hostile-mcp" => {
                let call = witplug_host::mcp::ToolCall::default();
                let huge = r#"{"do": "huge-image"}"#;
                let result = plugin.run_tool_with(call, "misbehave", huge).await;
                result.map(|result| witplug_host::mcp::result_text(&result))
            }
            _ => plugin.handle("file:/etc/passwd").await,
        };
        match outcome {
            Ok(output) => bail!("{} was not stopped: {output:.60}", plugin.name()),
            Err(err) => println!("{err}"),
        }
        stopped += 1;
        calls += 1;
    }
    drop(quiet);
    println!("counter -> {} (still counting)", counter.handle("tick").await?);
    calls += 1;

    println!(
        "\n== Summary: {} plugins loaded, {} failed, {calls} calls from the demo, \
         {received} message(s) received by the host, {stopped} hostile plugins stopped",
        loaded.loaded.len(),
        loaded.failed.len()
    );
    println!("\n== The manager's stats");
    print!("{}", host.stats());
    Ok(())
}

/// The four demonstrations of the MoFA WASM runtime's example, each value
/// checked: WAT compiled at run time, a math plugin, a greeter and a counter
/// managed together, and a plugin under a 16-page memory limit.
async fn tour(dir: &str) -> Result<()> {
    use witplug_host::plugin::CoreVal;
    let wat = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../example-plugins/wat/{name}.wat"));
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let check = |what: &str, got: i64, want: i64| -> Result<()> {
        println!("{what} = {got}");
        if got != want {
            bail!("{what} should be {want}");
        }
        Ok(())
    };

    println!("\n== Tour 1: WAT compiled at run time");
    let host = Host::builder().build()?;
    let answer = host
        .load_wat("answer", r#"(module (func (export "answer") (result i32) i32.const 42))"#)
        .await?;
    let double = host
        .load_wat("double", r#"(module (func (export "double") (param i32) (result i32) local.get 0 i32.const 2 i32.mul))"#)
        .await?;
    let first = |v: Vec<CoreVal>| {
        v.first().and_then(|v| v.i32().map(i64::from).or(v.i64())).unwrap_or(i64::MIN)
    };
    check("answer()", first(answer.call_core("answer", &[]).await?), 42)?;
    check("double(21)", first(double.call_core("double", &[CoreVal::I32(21)]).await?), 42)?;
    for plugin in [&answer, &double] {
        let m = plugin.metrics();
        println!("  {}: {} call(s), {} ok, mean {:?}", plugin.name(), m.calls, m.successes, m.mean);
    }

    println!("\n== Tour 2: the math plugin (example-plugins/wat/math.wat)");
    let math = host.load_wat("math", &wat("math")?).await?;
    check(
        "add(10, 20)",
        first(math.call_core("add", &[CoreVal::I32(10), CoreVal::I32(20)]).await?),
        30,
    )?;
    check(
        "sub(50, 20)",
        first(math.call_core("sub", &[CoreVal::I32(50), CoreVal::I32(20)]).await?),
        30,
    )?;
    check(
        "mul(6, 7)",
        first(math.call_core("mul", &[CoreVal::I32(6), CoreVal::I32(7)]).await?),
        42,
    )?;
    check("factorial(5)", first(math.call_core("factorial", &[CoreVal::I64(5)]).await?), 120)?;
    check("fibonacci(10)", first(math.call_core("fibonacci", &[CoreVal::I32(10)]).await?), 55)?;

    println!("\n== Tour 3: a greeter and a counter managed together");
    let managed = Host::builder().build()?;
    let greeter = managed.load_file(format!("{dir}/greeter-en.wasm")).await?;
    let counter = managed.load_file(format!("{dir}/counter.wasm")).await?;
    managed.init_all().await;
    let greeting = greeter.call("greet", &[witplug_host::Val::String("MoFA".into())]).await?;
    println!("greeter-en: {}", one_string(greeting)?);
    for expected in 1..=5 {
        check("counter", counter.handle("tick").await?.parse()?, expected)?;
    }
    print!("{}", managed.stats());

    println!("\n== Tour 4: a plugin under 16 pages of memory and a 1000 ms deadline");
    let mut limits = witplug_host::Limits::default();
    limits.memory = 16 * 64 * 1024;
    limits.deadline = std::time::Duration::from_millis(1000);
    let strict = Host::builder().limits(limits).build()?;
    let memory = strict.load_wat("memory", &wat("memory")?).await?;
    memory.write_memory(0, &[42]).await?;
    check("read at address 0", i64::from(memory.read_memory(0, 1).await?[0]), 42)?;
    check(
        "grow by 15 pages (returns the old size)",
        first(memory.call_core("grow", &[CoreVal::I32(15)]).await?),
        1,
    )?;
    check(
        "grow past 16 pages (refused: -1)",
        first(memory.call_core("grow", &[CoreVal::I32(1)]).await?),
        -1,
    )?;
    Ok(())
}

/// Loads the hostile-schema plugin at `path` in a host of its own, its
/// manifest asking for the 2,000-pattern schema: the load's error.
async fn schema_attack(path: &std::path::Path) -> witplug_host::Result<String> {
    let dir = std::env::temp_dir().join(format!("witplug-demo-schema-{}", std::process::id()));
    let io = |source| witplug_host::Error::Io { path: dir.clone(), source };
    std::fs::create_dir_all(&dir).map_err(io)?;
    std::fs::copy(path, dir.join("hostile-schema.wasm")).map_err(io)?;
    let manifest = "[config]\nattack = \"patterns\"\n[provides]\ntools = [\"hostile-tool\"]\n";
    std::fs::write(dir.join("hostile-schema.toml"), manifest).map_err(io)?;
    let loaded = Host::builder().build()?.load_file(dir.join("hostile-schema.wasm")).await;
    let _ = std::fs::remove_dir_all(&dir);
    loaded.map(|_| "loaded".to_owned())
}

fn one_string(values: Vec<Val>) -> Result<String> {
    match values.as_slice() {
        [Val::String(text)] => Ok(text.clone()),
        other => bail!("expected one string, got {other:?}"),
    }
}

fn outcome(result: witplug_host::Result<String>) -> String {
    match result {
        Ok(output) => output,
        Err(err) => format!("error: {err}"),
    }
}
