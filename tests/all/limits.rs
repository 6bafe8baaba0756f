//! Hostile plugins against the default limits: each is stopped with its own
//! error, and a well-behaved plugin in the same host answers right after.

use std::sync::Arc;
use std::time::{Duration, Instant};

use witplug_host::{Error, Host, Limits, Plugin};

use crate::support::{capture_logs, fixture};

/// A host with `hostile` and the well-behaved `counter` loaded.
async fn host_with(hostile: &str, host: Host) -> (Host, Arc<Plugin>, Arc<Plugin>) {
    let plugin = host.load_file(fixture(hostile)).await.unwrap();
    let counter = host.load_file(fixture("counter")).await.unwrap();
    (host, plugin, counter)
}

/// The well-behaved plugin still answers, and the hostile one was restarted.
async fn others_unharmed(hostile: &Plugin, counter: &Plugin) {
    assert_eq!(counter.handle("tick").await.unwrap(), "1");
    assert_eq!(counter.restarts(), 0);
    assert_eq!(hostile.restarts(), 1);
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_deadline() {
    let (_host, spin, counter) =
        host_with("hostile-loop", crate::support::builder().build().unwrap()).await;
    let started = Instant::now();
    let err = spin.handle("").await.unwrap_err();
    let ran = started.elapsed();
    assert!(
        matches!(&err, Error::Timeout { plugin, deadline } if plugin == "hostile-loop" && *deadline == Duration::from_secs(1)),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "plugin `hostile-loop` timed out: the call ran past its 1s deadline"
    );
    // A correctness margin, not a benchmark: it was stopped, not left running.
    assert!(ran >= Duration::from_secs(1) && ran < Duration::from_secs(5), "ran for {ran:?}");
    others_unharmed(&spin, &counter).await;
}

#[tokio::test]
async fn a_loop_yields_so_other_plugins_keep_answering() {
    let host = crate::support::builder().build().unwrap();
    let spin = host.load_file(fixture("hostile-loop")).await.unwrap();
    let counter = host.load_file(fixture("counter")).await.unwrap();
    // On a single-threaded runtime, the counter only answers while the loop
    // runs if the loop yields.
    let looping = spin.handle("");
    let answering = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let answer = counter.handle("tick").await.unwrap();
        (answer, Instant::now())
    };
    let (looped, (answer, answered_at)) = tokio::join!(looping, answering);
    assert!(matches!(looped, Err(Error::Timeout { .. })));
    assert_eq!(answer, "1");
    assert!(answered_at.elapsed() > Duration::from_millis(500), "the counter waited for the loop");
}

#[tokio::test]
async fn fuel_stops_a_loop_deterministically() {
    let mut limits = Limits::default();
    limits.fuel = Some(5_000_000);
    let (_host, spin, counter) =
        host_with("hostile-loop", crate::support::builder().limits(limits).build().unwrap()).await;
    let err = spin.handle("").await.unwrap_err();
    assert!(matches!(&err, Error::FuelExhausted { fuel: 5_000_000, .. }), "{err}");
    others_unharmed(&spin, &counter).await;
}

#[tokio::test]
async fn a_memory_hog_is_refused_at_its_limit() {
    let (_host, hog, counter) =
        host_with("hostile-memory", crate::support::builder().build().unwrap()).await;
    let err = hog.handle("").await.unwrap_err();
    assert!(matches!(&err, Error::MemoryLimit { limit, .. } if *limit == 64 << 20), "{err}");
    assert_eq!(err.to_string(), "plugin `hostile-memory` hit its memory limit of 64 MiB");
    others_unharmed(&hog, &counter).await;
}

#[tokio::test]
async fn unbounded_recursion_overflows_the_wasm_stack() {
    let (_host, abyss, counter) =
        host_with("hostile-recursion", crate::support::builder().build().unwrap()).await;
    let err = abyss.handle("").await.unwrap_err();
    assert!(matches!(&err, Error::StackOverflow { limit, .. } if *limit == 512 << 10), "{err}");
    others_unharmed(&abyss, &counter).await;
}

#[tokio::test]
async fn a_panic_is_a_trap_carrying_its_message() {
    let (_host, panicker, counter) =
        host_with("hostile-panic", crate::support::builder().build().unwrap()).await;
    let err = panicker.handle("this").await.unwrap_err();
    let Error::Trap { plugin, message } = &err else { panic!("unexpected error: {err}") };
    assert_eq!(plugin, "hostile-panic");
    assert!(message.starts_with("panicked: "), "{message}");
    assert!(message.contains("cannot handle \"this\""), "{message}");
    others_unharmed(&panicker, &counter).await;
}

