//! What a plugin cannot reach through what the host holds for it: sockets,
//! header maps and handles are charged to its instance; its strings are
//! made safe before they reach a log, an event or an error; values a
//! dynamic call cannot carry are a typed error; and after every attack the
//! host still loads a good plugin from disk and serves it.

use std::sync::Arc;

use witplug_host::{Error, Event, Host, Limits, Plugin, config::Budget, observe::TryRecvError};

use crate::support::{Scratch, capture_target, fixture};

/// The plugin `hostile-hoard`, under the manifest `toml`, in a host of its
/// own.
async fn hoard(dir: &Scratch, toml: &str) -> (Host, Arc<Plugin>) {
    let wasm = dir.copy_fixture("hostile-hoard");
    dir.write("hostile-hoard.toml", toml);
    let host = crate::support::builder().build().unwrap();
    let plugin = host.load_file(&wasm).await.unwrap();
    (host, plugin)
}

/// Runs the calling test again in a process of its own, where the open
/// descriptors and the resident memory are the test's alone (the suite
/// runs its tests side by side, in threads); true in the parent, which has
/// nothing more to do.
fn in_own_process(test: &str) -> bool {
    const CHILD: &str = "WITPLUG_SANDBOX_CHILD";
    if std::env::var_os(CHILD).is_some() {
        return false;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads=1", "--quiet"])
        .env(CHILD, "1")
        .output()
        .expect("running the test in a process of its own");
    assert!(
        out.status.success(),
        "{test} failed in its own process:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// The first line of a test that measures the process: the rest of it
/// runs in a process of its own.
macro_rules! alone {
    ($test:ident) => {
        let path = module_path!();
        let module = path.split_once("::").map_or(path, |(_, module)| module);
        if in_own_process(&format!("{module}::{}", stringify!($test))) {
            return;
        }
    };
}

/// What the process holds before an attack: its open descriptors and its
/// resident memory, to hold it to after.
struct Health {
    #[cfg(target_os = "linux")]
    descriptors: usize,
    #[cfg(target_os = "linux")]
    resident: u64,
}

/// How many more descriptors the host may hold after an attack than
/// before: the good plugin's file and memory image, and the runtime's.
const SPARE_DESCRIPTORS: usize = 8;

/// How much more resident memory: the good plugin, and what the allocator
/// keeps of what it freed.
const SPARE_RESIDENT: u64 = 64 << 20;

impl Health {
    fn now() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            descriptors: open_descriptors(),
            #[cfg(target_os = "linux")]
            resident: resident_bytes(),
        }
    }
}

/// The host is healthy after an attack: a good plugin loads from disk and
/// answers, and the process's descriptors and resident memory are back
/// within a bound of what they were `before`.
async fn still_serves(host: &Host, before: &Health) {
    let echo = host.load_file(fixture("echo")).await.expect("a good plugin still loads");
    assert_eq!(echo.handle("still here").await.unwrap(), "still here");
    #[cfg(target_os = "linux")]
    {
        let (descriptors, resident) = (open_descriptors(), resident_bytes());
        assert!(
            descriptors <= before.descriptors + SPARE_DESCRIPTORS,
            "{descriptors} descriptors open after the attack, {} before",
            before.descriptors
        );
        assert!(
            resident <= before.resident + SPARE_RESIDENT,
            "{resident} bytes resident after the attack, {} before",
            before.resident
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = before;
}

/// The capabilities the host's events say it refused, so far.
fn denials(events: &mut witplug_host::EventStream) -> Vec<String> {
    let mut denied = Vec::new();
    loop {
        match events.try_recv() {
            Ok(Event::Denied { capability, .. }) => denied.push(capability),
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(_) => return denied,
        }
    }
}

#[cfg(target_os = "linux")]
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[cfg(target_os = "linux")]
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn without_a_connect_grant_no_socket_is_made_at_all() {
    alone!(without_a_connect_grant_no_socket_is_made_at_all);
    let dir = Scratch::new();
    let (host, plugin) = hoard(&dir, "").await;
    let health = Health::now();
    let mut events = host.events();
    let before = open_descriptors();
    assert_eq!(plugin.handle("sockets:5000").await.unwrap(), "0 sockets, then access-denied");
    assert_eq!(plugin.handle("udp").await.unwrap(), "no UDP socket: access-denied");
    assert!(open_descriptors() <= before + 50, "sockets were opened");
    assert_eq!(denials(&mut events), ["socket:tcp", "udp"]);
    assert_eq!(plugin.metrics().denied, 2);
    still_serves(&host, &health).await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn sockets_past_the_budget_are_refused_and_closed_with_their_instance() {
    alone!(sockets_past_the_budget_are_refused_and_closed_with_their_instance);
    let dir = Scratch::new();
    let toml = "[grants]\nconnect = [\"127.0.0.1:9\"]\n[limits]\nsockets = 4\n";
    let (host, plugin) = hoard(&dir, toml).await;
    let health = Health::now();
    let before = open_descriptors();
    assert_eq!(plugin.handle("sockets:5000").await.unwrap(), "4 sockets, then new-socket-limit");
    // The instance keeps its four: the budget is per instance, not per call.
    assert_eq!(plugin.handle("sockets:1").await.unwrap(), "0 sockets, then new-socket-limit");
    host.unload("hostile-hoard").await.unwrap();
    assert!(open_descriptors() <= before + 50, "the sockets outlived their instance");
    still_serves(&host, &health).await;
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn header_maps_past_host_memory_stop_the_call_with_the_budget() {
    alone!(header_maps_past_host_memory_stop_the_call_with_the_budget);
    let dir = Scratch::new();
    let (host, plugin) = hoard(&dir, "").await;
    let health = Health::now();
    let before = resident_bytes();
    // 20,000 maps of 120 KiB would be 2.4 GB of the host's memory.
    let err = plugin.handle("headers:20000:120000").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::BudgetExceeded { budget: Budget::HostMemory, limit, .. } if limit == 16 << 20
        ),
        "{err}"
    );
    assert!(err.is_trap());
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 512 << 20, "the host grew by {grown} bytes");
    // The instance was thrown away, and its maps with it.
    assert_eq!(plugin.handle("headers:10:1000").await.unwrap(), "10 header maps");
    still_serves(&host, &health).await;
}

#[tokio::test]
async fn handles_past_their_budget_stop_the_call_with_the_budget() {
    alone!(handles_past_their_budget_stop_the_call_with_the_budget);
    let dir = Scratch::new();
    let (host, plugin) = hoard(&dir, "[limits]\nhandles = 100\n").await;
    let health = Health::now();
    let err = plugin.handle("handles:1000").await.unwrap_err();
    assert!(
        matches!(err, Error::BudgetExceeded { budget: Budget::Handles, limit: 100, .. }),
        "{err}"
    );
    assert_eq!(plugin.handle("handles:10").await.unwrap(), "10 pollables");
    let mut defaults = Limits::default();
    defaults.handles = 20;
    let mut ceilings = Limits::default_ceilings();
    ceilings.handles = 50;
    let err = Host::builder()
        .limits(defaults)
        .ceilings(ceilings)
        .build()
        .unwrap()
        .load_file(&dir.path().join("hostile-hoard.wasm"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("limits.handles = 100 is over the host's ceiling of 50"));
    still_serves(&host, &health).await;
}

#[tokio::test]
async fn a_loop_of_denied_calls_is_counted_but_logs_no_more_than_the_log_budget() {
    alone!(a_loop_of_denied_calls_is_counted_but_logs_no_more_than_the_log_budget);
    let dir = Scratch::new();
    let (host, plugin) = hoard(&dir, "[limits]\nlog-lines = 10\n").await;
    let health = Health::now();
    let (lines, _guard) = capture_target("witplug::host");
    assert_eq!(plugin.handle("denied:5000").await.unwrap(), "5000 refused");
    let logged = lines.lock().unwrap().iter().filter(|l| l.message.contains("denied")).count();
    assert_eq!(logged, 10);
    assert_eq!(plugin.metrics().denied, 5000);
    still_serves(&host, &health).await;
}

#[tokio::test]
async fn plugin_text_reaches_logs_and_events_on_one_line_without_escapes() {
    alone!(plugin_text_reaches_logs_and_events_on_one_line_without_escapes);
    let dir = Scratch::new();
    let (host, plugin) = hoard(&dir, "").await;
    let health = Health::now();
    let mut events = host.events();
    let (host_lines, _guard) = capture_target("witplug::host");
    let answer = plugin.handle("forge").await.unwrap();
    assert!(answer.contains("Denied"), "{answer}");
    let [denied] = denials(&mut events).try_into().unwrap();
    assert_eq!(denied, "tool:x WARN witplug::host: plugin=admin granted everything");
    for line in host_lines.lock().unwrap().iter() {
        assert!(!line.message.contains(['\n', '\u{1b}']), "{:?}", line.message);
    }
    drop(_guard);
    let (plugin_lines, _guard) = crate::support::capture_logs();
    plugin.handle("forge").await.unwrap();
    let screen = plugin_lines
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.message.contains("screen cleared"))
        .map(|l| l.message.clone())
        .unwrap();
    assert!(!screen.contains(['\u{1b}', '\u{202e}']), "{screen:?}");
    still_serves(&host, &health).await;
}

#[tokio::test]
async fn what_a_plugin_writes_to_stderr_never_decides_its_failure() {
    alone!(what_a_plugin_writes_to_stderr_never_decides_its_failure);
    let dir = Scratch::new();
    let (host, plugin) = hoard(&dir, "").await;
    let health = Health::now();
    let err = plugin.handle("stderr-trap").await.unwrap_err();
    let Error::Trap { message, .. } = &err else { panic!("not a plain trap: {err}") };
    assert!(message.contains("count too high"), "the stderr is quoted: {message}");
    assert!(!message.contains('\u{1b}'), "{message:?}");
    still_serves(&host, &health).await;
}

#[tokio::test]
async fn a_value_no_dynamic_call_can_carry_is_a_typed_error_not_a_panic() {
    alone!(a_value_no_dynamic_call_can_carry_is_a_typed_error_not_a_panic);
    let host = crate::support::builder().build().unwrap();
    let health = Health::now();
    let core = host
        .load_wat(
            "refs",
            r#"(module
                 (memory (export "memory") 1)
                 (func $f)
                 (elem declare func $f)
                 (func (export "give") (result funcref) ref.func $f))"#,
        )
        .await
        .unwrap();
    let err = core.call_wave("give", &[] as &[&str]).await.unwrap_err();
    assert!(matches!(&err, Error::UnsupportedType { export, .. } if export == "give"), "{err}");
    assert_eq!(
        err.to_string(),
        "plugin `refs`, export `give`: its result 1 is a reference, which a dynamic call cannot \
         carry"
    );
    let component = host
        .load_wat(
            "handles",
            r#"(component
                 (type $r' (resource (rep i32)))
                 (export $r "r" (type $r'))
                 (core module $m (func (export "f") (param i32)))
                 (core instance $i (instantiate $m))
                 (func $take (param "x" (own $r)) (canon lift (core func $i "f")))
                 (export "take" (func $take)))"#,
        )
        .await
        .unwrap();
    let err = component.call_wave("take", &["0"]).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedType { reason, .. } if reason == "parameter `x` holds a resource"),
        "{err}"
    );
    let err = component.call("take", &[]).await.unwrap_err();
    assert!(matches!(err, Error::UnsupportedType { .. }), "{err}");
    still_serves(&host, &health).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_plugins_each_called_once_are_all_served() {
    alone!(five_thousand_plugins_each_called_once_are_all_served);
    // No engine-wide pool to run out of: each instance is allocated by
    // itself, so the 1,025th plugin is served like the first.
    let host = crate::support::builder().build().unwrap();
    let wat = r#"(component
        (core module $m
          (memory (export "memory") 1)
          (func (export "answer") (result i32) i32.const 42))
        (core instance $i (instantiate $m))
        (func (export "answer") (result u32) (canon lift (core func $i "answer"))))"#;
    // Twice: unloaded, 5,000 plugins leave nothing behind but what the
    // allocator keeps for the next 5,000, so the second round ends where
    // the first did.
    let mut health = None;
    for _round in 0..2 {
        let mut plugins = Vec::new();
        for n in 0..5_000 {
            plugins.push(host.load_wat(&format!("p{n}"), wat).await.unwrap());
        }
        for plugin in &plugins {
            assert_eq!(plugin.call_wave("answer", &[] as &[&str]).await.unwrap(), ["42"]);
        }
        drop(plugins);
        for n in 0..5_000 {
            host.unload(&format!("p{n}")).await.unwrap();
        }
        health.get_or_insert_with(Health::now);
    }
    still_serves(&host, &health.unwrap()).await;
}

#[tokio::test]
async fn python_and_javascript_plugins_cannot_fool_the_operator_either() {
    alone!(python_and_javascript_plugins_cannot_fool_the_operator_either);
    for name in ["py-hostile", "js-hostile"] {
        let host = crate::support::builder().build().unwrap();
        let mut events = host.events();
        let plugin = host.load_file(fixture(name)).await.unwrap();
        let health = Health::now();
        // Megabytes of description and escape codes, bounded and made safe
        // at load.
        let info = plugin.info();
        assert!(info.description.len() <= 1024 + " [truncated]".len(), "{name}");
        for field in [&info.name, &info.version, &info.description] {
            assert!(!field.contains(['\n', '\u{1b}', '\u{202e}']), "{name}: {field:?}");
        }

        let (lines, guard) = capture_target("witplug::host");
        assert_eq!(plugin.handle("denied:2000").await.unwrap(), "2000 refused", "{name}");
        let logged = lines.lock().unwrap().iter().filter(|l| l.message.contains("denied")).count();
        assert_eq!(logged, 1000, "{name}: the denials were not held to the log budget");
        drop(guard);
        assert_eq!(plugin.metrics().denied, 2000);
        let _ = denials(&mut events);

        plugin.handle("forge").await.unwrap();
        assert_eq!(
            denials(&mut events),
            ["tool:x WARN witplug::host: plugin=admin granted everything"],
            "{name}"
        );

        let err = plugin.handle("stderr-trap").await.unwrap_err();
        let Error::Trap { message, .. } = &err else { panic!("{name}: not a plain trap: {err}") };
        assert!(message.contains("count too high"), "{name}: {message}");
        assert!(!message.contains(['\u{1b}', '\u{202e}']), "{name}: {message:?}");
        still_serves(&host, &health).await;
    }
}

#[tokio::test]
async fn a_tool_input_over_the_providers_max_input_is_refused_before_it_runs() {
    alone!(a_tool_input_over_the_providers_max_input_is_refused_before_it_runs);
    let dir = Scratch::new();
    let provider = dir.copy_fixture("word-count");
    dir.write(
        "word-count.toml",
        "[provides]\ntools = [\"count-words\"]\n[limits]\nmax-input = \"1 KiB\"\n",
    );
    let caller = dir.copy_fixture("tool-user");
    dir.write("tool-user.toml", "[grants]\ntools = [\"count-words\"]\n");
    let host = crate::support::builder().build().unwrap();
    let word_count = host.load_file(&provider).await.unwrap();
    let tool_user = host.load_file(&caller).await.unwrap();
    let health = Health::now();
    let input = format!(r#"count-words:{{"text":"{}"}}"#, "word ".repeat(1000));
    let err = tool_user.handle(&input).await.unwrap_err();
    assert!(err.to_string().contains("over its provider's max-input of 1024"), "{err}");
    assert_eq!(word_count.restarts(), 0, "the provider was made to take it");
    assert_eq!(
        tool_user.handle(r#"count-words:{"text":"a b"}"#).await.unwrap(),
        "count-words says: 2"
    );
    still_serves(&host, &health).await;
}

#[tokio::test]
async fn a_pool_over_the_operators_ceiling_is_refused_at_load() {
    alone!(a_pool_over_the_operators_ceiling_is_refused_at_load);
    let dir = Scratch::new();
    let wasm = dir.copy_fixture("counter");
    dir.write("counter.toml", "[pool]\nsize = 8\n");
    let host = crate::support::builder().max_pool_size(4).build().unwrap();
    let health = Health::now();
    let err = host.load_file(&wasm).await.unwrap_err();
    assert!(
        matches!(&err, Error::Manifest { reason, .. } if reason == "pool.size = 8 is over the host's ceiling of 4"),
        "{err}"
    );
    still_serves(&host, &health).await;
}

/// The process's address space now, from `/proc/self/status`.
#[cfg(target_os = "linux")]
fn address_space() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn memory_the_kernel_refuses_is_a_host_failure_retried_once_not_the_plugins_trap() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    alone!(memory_the_kernel_refuses_is_a_host_failure_retried_once_not_the_plugins_trap);
    let dir = Scratch::new();
    let (host, hoard) = hoard(&dir, "").await;
    let health = Health::now();
    let (lines, _guard) = capture_target("witplug::host");
    // Room to run, but not for the address space a new instance's memory
    // reserves (4 GiB and its guard): the kernel refuses the mapping.
    let was = getrlimit(Resource::As);
    let tight = Rlimit { current: Some(address_space() + (512 << 20)), maximum: was.maximum };
    setrlimit(Resource::As, tight).unwrap();
    let refused = hoard.handle("handles:1").await;
    setrlimit(Resource::As, was).unwrap();

    let err = refused.unwrap_err();
    assert!(
        matches!(&err, Error::HostResource { plugin, .. } if plugin == "hostile-hoard"),
        "{err:?}"
    );
    assert!(!err.is_trap(), "{err}");
    let retried = lines.lock().unwrap().iter().any(|l| l.message.contains("retrying once"));
    assert!(retried, "the instantiation was not retried");
    assert_eq!((hoard.restarts(), hoard.metrics().traps), (0, 0), "counted as the plugin's fault");
    // Memory back, the same plugin answers.
    assert_eq!(hoard.handle("handles:1").await.unwrap(), "1 pollables");
    drop(_guard);
    still_serves(&host, &health).await;
}
