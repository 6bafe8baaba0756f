//! Plugin log lines for MCP clients: a `tracing` layer that takes the lines
//! plugins log (target `witplug::plugin`) and hands them to the server,
//! which sends each to the clients whose level admits it.

use std::fmt;

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// Lines waiting for the server; past this many, new lines are dropped (a
/// plugin logging in a loop cannot grow the host's memory).
const QUEUE: usize = 1024;

/// Log levels as numbers, least severe first: a line is sent when its
/// level is at least the client's.
pub(crate) const DEBUG: u8 = 0;
pub(crate) const INFO: u8 = 1;
pub(crate) const WARNING: u8 = 3;
pub(crate) const ERROR: u8 = 4;

/// One plugin log line.
#[derive(Debug, Clone)]
pub(crate) struct LogLine {
    /// Its level, as [`level_of`] numbers it.
    pub level: u8,
    /// The plugin's name.
    pub plugin: String,
    /// The line, already made safe by the host.
    pub message: String,
}

/// The lines a [`PluginLogs`] layer takes, for [`McpServer::forward_logs`](crate::McpServer::forward_logs).
#[derive(Debug)]
pub struct LogReceiver(mpsc::Receiver<LogLine>);

impl LogReceiver {
    pub(crate) async fn recv(&mut self) -> Option<LogLine> {
        self.0.recv().await
    }
}

/// A `tracing` layer that takes plugin log lines for MCP clients; add it
/// to the subscriber (with no filter of its own that drops plugin lines).
pub struct PluginLogs(mpsc::Sender<LogLine>);

impl fmt::Debug for PluginLogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PluginLogs")
    }
}

/// A layer and the receiver of the lines it takes.
pub fn plugin_logs() -> (PluginLogs, LogReceiver) {
    let (sender, receiver) = mpsc::channel(QUEUE);
    (PluginLogs(sender), LogReceiver(receiver))
}

impl<S: tracing::Subscriber> Layer<S> for PluginLogs {
    fn on_event(&self, event: &tracing::Event<'_>, _context: Context<'_, S>) {
        let metadata = event.metadata();
        if metadata.target() != "witplug::plugin" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = LogLine {
            level: level_of(metadata.level()),
            plugin: fields.plugin,
            message: fields.message,
        };
        // Full: dropped, never waited for.
        let _ = self.0.try_send(line);
    }
}

#[derive(Default)]
struct Fields {
    plugin: String,
    message: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "plugin" => self.plugin = value.to_owned(),
            "message" => self.message = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "plugin" => self.plugin = format!("{value:?}"),
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }
}

/// The level number of a plugin log line's `tracing` level.
fn level_of(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::TRACE | tracing::Level::DEBUG => DEBUG,
        tracing::Level::INFO => INFO,
        tracing::Level::WARN => WARNING,
        tracing::Level::ERROR => ERROR,
    }
}