#[tokio::test]
async fn a_log_flood_is_cut_off() {
    let (lines, _guard) = capture_logs();
    let (_host, flood, counter) =
        host_with("hostile-log-flood", crate::support::builder().build().unwrap()).await;
    let err = flood.handle("").await.unwrap_err();
    assert!(matches!(&err, Error::LogLimit { limit: 1000, .. }), "{err}");
    assert_eq!(
        lines.lock().unwrap().iter().filter(|l| l.plugin == "hostile-log-flood").count(),
        1000
    );
    others_unharmed(&flood, &counter).await;
}

#[tokio::test]
async fn a_100_mib_result_is_refused() {
    // plugins/hostile-output.toml raises its memory to 256 MiB, so it can
    // build the result; the output limit refuses it.
    let (_host, hose, counter) =
        host_with("hostile-output", crate::support::builder().build().unwrap()).await;
    let err = hose.handle("").await.unwrap_err();
    assert!(
        matches!(&err, Error::OutputTooLarge { size, limit, .. } if *size == 100 << 20 && *limit == 16 << 20),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "plugin `hostile-output` returned 100 MiB of output, over its limit of 16 MiB"
    );
    // Refusing a result is not a trap: the instance lives on.
    assert_eq!(hose.restarts(), 0);
    assert_eq!(counter.handle("tick").await.unwrap(), "1");
}

#[tokio::test]
async fn without_the_memory_the_big_result_hits_the_memory_limit() {
    let host = crate::support::builder().build().unwrap();
    let dir = crate::support::Scratch::new();
    let hose = host.load_file(dir.copy_fixture("hostile-output")).await.unwrap();
    let err = hose.handle("").await.unwrap_err();
    assert!(matches!(err, Error::MemoryLimit { .. }), "{err}");
}

#[tokio::test]
async fn a_trapped_plugin_gets_a_fresh_instance() {
    let host = crate::support::builder().build().unwrap();
    let panicker = host.load_file(fixture("hostile-panic")).await.unwrap();
    for restarts in 1..=3 {
        assert!(matches!(panicker.handle("x").await, Err(Error::Trap { .. })));
        assert_eq!(panicker.restarts(), restarts);
    }
}

#[tokio::test]
async fn a_hung_host_tool_is_stopped_by_the_deadline() {
    let mut limits = Limits::default();
    limits.deadline = Duration::from_millis(200);
    let host = crate::support::builder()
        .limits(limits)
        .tool_async("hang", |_input: String| std::future::pending())
        .grants("tool-user", witplug_host::Grants::new().tool("hang"))
        .build()
        .unwrap();
    let tool_user = host.load_file(fixture("tool-user")).await.unwrap();
    let err = tool_user.handle("hang:x").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn manifest_limits_apply_within_the_ceilings() {
    let dir = crate::support::Scratch::new();
    let wasm = dir.copy_fixture("hostile-memory");
    dir.write("hostile-memory.toml", "[limits]\nmemory = \"8 MiB\"\ndeadline = \"300 ms\"\n");
    let host = crate::support::builder().build().unwrap();
    let hog = host.load_file(&wasm).await.unwrap();
    assert_eq!(hog.limits().memory, 8 << 20);
    let err = hog.handle("").await.unwrap_err();
    assert!(matches!(&err, Error::MemoryLimit { limit, .. } if *limit == 8 << 20), "{err}");

    dir.write("hostile-memory.toml", "[limits]\nmemory = \"4 GiB\"\n");
    let err = crate::support::builder().build().unwrap().load_file(&wasm).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: limits.memory = 4 GiB is over the host's ceiling of 1 GiB",
            dir.path().join("hostile-memory.toml").display()
        )
    );
}

#[tokio::test]
async fn a_deeper_stack_is_a_manifest_choice() {
    let dir = crate::support::Scratch::new();
    let wasm = dir.copy_fixture("hostile-recursion");
    dir.write("hostile-recursion.toml", "[limits]\nstack = \"2 MiB\"\n");
    let host = crate::support::builder().build().unwrap();
    let abyss = host.load_file(&wasm).await.unwrap();
    let err = abyss.handle("").await.unwrap_err();
    assert!(matches!(&err, Error::StackOverflow { limit, .. } if *limit == 2 << 20), "{err}");
}

#[tokio::test]
async fn too_few_instances_fail_to_instantiate() {
    let mut limits = Limits::default();
    limits.instances = 1;
    let host = crate::support::builder().limits(limits).build().unwrap();
    let err = host.load_file(fixture("counter")).await.unwrap_err();
    assert!(matches!(err, Error::InstanceLimit { limit: 1, .. }), "{err}");
}
