//! The plugin manager: lifecycle, pools and concurrency, events, metrics.

use std::sync::Arc;
use std::time::Duration;

use witplug_host::{Error, Event, observe::Outcome, plugin::Lifecycle};

use crate::support::{Scratch, fixture};

#[tokio::test]
async fn a_plugin_goes_through_its_lifecycle() {
    let host = crate::support::builder().build().unwrap();
    let mut events = host.events();
    let counter = host.load_file(fixture("counter")).await.unwrap();
    assert_eq!(counter.lifecycle(), Lifecycle::Loaded);
    assert!(host.init_all().await.is_empty());
    assert_eq!(counter.lifecycle(), Lifecycle::Initialised);
    counter.handle("tick").await.unwrap();
    assert_eq!(counter.lifecycle(), Lifecycle::Ready);
    counter.stop().await.unwrap();
    assert_eq!(counter.lifecycle(), Lifecycle::Stopped);
    host.unload("counter").await.unwrap();
    assert!(host.plugin("counter").is_err());
    host.load_file(fixture("echo")).await.unwrap();
    assert!(host.unload_all().await.is_empty());
    assert!(host.plugins().is_empty());

    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(match event {
            Event::Loaded { .. } => "loaded",
            Event::Initialised { .. } => "initialised",
            Event::CallFinished { outcome: Outcome::Ok, .. } => "call ok",
            Event::Stopped { .. } => "stopped",
            Event::Unloaded { .. } => "unloaded",
            _ => "other",
        });
    }
    assert_eq!(
        seen,
        [
            "loaded",
            "initialised",
            "call ok",
            "stopped",
            "stopped",
            "unloaded",
            "loaded",
            "stopped",
            "unloaded"
        ]
    );
}

#[tokio::test]
async fn a_failed_init_is_a_state_with_its_reason() {
    let host = crate::support::builder().config("counter", "start", "lots").build().unwrap();
    let counter = host.load_file(fixture("counter")).await.unwrap();
    let failed = host.init_all().await;
    assert_eq!(failed.len(), 1);
    let Lifecycle::Failed { reason } = counter.lifecycle() else {
        panic!("{:?}", counter.lifecycle())
    };
    assert!(reason.contains("config `start` is not a number: lots"), "{reason}");
}

