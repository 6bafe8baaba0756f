//! Plugins on several hosts talking through a real `nats-server`: the bus,
//! remote tools, an outage of the server, and a server that is not there.
//! Each test starts its own server and hosts; the plugins are the same
//! components as everywhere else, unchanged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use witplug_host::{
    Error, Event, Grants, Host, HostBuilder, Limits, Plugin, PluginError, bus::Message,
    bus::MessageBus, bus::Published, nats::NatsBus, nats::NatsOptions, observe::Outcome,
    observe::TryRecvError,
};

use crate::nats_server::{NatsServer, free_port};
use crate::support::{Scratch, fixture, wait_until};

/// A host on `server`'s bus, with the suite's cache.
async fn host_on(
    server: &NatsServer,
    configure: impl FnOnce(&mut HostBuilder),
) -> (Host, Arc<NatsBus>) {
    let bus = NatsBus::connect(NatsOptions::new(server.url())).await.expect("connecting to NATS");
    host_with(bus, configure)
}

fn host_with(bus: Arc<NatsBus>, configure: impl FnOnce(&mut HostBuilder)) -> (Host, Arc<NatsBus>) {
    let mut builder = crate::support::builder();
    builder.bus(bus.clone());
    // Room for a whole stream in a subscriber's queue: these tests count
    // what the network loses, not what a slow subscriber drops.
    let mut limits = Limits::default();
    limits.message_queue = 50_000;
    builder.limits(limits);
    configure(&mut builder);
    (builder.build().expect("host builds"), bus)
}

/// What the ledger plugin reports after `orders` orders placed by
/// order-desk (whose amounts are `seq % 100 + 1`).
fn ledger_after(orders: u64) -> String {
    let total: u64 = (1..=orders).map(|seq| seq % 100 + 1).sum();
    format!("orders={orders} total={total} out-of-order=0")
}

async fn wait_for_deliveries(host: &Host, ledger: &Plugin, count: u64) {
    let mut events = host.events();
    wait_until(&mut events, &format!("{} has {count} messages", ledger.name()), || {
        ledger.metrics().messages_delivered >= count
    })
    .await;
}

