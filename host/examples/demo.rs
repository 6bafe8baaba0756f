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
        .build()?;
    let loaded = host.load_dir(&dir).await.with_context(|| format!("loading {dir}"))?;
    println!("== Loaded {} plugins from {dir}", loaded.loaded.len());
    for error in &loaded.failed {
        println!("   failed: {error}");
    }
    let mut calls = 0;

    println!("\n== Greeters (world `greeter`, called dynamically)");
    for plugin in host.plugins() {
        if !plugin.exports().iter().any(|e| e.name == "greet") {
            continue;
        }
        let language = one_string(plugin.call("language", &[]).await?)?;
        let greeting = one_string(plugin.call("greet", &[Val::String(name.clone())]).await?)?;
        println!("Language: {language}\nGreeting: {greeting}");
        calls += 2;
    }

    println!("\n== counter: state kept across calls");
    let counter = host.plugin("counter")?;
    for _ in 0..3 {
        println!("counter -> {}", counter.handle("tick").await?);
        calls += 1;
    }

    println!("\n== echo: logging through the host");
    let echo = host.plugin("echo")?;
    println!("echo -> {}", echo.handle("hello from the host").await?);
    println!("echo -> {}", outcome(echo.handle("").await));
    calls += 2;

    println!("\n== tool-user: calling host tools (plugins/tool-user.toml grants them)");
    let tool_user = host.plugin("tool-user")?;
    let inputs =
        ["upper:hello", "reverse:stressed", "count-words:to be or not to be", "translate:hi"];
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
        relay.handle("one two three").await?
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
