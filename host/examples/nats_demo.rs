//! Two hosts talking through NATS, as on two machines: order-desk on host
//! A publishes orders that the ledger on host B adds up, and tool-user on
//! host A calls the `count-words` tool that word-count provides on host B.
//! The plugins are the same components as in one host, unchanged.
//!
//! ```text
//! nats-server -p 4222 &
//! cargo run -p witplug-host --features nats --example nats_demo -- plugins nats://127.0.0.1:4222
//! ```
//!
//! `cargo xtask demo` installs a `nats-server` and runs this as its last
//! step.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use witplug_host::{Host, nats::NatsBus, nats::NatsOptions, observe::RecvError};

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
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "plugins".to_owned());
    let url = args.next().unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    println!("== Two hosts on the NATS server at {url}");

    // Each host has its own connection, as it would on its own machine.
    let bus_a = NatsBus::connect(NatsOptions::new(&url)).await?;
    let bus_b = NatsBus::connect(NatsOptions::new(&url)).await?;
    let host_a = Host::builder().bus(bus_a.clone()).build()?;
    let host_b = Host::builder().bus(bus_b.clone()).build()?;
    let plugin = |name: &str| format!("{dir}/{name}.wasm");
    // The manifests beside them grant what they need: order-desk publishes
    // orders.*, ledger subscribes to it, word-count provides count-words
    // and tool-user may call it.
    let desk = host_a.load_file(plugin("order-desk")).await.context("loading order-desk")?;
    let tool_user = host_a.load_file(plugin("tool-user")).await.context("loading tool-user")?;
    let ledger = host_b.load_file(plugin("ledger")).await.context("loading ledger")?;
    host_b.load_file(plugin("word-count")).await.context("loading word-count")?;
    println!("host A: order-desk, tool-user; host B: ledger, word-count");

    let placed = desk.handle("1000").await?;
    println!("A  order-desk: {placed}");
    bus_a.flush().await?;
    let mut events = host_b.events();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ledger.metrics().messages_delivered < 1000 {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
            _ => bail!(
                "the ledger on host B got {} of 1000 orders",
                ledger.metrics().messages_delivered
            ),
        }
    }
    println!("B  ledger:     {}", ledger.handle("").await?);

    let counted = tool_user.handle(r#"count-words:{"text":"plugins on two machines"}"#).await?;
    println!("A  tool-user:  {counted}   (count-words ran on host B)");

    let (a, b) = (bus_a.stats(), bus_b.stats());
    println!(
        "NATS  host A sent {}, dropped {}; host B received {}, lost {}",
        a.sent, a.dropped, b.received, b.lost
    );
    Ok(())
}
