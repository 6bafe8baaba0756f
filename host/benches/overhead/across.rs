//! Across hosts: messages and tool calls between two hosts through a local
//! `nats-server` (its URL in `WITPLUG_NATS_URL`; `cargo xtask bench` starts
//! one), beside the same within one host. The floor of each is the same
//! plugins run by hand, joined by two async-nats clients (publish and
//! subscribe; request and reply with a queue group) or, within one host,
//! by a store of the provider's held by each caller.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use witplug_host::{Host, Plugin, nats::NatsBus, nats::NatsOptions};

use super::{Fallible, Floor, FloorState, Outbox, Tools, component_bytes, floor, tempdir};

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

/// Messages per second, and how many were lost.
pub struct Messages {
    pub per_second: f64,
    pub lost: u64,
}

/// The three rows, measured one way.
pub struct Way {
    pub messages: Messages,
    pub remote: ToolCalls,
    pub local: ToolCalls,
}

/// The rows through witplug, and by hand, from the median round; and each
/// row's ratio, the median of the rounds' own ratios (the floor's rate
/// over witplug's).
pub struct Across {
    pub witplug: Way,
    pub floor: Way,
    pub ratios: [f64; 3],
}

/// Rounds of the whole measurement, each in hosts and connections of its
/// own: one round of messages through NATS moves by a factor of two with
/// how the two cores happen to schedule the tasks on its path.
const ROUNDS: usize = 3;

pub async fn measure(url: &str) -> Fallible<Across> {
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        rounds.push(measure_once(url).await?);
    }
    let rate = |way: &Way, row: usize| match row {
        0 => way.messages.per_second,
        1 => way.local.per_second,
        _ => way.remote.per_second,
    };
    let ratios = [0, 1, 2].map(|row| {
        super::middle(rounds.iter().map(|(w, f)| rate(f, row) / rate(w, row)).collect())
    });
    // The round whose witplug messages rate is the median shows its rows.
    rounds.sort_by(|(a, _), (b, _)| a.messages.per_second.total_cmp(&b.messages.per_second));
    let (witplug, floor) = rounds.swap_remove(ROUNDS / 2);
    Ok(Across { witplug, floor, ratios })
}

async fn measure_once(url: &str) -> Fallible<(Way, Way)> {
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
    let per_second = ledger.metrics().messages_delivered as f64 / elapsed.as_secs_f64();
    let messages = Messages { per_second, lost: missing };
    a.unload_all().await;
    b.unload_all().await;
    std::fs::remove_dir_all(&dir)?;
    let floor = Way {
        local: local_by_hand().await?,
        remote: remote_by_hand(url).await?,
        messages: messages_by_hand(url).await?,
    };
    Ok((Way { messages, remote, local }, floor))
}

/// `calls` calls of `count-words` from one caller within one host, through
/// witplug (`tool`) or by hand (`tool-floor`), for a profiler
/// (`--profile tool N`).
pub async fn profile_tools(way: &str, calls: u32) -> Fallible<()> {
    const INPUT: &str = r#"count-words:{"text":"a b"}"#;
    if way == "tool" {
        let dir = tempdir("profile-tools")?;
        write_plugins(&dir)?;
        let host = Host::builder().build()?;
        load(&host, &dir, &["tool-user", "word-count"]).await?;
        let user = host.plugin("tool-user")?;
        for _ in 0..calls {
            user.handle(INPUT).await?;
        }
        host.unload_all().await;
        std::fs::remove_dir_all(&dir)?;
    } else {
        let provider = Floor::new("word-count")?;
        let mut store = provider.store();
        let plugin = provider.instance(&mut store).await?;
        let mut pair = Some((store, plugin));
        // The first caller reaches the provider; the others are not used.
        let tools = || Ok(pair.take().map_or(Tools::None, |pair| Tools::Local(Box::new(pair))));
        let mut callers = tool_users(tools).await?;
        let (store, plugin) = &mut callers[0];
        for _ in 0..calls {
            let guest = plugin.witplug_plugin_guest();
            guest.call_handle(&mut *store, INPUT).await?.map_err(|e| format!("{e:?}"))?;
        }
    }
    Ok(())
}

/// The stores of `TOOL_CALLS`' callers by hand: tool-user instances whose
/// `call-tool` reaches what `tools` gives each.
async fn tool_users(mut tools: impl FnMut() -> Fallible<Tools>) -> Fallible<Vec<Caller>> {
    let user = Floor::new("tool-user")?;
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let mut store = user.store();
        store.data_mut().tools = tools()?;
        let plugin = user.instance(&mut store).await?;
        callers.push((store, plugin));
    }
    Ok(callers)
}

type Caller = (wasmtime::Store<FloorState>, floor::Plugin);

/// Within one host by hand: each caller's tool-user holds a word-count
/// instance of its own and calls its `run-tool`.
async fn local_by_hand() -> Fallible<ToolCalls> {
    let provider = Floor::new("word-count")?;
    let mut providers = Vec::new();
    for _ in 0..CALLERS {
        let mut store = provider.store();
        let plugin = provider.instance(&mut store).await?;
        providers.push((store, plugin));
    }
    let callers = tool_users(|| {
        let pair = providers.pop().ok_or("a provider per caller")?;
        Ok(Tools::Local(Box::new(pair)))
    })
    .await?;
    calls_by_hand(callers).await
}

