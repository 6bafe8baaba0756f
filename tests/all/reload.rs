//! Hot reload: changed files reload, added ones load, removed ones unload,
//! and calls keep being answered throughout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use witplug_host::Event;

use crate::support::{Scratch, fixture, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_fails_no_call() {
    let dir = Scratch::new();
    let path = dir.copy_fixture("echo");
    let host = Arc::new(crate::support::builder().build().unwrap());
    host.load_dir(dir.path()).await.unwrap();

    let running = Arc::new(AtomicBool::new(true));
    let answered = Arc::new(AtomicUsize::new(0));
    // Callers tell each answer from the new version (a number) here.
    let (new_answers, answer) = (Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (host, running, answered) = (host.clone(), running.clone(), answered.clone());
            let (new_answers, answer) = (new_answers.clone(), answer.clone());
            tokio::spawn(async move {
                let mut outputs = Vec::new();
                while running.load(Ordering::Relaxed) {
                    let output = host.plugin("echo").unwrap().handle("ping").await.unwrap();
                    answered.fetch_add(1, Ordering::Relaxed);
                    if output != "ping" {
                        new_answers.fetch_add(1, Ordering::Relaxed);
                    }
                    outputs.push(output);
                    answer.notify_waiters();
                }
                outputs
            })
        })
        .collect();

    let mut events = host.events();
    let echo = host.plugin("echo").unwrap();
    wait_until(&mut events, "the old version answered 100 calls", || {
        echo.metrics().successes >= 100
    })
    .await;
    // The new version of `echo` is the counter: its answers are numbers.
    std::fs::write(&path, std::fs::read(fixture("counter")).unwrap()).unwrap();
    let report = host.sync_dir(dir.path()).await.unwrap();
    assert_eq!(report.reloaded, ["echo"]);
    tokio::time::timeout(Duration::from_secs(10), async {
        while new_answers.load(Ordering::Relaxed) < 100 {
            let notified = answer.notified();
            if new_answers.load(Ordering::Relaxed) >= 100 {
                break;
            }
            notified.await;
        }
    })
    .await
    .expect("the new version answered 100 calls within 10 s");
    running.store(false, Ordering::Relaxed);

    let mut old = 0;
    let mut new = 0;
    for caller in callers {
        for output in caller.await.expect("no caller panicked: every call succeeded") {
            if output == "ping" { old += 1 } else { new += 1 }
        }
    }
    assert!(old > 0 && new > 0, "old {old}, new {new}");
    assert_eq!(old + new, answered.load(Ordering::Relaxed));
}

#[tokio::test]
async fn a_failed_reload_keeps_the_old_version_serving() {
    let dir = Scratch::new();
    let path = dir.copy_fixture("echo");
    let host = crate::support::builder().build().unwrap();
    let mut events = host.events();
    host.load_dir(dir.path()).await.unwrap();
    std::fs::write(&path, b"not a component any more").unwrap();
    let report = host.sync_dir(dir.path()).await.unwrap();
    assert!(report.reloaded.is_empty());
    assert_eq!(report.failed.len(), 1);
    assert_eq!(host.plugin("echo").unwrap().handle("still").await.unwrap(), "still");
    let failed = std::iter::from_fn(|| events.try_recv().ok())
        .find_map(|e| match e {
            Event::ReloadFailed { plugin, reason } => Some((plugin, reason)),
            _ => None,
        })
        .expect("a ReloadFailed event");
    assert_eq!(failed.0, "echo");
    assert!(failed.1.ends_with("echo.wasm: not a WebAssembly file"), "{}", failed.1);
    // The same broken file is not retried until it changes again.
    assert!(host.sync_dir(dir.path()).await.unwrap().failed.is_empty());
}

#[tokio::test]
async fn a_watcher_loads_added_and_unloads_removed_files() {
    let dir = Scratch::new();
    let host = Arc::new(crate::support::builder().build().unwrap());
    let mut events = host.events();
    let _watcher = host.watch(dir.path(), Duration::from_millis(50));

    let path = dir.copy_fixture("counter");
    let loaded =
        wait_for(&mut events, |e| matches!(e, Event::Loaded { plugin } if plugin == "counter"))
            .await;
    assert!(loaded);
    assert_eq!(host.plugin("counter").unwrap().handle("tick").await.unwrap(), "1");

    std::fs::remove_file(&path).unwrap();
    let unloaded =
        wait_for(&mut events, |e| matches!(e, Event::Unloaded { plugin } if plugin == "counter"))
            .await;
    assert!(unloaded);
    assert!(host.plugin("counter").is_err());
}

#[tokio::test]
async fn a_changed_manifest_reloads_the_plugin() {
    let dir = Scratch::new();
    dir.copy_fixture("greeter-fr");
    let host = crate::support::builder().build().unwrap();
    host.load_dir(dir.path()).await.unwrap();
    dir.write("greeter-fr.toml", "[config]\ngreeting = \"Salut\"\n");
    assert_eq!(host.sync_dir(dir.path()).await.unwrap().reloaded, ["greeter-fr"]);
    let greeting =
        host.plugin("greeter-fr").unwrap().call_wave("greet", &["\"JP\""]).await.unwrap();
    assert_eq!(greeting, ["\"Salut, JP!\""]);
}

async fn wait_for(events: &mut witplug_host::EventStream, wanted: impl Fn(&Event) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if wanted(&event) {
            return true;
        }
    }
    false
}
