//! Typed calls of the `plugin` world and dynamic calls of any export.

use std::time::Duration;

use witplug_host::{Error, Val};

use crate::support::fixture;

async fn load(name: &str) -> std::sync::Arc<witplug_host::Plugin> {
    let host = crate::support::builder()
        .grants("echo", witplug_host::Grants::new().subscribe("*"))
        .build()
        .unwrap();
    host.load_file(fixture(name)).await.unwrap()
}

#[tokio::test]
async fn a_plugin_keeps_state_across_calls_until_shutdown() {
    let counter = load("counter").await;
    assert_eq!(counter.handle("tick").await.unwrap(), "1");
    assert_eq!(counter.handle("tick").await.unwrap(), "2");
    assert_eq!(counter.handle("get").await.unwrap(), "2");
    counter.stop().await.unwrap();
    let err = counter.handle("get").await.unwrap_err();
    assert!(matches!(err, Error::Stopped { .. }), "{err}");
    counter.init().await.unwrap();
    assert_eq!(counter.handle("get").await.unwrap(), "0");

    let greeter = load("greeter-es").await;
    assert_eq!(greeter.call_wave("greet", &["\"Ana\""]).await.unwrap(), ["\"¡Hola, Ana!\""]);
    assert_eq!(
        greeter.call_wave("greet", &["\"Ana\""]).await.unwrap(),
        ["\"¡Hola otra vez, Ana!\""]
    );
}

#[tokio::test]
async fn dynamic_calls_take_and_give_wave() {
    let greeter = load("greeter-en").await;
    assert_eq!(greeter.call_wave("language", &[] as &[&str]).await.unwrap(), ["\"English\""]);
    assert_eq!(greeter.call_wave("greet", &["\"JP\""]).await.unwrap(), ["\"Hello, JP!\""]);

    let counter = load("counter").await;
    assert_eq!(counter.call_wave("handle", &["\"tick\""]).await.unwrap(), ["ok(\"1\")"]);
    assert_eq!(counter.call_wave("guest#handle", &["\"tick\""]).await.unwrap(), ["ok(\"2\")"]);
    let full = "witplug:plugin/guest@0.2.0#handle";
    assert_eq!(counter.call_wave(full, &["\"tick\""]).await.unwrap(), ["ok(\"3\")"]);
    let echo = load("echo").await;
    assert_eq!(
        echo.call_wave("handle", &["\"\""]).await.unwrap(),
        ["err(invalid-input(\"nothing to echo\"))"]
    );
}

#[tokio::test]
async fn dynamic_calls_take_values() {
    let greeter = load("greeter-fr").await;
    let result = greeter.call("greet", &[Val::String("JP".into())]).await.unwrap();
    assert_eq!(result, [Val::String("Bonjour, JP!".into())]);
}

#[tokio::test]
async fn a_wrong_export_lists_the_exports_that_exist() {
    let greeter = load("greeter-en").await;
    let err = greeter.call_wave("great", &["\"JP\""]).await.unwrap_err();
    let Error::NoSuchExport { plugin, export, available } = &err else { panic!("{err}") };
    assert_eq!((plugin.as_str(), export.as_str()), ("greeter-en", "great"));
    assert_eq!(available, &["language", "greet"]);
    assert_eq!(
        err.to_string(),
        "plugin `greeter-en` has no export `great` (exports: language, greet)"
    );
}

#[tokio::test]
async fn bad_arguments_name_the_export_and_the_problem() {
    let greeter = load("greeter-en").await;
    let err = greeter.call_wave("greet", &["JP"]).await.unwrap_err();
    assert!(
        matches!(&err, Error::BadArguments { export, reason, .. } if export == "greet" && reason.starts_with("argument `name`:")),
        "{err}"
    );
    let err = greeter.call_wave("greet", &[] as &[&str]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `greeter-en`, export `greet`: expects 1 argument func(name: string) -> string, got 0"
    );
    let err = greeter.call("greet", &[Val::U32(7)]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `greeter-en`, export `greet`: argument `name` is not a string"
    );
    // A bad call leaves the plugin working.
    assert_eq!(greeter.call_wave("greet", &["\"JP\""]).await.unwrap(), ["\"Hello, JP!\""]);
}

#[tokio::test]
async fn typed_calls_need_the_plugin_world() {
    let greeter = load("greeter-en").await;
    let err = greeter.handle("hi").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin `greeter-en` does not export the `plugin` world's functions"
    );
}

#[tokio::test]
async fn on_message_is_a_typed_call() {
    let echo = load("echo").await;
    echo.on_message("news", b"payload").await.unwrap();
}

#[tokio::test]
async fn a_lease_holds_one_instance_for_a_batch_of_calls() {
    let kit = load("kit").await;
    let mut lease = kit.lease().await.unwrap();
    assert_eq!(lease.handle("count").await.unwrap(), "1");
    assert_eq!(lease.handle("count").await.unwrap(), "2");

    // A trap throws the instance away: the lease's next call gets a new one.
    let err = lease.handle("throw gave up").await.unwrap_err();
    assert!(err.is_trap(), "{err}");
    assert_eq!(lease.handle("count").await.unwrap(), "1");
    assert_eq!(kit.restarts(), 1);

    // Dropped, the lease gives its instance back to the pool.
    drop(lease);
    assert_eq!(kit.handle("count").await.unwrap(), "2");
}

#[tokio::test]
async fn a_lease_call_dropped_mid_call_leaves_no_half_run_instance() {
    let kit = load("kit").await;
    let mut lease = kit.lease().await.unwrap();
    assert_eq!(lease.handle("count").await.unwrap(), "1");
    // The spin yields at each epoch tick, so the timeout drops its future
    // while the instance is inside the call.
    let spin = tokio::time::timeout(Duration::from_millis(100), lease.handle("spin")).await;
    assert!(spin.is_err(), "the spin cannot finish: {spin:?}");
    // The instance the dropped call was running in is not used again.
    assert_eq!(lease.handle("count").await.unwrap(), "1");
    assert_eq!(lease.handle("count").await.unwrap(), "2");
}

#[tokio::test]
async fn stop_waits_for_a_lease_to_be_dropped() {
    let kit = load("kit").await;
    let lease = kit.lease().await.unwrap();
    let stop = kit.stop();
    tokio::pin!(stop);
    let waited = tokio::time::timeout(Duration::from_millis(100), &mut stop).await;
    assert!(waited.is_err(), "stop returned while a lease held an instance");
    drop(lease);
    stop.await.unwrap();
    let err = kit.handle("count").await.unwrap_err();
    assert!(matches!(err, Error::Stopped { .. }), "{err}");
}

#[tokio::test]
async fn a_caller_waiting_when_the_plugin_stops_is_refused_and_stop_finishes() {
    let kit = load("kit").await;
    let lease = kit.lease().await.unwrap();
    // The pool has one instance, held by the lease: this call waits.
    let waiting = tokio::spawn({
        let kit = kit.clone();
        async move { kit.handle("count").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stop = kit.stop();
    tokio::pin!(stop);
    assert!(tokio::time::timeout(Duration::from_millis(50), &mut stop).await.is_err());
    drop(lease);
    // The waiter gets the slot, finds the plugin stopped and gives the slot
    // back for the drain: both finish.
    tokio::time::timeout(Duration::from_secs(5), stop).await.unwrap().unwrap();
    let err = waiting.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Stopped { .. }), "{err}");
    assert_eq!(kit.metrics().errors, 1);
}