/// Across two hosts by hand: host B's word-count instances answer requests
/// in one queue group, each instance its own subscriber; host A's
/// tool-users send requests.
async fn remote_by_hand(url: &str) -> Fallible<ToolCalls> {
    let (client_a, client_b) = (async_nats::connect(url).await?, async_nats::connect(url).await?);
    let provider = Floor::new("word-count")?;
    let mut served = Vec::new();
    for _ in 0..CALLERS {
        let mut store = provider.store();
        let plugin = provider.instance(&mut store).await?;
        let mut requests =
            client_b.queue_subscribe("floor.tool.count-words", "providers".into()).await?;
        let client = client_b.clone();
        served.push(tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                let input = String::from_utf8_lossy(&request.payload).into_owned();
                let guest = plugin.witplug_plugin_guest();
                let answer = match guest.call_run_tool(&mut store, "count-words", &input).await {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(err)) => format!("{err:?}"),
                    Err(err) => err.to_string(),
                };
                if let Some(reply) = request.reply {
                    let _ = client.publish(reply, answer.into()).await;
                }
            }
        }));
    }
    client_b.flush().await?;
    let callers = tool_users(|| Ok(Tools::Nats(client_a.clone()))).await?;
    let calls = calls_by_hand(callers).await;
    for task in served {
        task.abort();
    }
    calls
}

/// `TOOL_CALLS` calls of `count-words` through tool-user instances by
/// hand, one caller each.
async fn calls_by_hand(callers: Vec<Caller>) -> Fallible<ToolCalls> {
    let call = async |(store, plugin): &mut Caller| -> Fallible<String> {
        let guest = plugin.witplug_plugin_guest();
        let answer = guest.call_handle(&mut *store, r#"count-words:{"text":"a b"}"#).await?;
        answer.map_err(|err| format!("{err:?}").into())
    };
    let mut callers = callers;
    // Warm up the instances and the connection.
    for caller in &mut callers {
        for _ in 0..100 / CALLERS {
            call(caller).await?;
        }
    }
    let started = Instant::now();
    let tasks: Vec<_> = callers
        .into_iter()
        .map(|mut caller| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(TOOL_CALLS / CALLERS);
                for _ in 0..TOOL_CALLS / CALLERS {
                    let started = Instant::now();
                    let answer = call(&mut caller).await.map_err(|err| err.to_string())?;
                    latencies.push(started.elapsed());
                    if answer != "count-words says: 2" {
                        return Err(format!("unexpected answer: {answer}"));
                    }
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(TOOL_CALLS);
    for task in tasks {
        latencies.extend(task.await??);
    }
    Ok(summary(latencies, started.elapsed()))
}

/// Messages by hand: order-desk on client A publishes each message; a task
/// on client B's subscription calls the ledger's `on-message` for each.
async fn messages_by_hand(url: &str) -> Fallible<Messages> {
    let (client_a, client_b) = (async_nats::connect(url).await?, async_nats::connect(url).await?);
    let (desk, ledger) = (Floor::new("order-desk")?, Floor::new("ledger")?);
    let mut desk_store = desk.store();
    desk_store.data_mut().outbox = Outbox::Nats(client_a.clone());
    let desk = desk.instance(&mut desk_store).await?;
    let mut ledger_store = ledger.store();
    let ledger = ledger.instance(&mut ledger_store).await?;
    let mut messages = client_b.subscribe("floor.bus.orders.*").await?;
    client_b.flush().await?;
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = received.clone();
    let subscriber = tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            let topic = message.subject.trim_start_matches("floor.bus.").to_owned();
            let guest = ledger.witplug_plugin_guest();
            if let Ok(Ok(())) =
                guest.call_on_message(&mut ledger_store, &topic, &message.payload).await
            {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let started = Instant::now();
    let guest = desk.witplug_plugin_guest();
    guest
        .call_handle(&mut desk_store, &MESSAGES.to_string())
        .await?
        .map_err(|e| format!("{e:?}"))?;
    client_a.flush().await?;
    let (mut seen, mut still) = (0, Instant::now());
    let delivered = loop {
        let delivered = received.load(std::sync::atomic::Ordering::Relaxed);
        if delivered >= MESSAGES {
            break delivered;
        }
        if delivered != seen {
            (seen, still) = (delivered, Instant::now());
        } else if still.elapsed() > Duration::from_secs(5) {
            break delivered;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let elapsed = started.elapsed().saturating_sub(if delivered < MESSAGES {
        still.elapsed()
    } else {
        Duration::ZERO
    });
    subscriber.abort();
    Ok(Messages {
        per_second: delivered as f64 / elapsed.as_secs_f64(),
        lost: MESSAGES - delivered,
    })
}

/// Calls per second, and the latency of one (p50, p99).
fn summary(mut latencies: Vec<Duration>, elapsed: Duration) -> ToolCalls {
    let per_second = latencies.len() as f64 / elapsed.as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    ToolCalls { per_second, p50: at(0.5), p99: at(0.99) }
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
    Ok(summary(latencies, started.elapsed()))
}