#[tokio::test]
async fn the_outgoing_buffer_is_bounded_in_bytes() {
    let server = NatsServer::start();
    let options = NatsOptions::new(server.url()).outgoing_buffer_bytes(1_000);
    let bus = NatsBus::connect(options).await.unwrap();
    // Larger than the whole buffer: never queued, counted.
    let big = Message::new("big", vec![0; 1_000]);
    assert_eq!(bus.publish(big), Published::Dropped);
    assert_eq!(bus.publish(Message::new("small", "x")), Published::Sent);
    bus.flush().await.unwrap();
    let stats = bus.stats();
    assert_eq!((stats.sent, stats.dropped), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_ten_thousand_messages_reach_two_other_hosts_in_order() {
    let server = NatsServer::start();
    let (a, bus_a) = host_on(&server, |_| {}).await;
    let (b, bus_b) = host_on(&server, |_| {}).await;
    let (c, bus_c) = host_on(&server, |_| {}).await;
    // plugins/order-desk.toml grants publishing orders.*; ledger.toml
    // subscribes to them.
    let desk = a.load_file(fixture("order-desk")).await.unwrap();
    let ledger_b = b.load_file(fixture("ledger")).await.unwrap();
    let ledger_c = c.load_file(fixture("ledger")).await.unwrap();

    assert_eq!(desk.handle("10000").await.unwrap(), "placed 10000 orders, 10000 in all");
    bus_a.flush().await.unwrap();
    wait_for_deliveries(&b, &ledger_b, 10_000).await;
    wait_for_deliveries(&c, &ledger_c, 10_000).await;

    // In order (the ledger counts any order out of sequence), none lost.
    assert_eq!(ledger_b.handle("").await.unwrap(), ledger_after(10_000));
    assert_eq!(ledger_c.handle("").await.unwrap(), ledger_after(10_000));
    let (sent, received_b, received_c) = (bus_a.stats(), bus_b.stats(), bus_c.stats());
    assert_eq!((sent.sent, sent.dropped), (10_000, 0));
    assert_eq!((received_b.received, received_b.lost), (10_000, 0));
    assert_eq!((received_c.received, received_c.lost), (10_000, 0));
    assert_eq!(ledger_b.metrics().messages_dropped, 0);
}

#[tokio::test]
async fn nats_a_plugin_calls_a_tool_a_plugin_provides_on_another_host() {
    let server = NatsServer::start();
    // plugins/word-count.toml provides count-words; tool-user.toml grants
    // it, and `translate`, which nobody provides.
    let (a, _) = host_on(&server, |_| {}).await;
    let (b, _) = host_on(&server, |_| {}).await;
    let word_count = a.load_file(fixture("word-count")).await.unwrap();
    let tool_user = b.load_file(fixture("tool-user")).await.unwrap();

    let answer = tool_user.handle(r#"count-words:{"text":"the quick brown fox"}"#).await.unwrap();
    assert_eq!(answer, "count-words says: 4");
    assert_eq!(word_count.handle("").await.unwrap(), "served 1 tool calls");

    // Nobody provides it: not-found at once, not after the caller's 30 s.
    let mut limits = Limits::default();
    limits.deadline = Duration::from_secs(30);
    let (c, _) = host_on(&server, |builder| {
        builder.limits(limits);
    })
    .await;
    let patient = c.load_file(fixture("tool-user")).await.unwrap();
    let started = Instant::now();
    assert_eq!(patient.handle("translate:x").await.unwrap(), "no tool named translate");
    assert!(started.elapsed() < Duration::from_secs(10), "not-found took {:?}", started.elapsed());
    // Not granted: denied on the caller's host, whoever provides it.
    assert_eq!(patient.handle("shell:x").await.unwrap(), "not allowed: tool:shell");
}

#[tokio::test]
async fn nats_two_hosts_providing_a_tool_share_a_thousand_calls() {
    let server = NatsServer::start();
    let (a1, _) = host_on(&server, |_| {}).await;
    let (a2, _) = host_on(&server, |_| {}).await;
    let (b, _) = host_on(&server, |_| {}).await;
    let one = a1.load_file(fixture("word-count")).await.unwrap();
    let two = a2.load_file(fixture("word-count")).await.unwrap();
    let tool_user = b.load_file(fixture("tool-user")).await.unwrap();

    for _ in 0..1000 {
        assert_eq!(
            tool_user.handle(r#"count-words:{"text":"a b"}"#).await.unwrap(),
            "count-words says: 2"
        );
    }
    let served = |answer: String| -> u64 {
        answer.trim_start_matches("served ").trim_end_matches(" tool calls").parse().unwrap()
    };
    let (first, second) =
        (served(one.handle("").await.unwrap()), served(two.handle("").await.unwrap()));
    assert_eq!(first + second, 1000);
    // A queue group picks at random: each host serves about half.
    assert!(first >= 200 && second >= 200, "shared {first} / {second}");
}

#[tokio::test]
async fn nats_a_tool_cycle_across_hosts_is_refused() {
    let server = NatsServer::start();
    let dir = Scratch::new();
    crate::support::tool_cycle_relays(&dir);
    let (a, _) = host_on(&server, |_| {}).await;
    let (b, _) = host_on(&server, |_| {}).await;
    let relay_a = a.load_file(dir.path().join("relay-a.wasm")).await.unwrap();
    b.load_file(dir.path().join("relay-b.wasm")).await.unwrap();

    let err = relay_a.handle("\"x\"").await.unwrap_err();
    let Error::Plugin { error: PluginError::Failed(message), .. } = &err else {
        panic!("unexpected error: {err}")
    };
    assert_eq!(message, "refused a tool cycle: relay-a -> relay-b -> relay-a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_a_server_restart_loses_only_what_is_counted() {
    let mut server = NatsServer::start();
    // A small outgoing buffer, so the outage overflows it.
    let bus_a =
        NatsBus::connect(NatsOptions::new(server.url()).outgoing_buffer(1000)).await.unwrap();
    let (a, bus_a) = host_with(bus_a, |_| {});
    let (b, bus_b) = host_on(&server, |_| {}).await;
    let desk = a.load_file(fixture("order-desk")).await.unwrap();
    let ledger = b.load_file(fixture("ledger")).await.unwrap();
    let mut a_events = a.events();
    let mut sent = 0;

    // A first batch arrives whole: from then on B notices any gap in A's
    // numbering (what is lost before a subscriber's first message from a
    // host cannot be told from what was sent before it subscribed).
    desk.handle("500").await.unwrap();
    sent += 500;
    wait_for_deliveries(&b, &ledger, 500).await;

    // A stream of 80 batches of 100, and the server stops in its middle:
    // the last 60 are published once A has seen the server go, 6,000
    // messages, more than A's outgoing buffer (1,000) and the NATS
    // client's own (2,048) hold together, whatever had left before.
    let (down, server_down) = tokio::sync::oneshot::channel::<()>();
    let stream = tokio::spawn({
        let desk = desk.clone();
        let mut server_down = Some(server_down);
        async move {
            for batch in 0..80 {
                if batch == 20 {
                    let _ = server_down.take().unwrap().await;
                }
                // Publishing never blocks: every call answers, server or not.
                desk.handle("100").await.expect("order-desk answers during the outage");
                tokio::task::yield_now().await;
            }
        }
    });
    sent += 8000;
    wait_for_deliveries(&b, &ledger, 1500).await;
    server.stop();
    tokio::time::timeout(Duration::from_secs(10), bus_a.disconnected())
        .await
        .expect("host A sees the server go");
    let _ = down.send(());
    tokio::time::timeout(Duration::from_secs(30), stream)
        .await
        .expect("the publisher never blocked")
        .unwrap();
    // What did not fit in the buffer was dropped, counted and reported.
    assert!(bus_a.stats().dropped > 0, "the outage overflowed no buffer");
    let mut drop_events = 0;
    loop {
        match a_events.try_recv() {
            Ok(event) => drop_events += u64::from(matches!(event, Event::MessageDropped { .. })),
            Err(TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    assert!(drop_events > 0, "no MessageDropped event");

    server.restart();
    for bus in [&bus_a, &bus_b] {
        tokio::time::timeout(Duration::from_secs(30), bus.connected())
            .await
            .expect("reconnected within 30 s");
    }
    // B's subscriptions are back once its server answers a ping.
    bus_b.flush().await.unwrap();
    for _ in 0..4 {
        desk.handle("500").await.unwrap();
        sent += 500;
    }
    bus_a.flush().await.unwrap();

    // Everything sent is received, dropped by A, or lost on the way (a gap
    // in A's numbering that B counts).
    let mut b_events = b.events();
    let accounted = || {
        let lost = ledger.metrics().messages_dropped;
        ledger.metrics().messages_delivered + lost + bus_a.stats().dropped
    };
    wait_until(&mut b_events, "every message is delivered or counted", || accounted() >= sent)
        .await;
    let (a_stats, b_stats) = (bus_a.stats(), bus_b.stats());
    let delivered = ledger.metrics().messages_delivered;
    eprintln!(
        "server restart: sent {sent}, delivered {delivered}, dropped by the publisher {}, \
         lost in transit {}, reconnects {}/{}",
        a_stats.dropped, b_stats.lost, a_stats.reconnects, b_stats.reconnects
    );
    assert_eq!(sent - delivered, a_stats.dropped + ledger.metrics().messages_dropped);
    assert_eq!(ledger.metrics().messages_dropped, b_stats.lost);
    assert!(a_stats.reconnects >= 1 && b_stats.reconnects >= 1);
    // Deliveries resumed: the last order arrived.
    let report = ledger.handle("").await.unwrap();
    assert!(report.starts_with(&format!("orders={delivered} ")), "{report}");
}

#[tokio::test]
async fn nats_an_unreachable_server_is_one_line_and_local_plugins_still_serve() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let options = NatsOptions::new(&url).connect_timeout(Duration::from_secs(1));
    let err = NatsBus::connect(options.clone()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Nats { .. }), "{err:?}");
    assert!(text.starts_with(&format!("NATS at {url}: ")) && !text.contains('\n'), "{text}");

    // Asked to keep trying, the host starts, and its plugins serve calls.
    let bus = NatsBus::connect(options.retry_on_start(true)).await.unwrap();
    let (a, bus) = host_with(bus, |_| {});
    assert!(!bus.is_connected());
    let counter = a.load_file(fixture("counter")).await.unwrap();
    assert_eq!(counter.handle("tick").await.unwrap(), "1");
    let desk = a.load_file(fixture("order-desk")).await.unwrap();
    assert!(desk.handle("3").await.is_ok(), "publishing waits for no server");

    // When the server appears, the host connects by itself.
    let server = NatsServer::start_on(port);
    tokio::time::timeout(Duration::from_secs(30), bus.connected()).await.expect("connected");
    let (b, _) = host_on(&server, |_| {}).await;
    let ledger = b.load_file(fixture("ledger")).await.unwrap();
    desk.handle("1").await.unwrap();
    bus.flush().await.unwrap();
    wait_for_deliveries(&b, &ledger, 1).await;
}

#[tokio::test]
async fn nats_a_pattern_nats_cannot_express_is_refused_at_load() {
    let server = NatsServer::start();
    let (host, _) = host_on(&server, |builder| {
        builder.grants("ledger", Grants::new().subscribe("orders.*.created"));
    })
    .await;
    let err = host.load_file(fixture("ledger")).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("ledger.toml"), "{text}");
    assert!(text.contains("`orders.*.created`") && text.contains("wildcards"), "{text}");
}

#[tokio::test]
async fn nats_the_callers_deadline_holds_at_both_ends() {
    let server = NatsServer::start();
    let dir = Scratch::new();
    // On host A, relay provides `reverse` by calling the host tool
    // `sleep`, which takes 20 s.
    dir.write("relay.wasm", std::fs::read(fixture("relay")).unwrap());
    dir.write(
        "relay.toml",
        "[config]\nnext = \"sleep\"\ntools = \"reverse\"\n[grants]\ntools = [\"sleep\"]\n\
         [provides]\ntools = [\"reverse\"]\n[limits]\ndeadline = \"30 s\"\n",
    );
    // The tool holds `working` while it runs: it is dropped when the
    // provider's host gives up on the call.
    let (working, abandoned) = tokio::sync::oneshot::channel::<()>();
    let working = std::sync::Mutex::new(Some(working));
    let (a, _) = host_on(&server, |builder| {
        let mut ceilings = Limits::default_ceilings();
        ceilings.deadline = Duration::from_secs(60);
        builder.ceilings(ceilings).tool_async("sleep", move |input: String| {
            let working = working.lock().unwrap().take();
            async move {
                tokio::time::sleep(Duration::from_secs(20)).await;
                drop(working);
                Ok(input)
            }
        });
    })
    .await;
    a.load_file(dir.path().join("relay.wasm")).await.unwrap();
    // On host B, tool-user (granted `reverse`) has 500 ms per call.
    let mut limits = Limits::default();
    limits.deadline = Duration::from_millis(500);
    let (b, _) = host_on(&server, |builder| {
        builder.limits(limits);
    })
    .await;
    let tool_user = b.load_file(fixture("tool-user")).await.unwrap();

    let started = Instant::now();
    let err = tool_user.handle("reverse:\"abc\"").await.unwrap_err();
    let elapsed = started.elapsed();
    let Error::Plugin { error: PluginError::Failed(message), .. } = &err else {
        panic!("unexpected error: {err}")
    };
    assert!(message.contains("did not answer within"), "{message}");
    assert!(elapsed < Duration::from_secs(5), "the caller waited {elapsed:?}");
    // The provider gave up too, long before the 20 s tool would answer.
    let gave_up = tokio::time::timeout(Duration::from_secs(5), abandoned).await;
    assert!(gave_up.is_ok(), "host A still runs the call after 5 s");
}

#[tokio::test]
async fn nats_a_message_loop_across_hosts_is_cut_off() {
    let server = NatsServer::start();
    // ping on host A and pong on host B pass every message back to each
    // other: the hop count travels with it and stops the loop.
    let dir = Scratch::new();
    crate::support::message_loop_relays(&dir);
    let (a, _) = host_on(&server, |_| {}).await;
    let (b, _) = host_on(&server, |_| {}).await;
    let mut a_events = a.events();
    let mut b_events = b.events();
    let ping = a.load_file(dir.path().join("ping.wasm")).await.unwrap();
    let pong = b.load_file(dir.path().join("pong.wasm")).await.unwrap();
    a.publish("to-ping", "ball");

    // ping handles hops 0, 2, 4 and 6, pong 1, 3, 5 and 7; ping's publish
    // of hop 9, handling hop 8, is refused on host A and fails that call.
    let mut dropped_by = None;
    let mut refused_call = false;
    while !refused_call {
        let event = tokio::time::timeout(Duration::from_secs(10), a_events.recv()).await;
        match event.expect("the loop was cut within 10 s").unwrap() {
            Event::MessageDropped { plugin, topic } => {
                dropped_by = Some((plugin.to_string(), topic));
            }
            Event::CallFinished { outcome, .. } if dropped_by.is_some() => {
                refused_call = outcome == Outcome::Error;
            }
            _ => {}
        }
    }
    assert_eq!(dropped_by, Some(("ping".to_owned(), "to-pong".to_owned())));
    wait_until(&mut b_events, "pong has 4 messages", || pong.metrics().messages_delivered == 4)
        .await;
    assert_eq!(ping.metrics().messages_delivered, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_forged_headers_from_a_raw_client_never_break_delivery() {
    let server = NatsServer::start();
    let (b, bus_b) = host_on(&server, |_| {}).await;
    let ledger = b.load_file(fixture("ledger")).await.unwrap();
    let raw = async_nats::connect(server.url()).await.unwrap();
    let forged = [
        ("Witplug-Hops", "4294967295"),
        ("Witplug-Hops", "-1"),
        ("Witplug-Hops", "99999999999999999999999"),
        ("Witplug-Seq", "18446744073709551615"),
        ("Witplug-Seq", "not a number"),
        ("Witplug-Seq", "0"),
        ("Witplug-Origin", "\u{1b}[2Jforged"),
        ("Witplug-Chain", &"x,".repeat(10_000)),
    ];
    for (n, (name, value)) in forged.iter().enumerate() {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Witplug-Origin", "forger");
        headers.insert(*name, *value);
        let payload = format!("{}:1", n + 1);
        raw.publish_with_headers("witplug.orders.new", headers, payload.into()).await.unwrap();
    }
    // A number past the last forged one, from the same origin: a gap the
    // forger's own numbering can claim, bounded by what any buffer holds.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Witplug-Origin", "forger");
    headers.insert("Witplug-Seq", "18446744073709551615");
    raw.publish_with_headers("witplug.orders.new", headers, "9:1".into()).await.unwrap();
    raw.flush().await.unwrap();
    wait_for_deliveries(&b, &ledger, 9).await;
    assert_eq!(ledger.handle("").await.unwrap(), "orders=9 total=9 out-of-order=0");
    assert_eq!(bus_b.stats().lost, 0, "a forged sequence poisoned the loss count");

    // And the host's own traffic still flows, from a real host.
    let (a, bus_a) = host_on(&server, |_| {}).await;
    let desk = a.load_file(fixture("order-desk")).await.unwrap();
    assert_eq!(desk.handle("10").await.unwrap(), "placed 10 orders, 10 in all");
    bus_a.flush().await.unwrap();
    wait_for_deliveries(&b, &ledger, 19).await;
}

#[tokio::test]
async fn nats_overlapping_or_empty_prefixes_are_refused_at_connect() {
    let server = NatsServer::start();
    let err = NatsBus::connect(NatsOptions::new(server.url()).prefix("a").tool_prefix("a.tools"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("overlap"), "{err}");
    let err = NatsBus::connect(NatsOptions::new(server.url()).prefix("")).await.unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    // Tools follow the topic prefix: two prefixes are two separate worlds.
    let (a, _) = host_with(
        NatsBus::connect(NatsOptions::new(server.url()).prefix("blue")).await.unwrap(),
        |_| {},
    );
    let (b, _) = host_with(
        NatsBus::connect(NatsOptions::new(server.url()).prefix("green")).await.unwrap(),
        |_| {},
    );
    a.load_file(fixture("word-count")).await.unwrap();
    let user = b.load_file(fixture("tool-user")).await.unwrap();
    assert_eq!(
        user.handle(r#"count-words:{"text":"a b c"}"#).await.unwrap(),
        "no tool named count-words",
        "a tool crossed prefixes"
    );
}
