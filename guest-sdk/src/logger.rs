//! Routes the `log` facade and Rust panics to the host's `log` import.

use std::sync::Once;

use crate::Level;
use crate::bindings::plugin::witplug::plugin::host;

/// Installs the logger and the panic hook, once per instance.
///
/// Called before every export runs, so `log::info!` works from the first
/// line of `init` and a panic's message reaches the host before the trap.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if a logger is already set, which then stays in charge.
        if log::set_logger(&HostLogger).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
        std::panic::set_hook(Box::new(|info| {
            // One line: the message, then where. The host attaches it to the
            // trap that follows.
            let message = info.payload_as_str().unwrap_or("a non-string panic payload");
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let line = format!("plugin panicked: {message}{location}").replace('\n', " ");
            host::log(Level::Error, &line);
        }));
    });
}

/// A `log::Log` that forwards every record to the host, which filters it.
struct HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = match record.level() {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warn,
            log::Level::Info => Level::Info,
            log::Level::Debug => Level::Debug,
            log::Level::Trace => Level::Trace,
        };
        host::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}
