//! Throughput within one host: messages through the bus from one plugin
//! to another, and calls to several plugins at once, each beside the same
//! plugins run by hand (a tokio channel per subscriber for the bus, a store
//! per caller for the calls).

use std::sync::Arc;
use std::time::{Duration, Instant};

use witplug_host::Host;

use super::{Fallible, Floor, Outbox, Paired, Row, component_bytes, middle, tempdir};

const MESSAGES: u64 = 100_000;
const CALLS: usize = 100_000;
const PLUGINS: usize = 8;
const CALLERS_PER_PLUGIN: usize = 2;
/// Each way's rounds, in turn; each row is the median round, and its ratio
/// the median of the rounds' own ratios (see `Paired`).
const ROUNDS: usize = 5;

/// `messages` messages through the bus (`bus`) or by hand (`bus-floor`),
/// for a profiler (`--profile bus N`).
pub async fn profile_bus(way: &str, messages: u64) -> Fallible<()> {
    let dir = tempdir("profile-bus")?;
    let host = folder(&dir).await?;
    if way == "bus" {
        let desk = host.plugin("order-desk")?;
        let ledger = host.plugin("ledger")?;
        desk.handle(&messages.to_string()).await?;
        let expected = format!("orders={messages} ");
        while !ledger.handle("").await?.starts_with(&expected) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    } else {
        bus_by_hand(&Floor::new("order-desk")?, &Floor::new("ledger")?, messages).await?;
    }
    host.unload_all().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The throughput folder in `dir`, loaded into a host.
async fn folder(dir: &std::path::Path) -> Fallible<Arc<Host>> {
    let copy = |from: &str, to: &str, manifest: &str| -> Fallible<()> {
        std::fs::write(dir.join(format!("{to}.wasm")), component_bytes(from)?)?;
        std::fs::write(dir.join(format!("{to}.toml")), manifest)?;
        Ok(())
    };
    copy(
        "order-desk",
        "order-desk",
        "[grants]\npublish = [\"orders.*\"]\n[limits]\ndeadline = \"60 s\"\n",
    )?;
    copy(
        "ledger",
        "ledger",
        "[grants]\nsubscribe = [\"orders.*\"]\n[limits]\nmessage-queue = 1000000\n",
    )?;
    for i in 0..PLUGINS {
        copy("echo", &format!("echo-{i}"), &format!("[pool]\nsize = {CALLERS_PER_PLUGIN}\n"))?;
    }
    let host = Arc::new(Host::builder().build()?);
    let report = host.load_dir(&dir).await?;
    if let Some(err) = report.failed.first() {
        return Err(err.to_string().into());
    }
    host.init_all().await;
    Ok(host)
}

pub async fn measure() -> Fallible<Vec<Row>> {
    let dir = tempdir("throughput")?;
    let host = folder(&dir).await?;
    let (desk, ledger, echo) =
        (Floor::new("order-desk")?, Floor::new("ledger")?, Floor::new("echo")?);

    // Rates, witplug's and the floor's, in paired rounds.
    let (mut messages, mut calls) = (Paired::default(), Paired::default());
    for round in 1..=ROUNDS {
        messages.witplug.push(bus(&host, round as u64).await?);
        messages.floor.push(bus_by_hand(&desk, &ledger, MESSAGES).await?);
        calls.witplug.push(calls_through(&host).await?);
        calls.floor.push(calls_by_hand(&echo).await?);
    }
    host.unload_all().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(vec![
        rates(
            messages,
            "messages through the bus, plugin to plugin",
            "≤ 1.2× floor (floor: a tokio channel)",
        ),
        rates(
            calls,
            "calls across 8 plugins (16 callers)",
            "≤ 1.2× floor (floor: a store per caller)",
        ),
    ])
}

/// A row of rates measured in paired rounds: its ratio is the median of
/// the rounds' floor-over-witplug ratios (how many times longer witplug
/// takes).
fn rates(paired: Paired, what: &'static str, target: &'static str) -> Row {
    let ratios = paired.witplug.iter().zip(&paired.floor).map(|(w, f)| f / w).collect();
    Row {
        what,
        witplug: middle(paired.witplug),
        floor: Some(middle(paired.floor)),
        paired: Some(middle(ratios)),
        unit: "/s",
        target,
    }
}

/// Messages per second from order-desk to ledger through the bus: one call
/// publishes them all; the ledger receives each through its own
/// `on-message` call. `round` counts the rounds so far, as the ledger's
/// count goes on from round to round.
async fn bus(host: &Host, round: u64) -> Fallible<f64> {
    let desk = host.plugin("order-desk")?;
    let ledger = host.plugin("ledger")?;
    let started = Instant::now();
    desk.handle(&MESSAGES.to_string()).await?;
    let expected = format!("orders={} ", MESSAGES * round);
    while !ledger.handle("").await?.starts_with(&expected) {
        if started.elapsed() > Duration::from_secs(120) {
            return Err(format!("the ledger fell behind: {}", ledger.handle("").await?).into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(MESSAGES as f64 / started.elapsed().as_secs_f64())
}

/// The same by hand: order-desk's `send-message` puts each message on an
/// unbounded tokio channel, and a task takes them off it and calls the
/// ledger's `on-message`.
async fn bus_by_hand(desk: &Floor, ledger: &Floor, messages: u64) -> Fallible<f64> {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(String, Vec<u8>)>();
    let mut desk_store = desk.store();
    desk_store.data_mut().outbox = Outbox::Channels(vec![sender]);
    let desk = desk.instance(&mut desk_store).await?;
    let mut ledger_store = ledger.store();
    let ledger = ledger.instance(&mut ledger_store).await?;
    let started = Instant::now();
    let subscriber = tokio::spawn(async move {
        let mut received = 0;
        while let Some((topic, payload)) = receiver.recv().await {
            let guest = ledger.witplug_plugin_guest();
            guest
                .call_on_message(&mut ledger_store, &topic, &payload)
                .await?
                .map_err(|e| format!("{e:?}"))?;
            received += 1;
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(received)
    });
    let guest = desk.witplug_plugin_guest();
    guest
        .call_handle(&mut desk_store, &messages.to_string())
        .await?
        .map_err(|e| format!("{e:?}"))?;
    // The sender goes with the store: the subscriber ends once it has
    // taken every message.
    drop(desk_store);
    let received = subscriber.await?.map_err(|err| err.to_string())?;
    if received != messages {
        return Err(format!("the ledger by hand received {received} messages").into());
    }
    Ok(messages as f64 / started.elapsed().as_secs_f64())
}

/// Calls per second to 8 plugins of 2 instances each, from 16 callers.
async fn calls_through(host: &Arc<Host>) -> Fallible<f64> {
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
    Ok(CALLS as f64 / started.elapsed().as_secs_f64())
}

/// The same by hand: 16 callers, each with an instance of its own.
async fn calls_by_hand(echo: &Floor) -> Fallible<f64> {
    let mut instances = Vec::new();
    for _ in 0..PLUGINS * CALLERS_PER_PLUGIN {
        let mut store = echo.store();
        let plugin = echo.instance(&mut store).await?;
        instances.push((store, plugin));
    }
    let started = Instant::now();
    let callers: Vec<_> = instances
        .into_iter()
        .map(|(mut store, plugin)| {
            tokio::spawn(async move {
                for _ in 0..CALLS / (PLUGINS * CALLERS_PER_PLUGIN) {
                    let guest = plugin.witplug_plugin_guest();
                    guest.call_handle(&mut store, "ping").await?.map_err(|e| format!("{e:?}"))?;
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .collect();
    for caller in callers {
        caller.await?.map_err(|err| err.to_string())?;
    }
    Ok(CALLS as f64 / started.elapsed().as_secs_f64())
}
