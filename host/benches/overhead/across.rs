//! Across hosts: messages and tool calls between two hosts through a local
//! `nats-server` (its URL in `WITPLUG_NATS_URL`; `cargo xtask bench` starts
//! one), beside the same within one host.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use witplug_host::{Host, NatsBus, NatsOptions, Plugin};

use super::{Fallible, component_bytes, tempdir};

/// Tool calls made, by this many callers at once.
const TOOL_CALLS: usize = 20_000;
const CALLERS: usize = 8;
/// Messages in the NATS stream.
const MESSAGES: u64 = 100_000;

/// Calls per second and the latency of one call (p50, p99).
pub struct ToolCalls {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

pub struct Across {
    pub messages_per_second: f64,
    pub dropped: u64,
    pub remote: ToolCalls,
    pub local: ToolCalls,
}

pub async fn measure(url: &str) -> Fallible<Across> {
    let dir = tempdir("across")?;
    write_plugins(&dir)?;

    // Within one host: tool-user calls word-count's tool.
    let host = Host::builder().build()?;
    load(&host, &dir, &["tool-user", "word-count"]).await?;
    let local = tool_calls(&host.plugin("tool-user")?).await?;
    host.unload_all().await;

    // Across two hosts: the same plugins, one on each.
    let options = NatsOptions::new(url).outgoing_buffer(2 * MESSAGES as usize);
    let (bus_a, bus_b) =
        (NatsBus::connect(options.clone()).await?, NatsBus::connect(options).await?);
    let a = Host::builder().bus(bus_a.clone()).build()?;
    let b = Host::builder().bus(bus_b.clone()).build()?;
    load(&a, &dir, &["tool-user", "order-desk"]).await?;
    load(&b, &dir, &["word-count", "ledger"]).await?;
    let remote = tool_calls(&a.plugin("tool-user")?).await?;

    // Messages: one call publishes them all on host A; the ledger on host
    // B receives each through its own on-message call.
    let (desk, ledger) = (a.plugin("order-desk")?, b.plugin("ledger")?);
    let started = Instant::now();
    desk.handle(&MESSAGES.to_string()).await?;
    // Every message is delivered, or counted as lost: dropped on the way
    // out of A, or missing from the numbering B sees. Losses are reported,
    // not hidden: the row says how many. (A loss at the end of the stream
    // shows as no gap; the wait ends when nothing moves for 5 s.)
    let (mut seen, mut still) = (0, Instant::now());
    let missing = loop {
        let delivered = ledger.metrics().messages_delivered;
        let lost = bus_a.stats().dropped + bus_b.stats().lost;
        if delivered + lost >= MESSAGES {
            break lost;
        }
        if delivered != seen {
            (seen, still) = (delivered, Instant::now());
        } else if still.elapsed() > Duration::from_secs(5) {
            break MESSAGES - delivered;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let elapsed = started.elapsed().saturating_sub(if missing > 0 {
        still.elapsed()
    } else {
        Duration::ZERO
    });
    let messages_per_second = ledger.metrics().messages_delivered as f64 / elapsed.as_secs_f64();
    let dropped = missing;
    a.unload_all().await;
    b.unload_all().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(Across { messages_per_second, dropped, remote, local })
}

fn write_plugins(dir: &Path) -> Fallible<()> {
    let plugins = [
        ("tool-user", format!("[grants]\ntools = [\"count-words\"]\n[pool]\nsize = {CALLERS}\n")),
        (
            "word-count",
            format!("[provides]\ntools = [\"count-words\"]\n[pool]\nsize = {CALLERS}\n"),
        ),
        (
            "order-desk",
            "[grants]\npublish = [\"orders.*\"]\n[limits]\ndeadline = \"60 s\"\n".into(),
        ),
        (
            "ledger",
            "[grants]\nsubscribe = [\"orders.*\"]\n[limits]\nmessage-queue = 1000000\n".into(),
        ),
    ];
    for (name, manifest) in plugins {
        std::fs::write(dir.join(format!("{name}.wasm")), component_bytes(name)?)?;
        std::fs::write(dir.join(format!("{name}.toml")), manifest)?;
    }
    Ok(())
}

async fn load(host: &Host, dir: &Path, names: &[&str]) -> Fallible<()> {
    for name in names {
        host.load_file(dir.join(format!("{name}.wasm"))).await?;
    }
    host.init_all().await;
    Ok(())
}

/// `TOOL_CALLS` calls of `count-words` through `caller`, `CALLERS` at once.
async fn tool_calls(caller: &Arc<Plugin>) -> Fallible<ToolCalls> {
    // Warm up the instances and the connection.
    for _ in 0..100 {
        caller.handle(r#"count-words:{"text":"a b"}"#).await?;
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let caller = caller.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(TOOL_CALLS / CALLERS);
                for _ in 0..TOOL_CALLS / CALLERS {
                    let call = Instant::now();
                    let answer = caller.handle(r#"count-words:{"text":"a b"}"#).await?;
                    latencies.push(call.elapsed());
                    if answer != "count-words says: 2" {
                        return Err(format!("unexpected answer: {answer}").into());
                    }
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(TOOL_CALLS);
    for task in tasks {
        latencies.extend(task.await?.map_err(|err| err.to_string())?);
    }
    let per_second = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Ok(ToolCalls { per_second, p50: at(0.5), p99: at(0.99) })
}
