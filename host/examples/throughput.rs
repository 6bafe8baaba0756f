//! Measures the plugin manager's throughput on this machine: messages per
//! second from one plugin to another through the bus, and calls per second
//! spread over 8 plugins. (The workspace optimises dependencies, wasmtime
//! included, in the dev profile, so `--release` changes little.)
//!
//! ```text
//! cargo run -p witplug-host --example throughput -- [PLUGINS_DIR]
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use witplug_host::Host;

const MESSAGES: u64 = 100_000;
const CALLS: usize = 100_000;
const PLUGINS: usize = 8;
const CALLERS_PER_PLUGIN: usize = 2;

#[tokio::main]
async fn main() -> Result<()> {
    let plugins = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "plugins".to_owned()));
    let scratch = std::env::temp_dir().join(format!("witplug-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = measure(&plugins, &scratch).await;
    std::fs::remove_dir_all(&scratch)?;
    result
}

async fn measure(plugins: &Path, scratch: &Path) -> Result<()> {
    let copy = |from: &str, to: &str, manifest: &str| -> Result<()> {
        let wasm = plugins.join(format!("{from}.wasm"));
        std::fs::copy(&wasm, scratch.join(format!("{to}.wasm")))
            .with_context(|| format!("{}: run `cargo xtask build-plugins`", wasm.display()))?;
        std::fs::write(scratch.join(format!("{to}.toml")), manifest)?;
        Ok(())
    };
    copy("order-desk", "order-desk", "[grants]\npublish = [\"orders.*\"]\n")?;
    copy(
        "ledger",
        "ledger",
        "[grants]\nsubscribe = [\"orders.*\"]\n[limits]\nmessage-queue = 1000000\ndeadline = \"60 s\"\n",
    )?;
    for i in 0..PLUGINS {
        copy("echo", &format!("echo-{i}"), &format!("[pool]\nsize = {CALLERS_PER_PLUGIN}\n"))?;
    }
    let host = Arc::new(Host::builder().build()?);
    let report = host.load_dir(scratch).await?;
    if let Some(err) = report.failed.first() {
        bail!("{err}");
    }
    host.init_all().await;

    // Messages: one call publishes them all; the ledger receives each one
    // through its own on-message call.
    let desk = host.plugin("order-desk")?;
    let ledger = host.plugin("ledger")?;
    let started = Instant::now();
    desk.handle(&MESSAGES.to_string()).await?;
    let published = started.elapsed();
    let expected = format!("orders={MESSAGES} ");
    while !ledger.handle("").await?.starts_with(&expected) {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("the ledger fell behind: {}", ledger.handle("").await?);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let delivered = started.elapsed();
    let dropped = ledger.metrics().messages_dropped;
    println!(
        "messages: {MESSAGES} published in {published:.2?}, all delivered in {delivered:.2?}: \
         {:.0} messages/s end to end ({dropped} dropped)",
        MESSAGES as f64 / delivered.as_secs_f64()
    );

    // Calls: 8 plugins, 2 instances and 2 callers each, all at once.
    let started = Instant::now();
    let callers: Vec<_> = (0..PLUGINS * CALLERS_PER_PLUGIN)
        .map(|caller| {
            let plugin = host.plugin(&format!("echo-{}", caller % PLUGINS));
            tokio::spawn(async move {
                let plugin = plugin?;
                for _ in 0..CALLS / (PLUGINS * CALLERS_PER_PLUGIN) {
                    plugin.handle("ping").await?;
                }
                Ok::<_, witplug_host::Error>(())
            })
        })
        .collect();
    for caller in callers {
        caller.await??;
    }
    let elapsed = started.elapsed();
    println!(
        "calls: {CALLS} over {PLUGINS} plugins ({} callers) in {elapsed:.2?}: {:.0} calls/s",
        PLUGINS * CALLERS_PER_PLUGIN,
        CALLS as f64 / elapsed.as_secs_f64()
    );
    println!("cores: {}", std::thread::available_parallelism().map_or(1, |n| n.get()));
    Ok(())
}
