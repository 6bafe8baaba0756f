//! `wasi:logging/logging`: a component's log lines go where `log`'s go,
//! through the same count, cut and sanitizer ([`PluginState::log_line`]).

use crate::contract::logging::wasi::logging::logging::{Host, Level};
use crate::contract::v0_2::witplug::plugin::types::Level as WitplugLevel;
use crate::instance_state::PluginState;

impl Host for PluginState {
    fn log(&mut self, level: Level, context: String, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => WitplugLevel::Trace,
            Level::Debug => WitplugLevel::Debug,
            Level::Info => WitplugLevel::Info,
            Level::Warn => WitplugLevel::Warn,
            // The log has no level above error; a critical line is one.
            Level::Error | Level::Critical => WitplugLevel::Error,
        };
        if context.is_empty() {
            self.log_line(level, &message)
        } else {
            // Cut to the limit as one line: a long context cannot push the
            // message past it unseen, nor grow the line past `max-input`.
            self.log_line(level, &format!("{context}: {message}"))
        }
    }
}