#[tokio::test]
async fn a_hung_shutdown_is_stopped_by_the_deadline() {
    let dir = Scratch::new();
    let wasm = dir.copy_fixture("hostile-shutdown");
    dir.write("hostile-shutdown.toml", "[limits]\ndeadline = \"300 ms\"\n");
    let host = crate::support::builder().build().unwrap();
    let stubborn = host.load_file(&wasm).await.unwrap();
    assert_eq!(stubborn.handle("").await.unwrap(), "still here");
    let started = std::time::Instant::now();
    let err = host.unload("hostile-shutdown").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert!(host.plugin("hostile-shutdown").is_err(), "unloaded anyway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_over_eight_plugins_are_all_answered() {
    let dir = Scratch::new();
    let names: Vec<String> = (0..8).map(|i| format!("echo-{i}")).collect();
    let echo = std::fs::read(fixture("echo")).unwrap();
    for name in &names {
        dir.write(&format!("{name}.wasm"), &echo);
        // Every caller may queue: this test is about answers, not bounds.
        dir.write(&format!("{name}.toml"), "[pool]\nsize = 4\nqueue = 1000\n");
    }
    let host = Arc::new(crate::support::builder().build().unwrap());
    let report = host.load_dir(dir.path()).await.unwrap();
    assert_eq!(report.loaded.len(), 8);

    let calls: Vec<_> = (0..1000)
        .map(|i| {
            let host = host.clone();
            let name = names[i % 8].clone();
            tokio::spawn(async move {
                let input = format!("call {i} to {name}");
                let answer = host.plugin(&name)?.handle(&input).await?;
                Ok::<_, Error>(answer == input)
            })
        })
        .collect();
    let mut correct = 0;
    for call in calls {
        assert!(call.await.unwrap().unwrap(), "a wrong answer");
        correct += 1;
    }
    assert_eq!(correct, 1000);
    let stats = host.stats();
    assert_eq!(stats.total.calls, 1000);
    assert_eq!(stats.total.successes, 1000);
    for (_, metrics) in &stats.plugins {
        assert_eq!(metrics.calls, 125);
    }
}

/// Loads `hostile-loop` with `pool`, starts a call that spins for its
/// deadline, and runs `then` once that call holds the only instance.
async fn while_busy<T>(pool: &str, then: impl AsyncFnOnce(&witplug_host::Plugin) -> T) -> T {
    let dir = Scratch::new();
    let wasm = dir.copy_fixture("hostile-loop");
    dir.write(
        "hostile-loop.toml",
        format!("[limits]\ndeadline = \"2 s\"\n[pool]\nsize = 1\n{pool}"),
    );
    let host = crate::support::builder().build().unwrap();
    let spin = host.load_file(&wasm).await.unwrap();
    spin.warm(1).await.unwrap();
    let (spun, result) = tokio::join!(spin.handle(""), async {
        // The spinning call yields at the epoch ticks, so this runs.
        while spin.lifecycle() != Lifecycle::Running {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        then(&spin).await
    });
    assert!(matches!(spun, Err(Error::Timeout { .. })), "{spun:?}");
    result
}

#[tokio::test]
async fn a_caller_past_the_wait_gets_busy() {
    let result =
        while_busy("queue = 8\nwait = \"100 ms\"\n", async |spin| spin.handle("").await).await;
    let Err(Error::Busy { reason, .. }) = result else { panic!("expected busy, got {result:?}") };
    assert_eq!(reason, "all 1 instances stayed busy for 100ms");
}

#[tokio::test]
async fn a_caller_past_the_queue_gets_busy_at_once() {
    let result = while_busy("queue = 0\n", async |spin| {
        let started = std::time::Instant::now();
        (spin.handle("").await, started.elapsed())
    })
    .await;
    let (Err(Error::Busy { reason, .. }), waited) = result else { panic!("{result:?}") };
    assert_eq!(reason, "0 callers are already waiting");
    assert!(waited < Duration::from_millis(500), "refused at once, not after {waited:?}");
}

#[tokio::test]
async fn a_caller_that_gives_up_leaves_the_queue() {
    // Callers that drop their call while queued must not hold queue places:
    // with a queue of 1, ten abandoned waits would otherwise refuse the next.
    let result = while_busy("queue = 1\nwait = \"5 s\"\n", async |spin| {
        for _ in 0..10 {
            let gave_up = tokio::time::timeout(Duration::from_millis(10), spin.handle("")).await;
            assert!(gave_up.is_err(), "the call should still be waiting");
        }
        tokio::time::timeout(Duration::from_millis(50), spin.handle("")).await
    })
    .await;
    assert!(result.is_err(), "the eleventh caller waits in the queue instead of being refused");
}

#[tokio::test]
async fn metrics_count_outcomes_and_times() {
    let host = crate::support::builder().build().unwrap();
    let echo = host.load_file(fixture("echo")).await.unwrap();
    let panicker = host.load_file(fixture("hostile-panic")).await.unwrap();
    for _ in 0..5 {
        echo.handle("hi").await.unwrap();
    }
    echo.handle("").await.unwrap_err();
    panicker.handle("x").await.unwrap_err();

    let echo_metrics = echo.metrics();
    assert_eq!((echo_metrics.calls, echo_metrics.successes, echo_metrics.errors), (6, 5, 1));
    assert!(echo_metrics.p50 > Duration::ZERO && echo_metrics.p99 >= echo_metrics.p50);
    assert!(echo_metrics.peak_memory > 0);
    let panic_metrics = panicker.metrics();
    assert_eq!((panic_metrics.traps, panic_metrics.restarts), (1, 1));

    let stats = host.stats();
    assert_eq!(stats.total.calls, 7);
    let table = stats.to_string();
    assert!(table.lines().next().unwrap().starts_with("PLUGIN"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("echo ") && l.contains(" 6 ")), "{table}");
    assert!(table.lines().last().unwrap().starts_with("TOTAL"), "{table}");
}

#[tokio::test]
async fn fuel_used_is_metered_when_fuel_is_on() {
    let mut limits = witplug_host::Limits::default();
    limits.fuel = Some(10_000_000);
    let host = crate::support::builder().limits(limits).build().unwrap();
    let echo = host.load_file(fixture("echo")).await.unwrap();
    echo.handle("hi").await.unwrap();
    assert!(echo.metrics().fuel_used > 0);
}

#[tokio::test]
async fn a_fresh_pool_keeps_no_state_between_calls() {
    let dir = Scratch::new();
    let wasm = dir.copy_fixture("counter");
    dir.write("counter.toml", "[pool]\nfresh = true\n");
    let host = crate::support::builder().build().unwrap();
    let counter = host.load_file(&wasm).await.unwrap();
    for _ in 0..3 {
        assert_eq!(counter.handle("tick").await.unwrap(), "1");
    }
}

#[tokio::test]
async fn a_pool_can_be_warmed_ahead_of_calls() {
    let dir = Scratch::new();
    let wasm = dir.copy_fixture("counter");
    dir.write("counter.toml", "[pool]\nsize = 3\n");
    let host = crate::support::builder().build().unwrap();
    let counter = host.load_file(&wasm).await.unwrap();
    assert_eq!(counter.idle_instances(), 0);
    counter.warm(10).await.unwrap();
    assert_eq!(counter.idle_instances(), 3, "warmed up to the pool's size");
    assert_eq!(counter.lifecycle(), witplug_host::plugin::Lifecycle::Initialised);
    assert_eq!(counter.handle("tick").await.unwrap(), "1");
    assert_eq!(counter.idle_instances(), 3);
}
