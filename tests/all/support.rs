//! Finding fixtures, scratch folders, and capturing plugin logs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

use witplug_host::{EventStream, Host, observe::RecvError};

/// The folder `cargo xtask build-plugins` writes components to.
pub fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins")
}

/// The component of the example plugin `name`.
pub fn fixture(name: &str) -> PathBuf {
    let path = plugins_dir().join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask build-plugins` (or `cargo xtask test`)",
        path.display()
    );
    path
}

/// A host builder whose compiled components are cached for the whole test
/// suite, so each component compiles once per run however many tests load
/// it. (The cache tests and the fuzz tests use their own settings.)
pub fn builder() -> witplug_host::HostBuilder {
    let mut builder = Host::builder();
    builder.cache_dir(suite_cache());
    builder
}

/// The suite's compiled-component cache: `$WITPLUG_SUITE_CACHE`, which
/// `cargo xtask test` fills with every example plugin (`witplug
/// precompile`) before the tests start, so that no test compiles the large
/// Python and JavaScript components again; else under cargo's `target/tmp`.
/// The CLI tests run `witplug` with it too.
pub fn suite_cache() -> PathBuf {
    match std::env::var_os("WITPLUG_SUITE_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("witplug-suite-cache"),
    }
}

/// Waits until `done` holds, checking it again whenever something happens
/// in the host (a call finishing, a message dropped...): no sleep and no
/// polling. Fails the test after 10 s, naming `what` it waited for.
pub async fn wait_until(events: &mut EventStream, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) | Err(_) => panic!("waited 10 s, in vain, until {what}"),
        }
    }
}

/// A host with the example plugins loaded; fails the test if any fails.
pub async fn host_with_examples(builder: &mut witplug_host::HostBuilder) -> Host {
    let host = builder.build().expect("host builds");
    for name in EXAMPLES {
        host.load_file(fixture(name)).await.expect("example plugin loads");
    }
    host
}

/// Two copies of the relay plugin in `dir` that call each other's tool:
/// `relay-a` provides `a` by calling `b`, `relay-b` provides `b` by calling
/// `a`. A call of either closes a cycle.
pub fn tool_cycle_relays(dir: &Scratch) {
    let relay = std::fs::read(fixture("relay")).unwrap();
    for (name, provides, next) in [("relay-a", "a", "b"), ("relay-b", "b", "a")] {
        dir.write(&format!("{name}.wasm"), &relay);
        dir.write(
            &format!("{name}.toml"),
            format!(
                "[config]\nnext = \"{next}\"\ntools = \"{provides}\"\n[grants]\ntools = [\"{next}\"]\n\
                 [provides]\ntools = [\"{provides}\"]\n"
            ),
        );
    }
}

/// Two copies of the relay plugin in `dir` that forward every message to
/// each other: `ping` listens on `to-ping` and forwards to `to-pong`,
/// `pong` the other way round. A message on either loops.
pub fn message_loop_relays(dir: &Scratch) {
    let relay = std::fs::read(fixture("relay")).unwrap();
    for (name, forward_to, listens) in
        [("ping", "to-pong", "to-ping"), ("pong", "to-ping", "to-pong")]
    {
        dir.write(&format!("{name}.wasm"), &relay);
        dir.write(
            &format!("{name}.toml"),
            format!(
                "[config]\nforward-to = \"{forward_to}\"\n\
                 [grants]\npublish = [\"{forward_to}\"]\nsubscribe = [\"{listens}\"]\n"
            ),
        );
    }
}

/// Every example plugin, each of which must be built.
pub const EXAMPLES: [&str; 7] =
    ["counter", "echo", "greeter-en", "greeter-es", "greeter-fr", "messenger", "tool-user"];

/// A fresh folder, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("witplug-tests-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a scratch folder");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `bytes` to `name` in the folder and returns its path.
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("writing a scratch file");
        path
    }

    /// Copies the example plugin `name` into the folder.
    pub fn copy_fixture(&self, name: &str) -> PathBuf {
        self.write(&format!("{name}.wasm"), std::fs::read(fixture(name)).unwrap())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One log line a plugin wrote through the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: tracing::Level,
    pub plugin: String,
    pub message: String,
}

/// Collects the host's plugin log events while the guard lives, on this
/// thread (tests run on a current-thread runtime, so calls stay here).
pub fn capture_logs() -> (Arc<Mutex<Vec<LogLine>>>, tracing::subscriber::DefaultGuard) {
    capture_target("witplug::plugin")
}

/// [`capture_logs`] for the log events of `target` (`witplug::host` for
/// the host's own lines).
pub fn capture_target(
    target: &'static str,
) -> (Arc<Mutex<Vec<LogLine>>>, tracing::subscriber::DefaultGuard) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(Capture(lines.clone(), target));
    (lines, tracing::subscriber::set_default(subscriber))
}

struct Capture(Arc<Mutex<Vec<LogLine>>>, &'static str);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != self.1 {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0.lock().unwrap().push(LogLine {
            level: *event.metadata().level(),
            plugin: fields.plugin,
            message: fields.message,
        });
    }
}

#[derive(Default)]
struct Fields {
    plugin: String,
    message: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "plugin" {
            self.plugin = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "plugin" => self.plugin = format!("{value:?}").trim_matches('"').to_owned(),
            _ => {}
        }
    }
}
