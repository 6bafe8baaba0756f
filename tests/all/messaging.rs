//! Messages between plugins: subscriptions, order, bounded queues, loops.

use std::time::Duration;

use witplug_host::{EventStream, Grants, Plugin, bus::Message, bus::Published};

use crate::support::{Scratch, fixture, wait_until};

/// Waits until `ledger` has received `orders` messages, then returns its
/// report.
async fn wait_for(events: &mut EventStream, ledger: &Plugin, orders: u64) -> String {
    let what = format!("{} has received {orders} orders", ledger.name());
    wait_until(events, &what, || ledger.metrics().messages_delivered >= orders).await;
    ledger.handle("report").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_reach_two_subscribers_in_order() {
    let dir = Scratch::new();
    dir.copy_fixture("order-desk");
    dir.write("order-desk.toml", "[grants]\npublish = [\"orders.*\"]\n");
    let ledger = std::fs::read(fixture("ledger")).unwrap();
    for name in ["ledger-a", "ledger-b"] {
        dir.write(&format!("{name}.wasm"), &ledger);
        dir.write(
            &format!("{name}.toml"),
            "[grants]\nsubscribe = [\"orders.*\"]\n[limits]\nmessage-queue = 20000\n",
        );
    }
    let host = crate::support::builder().build().unwrap();
    let mut events = host.events();
    let report = host.load_dir(dir.path()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let desk = host.plugin("order-desk").unwrap();
    for batch in 1..=10 {
        let placed = desk.handle("1000").await.unwrap();
        assert_eq!(placed, format!("placed 1000 orders, {} in all", batch * 1000));
    }
    // Amounts are seq % 100 + 1: each hundred orders add up to 5050.
    let expected = "orders=10000 total=505000 out-of-order=0";
    for name in ["ledger-a", "ledger-b"] {
        let ledger = host.plugin(name).unwrap();
        assert_eq!(wait_for(&mut events, &ledger, 10_000).await, expected);
        let metrics = ledger.metrics();
        assert_eq!(metrics.messages_delivered, 10_000);
        assert_eq!(metrics.messages_dropped, 0);
    }
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking_the_publisher() {
    let dir = Scratch::new();
    dir.copy_fixture("order-desk");
    dir.write("order-desk.toml", "[grants]\npublish = [\"orders.*\"]\n");
    dir.copy_fixture("ledger");
    dir.write(
        "ledger.toml",
        "[grants]\nsubscribe = [\"orders.*\"]\n[limits]\nmessage-queue = 10\n",
    );
    // A current-thread runtime: the ledger gets no turn while the desk
    // publishes 500 orders in one call, so its queue of 10 overflows.
    let host = crate::support::builder().build().unwrap();
    let mut events = host.events();
    host.load_dir(dir.path()).await.unwrap();
    host.plugin("order-desk").unwrap().handle("500").await.unwrap();
    let ledger = host.plugin("ledger").unwrap();
    wait_until(&mut events, "all 500 orders are delivered or dropped", || {
        let metrics = ledger.metrics();
        metrics.messages_delivered + metrics.messages_dropped == 500
    })
    .await;
    let metrics = ledger.metrics();
    let delivered = metrics.messages_delivered;
    assert!((10..500).contains(&delivered), "delivered {delivered}");
    assert_eq!(metrics.messages_delivered + metrics.messages_dropped, 500);
}

#[tokio::test]
async fn a_queue_full_in_bytes_drops_and_counts_however_few_messages_it_holds() {
    let host = crate::support::builder()
        .grants("ledger", Grants::new().subscribe("orders.*"))
        .build()
        .unwrap();
    let dir = Scratch::new();
    dir.copy_fixture("ledger");
    dir.write(
        "ledger.toml",
        "[grants]\nsubscribe = [\"orders.*\"]\n\
         [limits]\nmessage-queue = 10000\nmessage-queue-bytes = \"1 KiB\"\n",
    );
    let mut events = host.events();
    let ledger = host.load_file(dir.path().join("ledger.wasm")).await.unwrap();
    // A current-thread runtime: nothing is delivered while host code
    // publishes, so 600-byte messages fill 1 KiB at the first.
    let payload = witplug_host::bus::Bytes::from(format!("1:1{}", " ".repeat(600)));
    let queued: usize = (0..100)
        .map(|_| match host.publish("orders.big", payload.clone()) {
            Published::Queued(n) => n,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(queued, 1);
    wait_until(&mut events, "99 messages are counted dropped", || {
        ledger.metrics().messages_dropped == 99
    })
    .await;
}

#[tokio::test]
async fn host_code_and_plugins_share_the_bus() {
    let host = crate::support::builder()
        .grants("ledger", Grants::new().subscribe("orders.*"))
        .build()
        .unwrap();
    let mut events = host.events();
    let ledger = host.load_file(fixture("ledger")).await.unwrap();
    assert_eq!(host.publish("orders.manual", "1:40"), Published::Queued(1));
    assert_eq!(host.bus().publish(Message::new("orders.manual", "2:2")), Published::Queued(1));
    assert_eq!(wait_for(&mut events, &ledger, 2).await, "orders=2 total=42 out-of-order=0");
    // Not subscribed: not delivered.
    assert_eq!(host.publish("invoices.new", "3:1"), Published::Queued(0));
}

#[tokio::test]
async fn a_message_loop_between_plugins_is_cut_off() {
    // Two relays that forward every message to each other's topic would
    // loop forever; the hop count stops the loop.
    let dir = Scratch::new();
    crate::support::message_loop_relays(&dir);
    let host = crate::support::builder().build().unwrap();
    let mut events = host.events();
    host.load_dir(dir.path()).await.unwrap();
    host.publish("to-ping", "ball");

    let mut dropped_by = None;
    let mut deliveries = 0;
    while dropped_by.is_none() {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
        match event.expect("the loop was cut within 5 s").unwrap() {
            witplug_host::Event::MessageDropped { plugin, topic } => {
                dropped_by = Some((plugin.to_string(), topic))
            }
            witplug_host::Event::CallFinished { export, .. } if export == "on-message" => {
                deliveries += 1
            }
            _ => {}
        }
    }
    // Messages of hops 0 to MAX_HOPS - 1 were handled and passed on; the
    // one of hop MAX_HOPS reached ping, whose publish was refused.
    assert_eq!(deliveries, witplug_host::bus::MAX_HOPS);
    assert_eq!(dropped_by, Some(("ping".to_owned(), "to-pong".to_owned())));
    // The call that was refused finishes after the refusal: its event comes
    // once its metrics are recorded.
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
        if let witplug_host::Event::CallFinished { .. } =
            event.expect("the last call ends").unwrap()
        {
            break;
        }
    }
    let total = host.stats().total;
    assert_eq!(total.calls, u64::from(witplug_host::bus::MAX_HOPS) + 1);
    assert_eq!(total.messages_delivered, u64::from(witplug_host::bus::MAX_HOPS));
    assert_eq!(total.errors, 1, "ping's last on-message returned the refusal");
}
