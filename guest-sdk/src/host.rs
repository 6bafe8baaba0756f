//! Typed helpers over the host's imports.

use crate::bindings::plugin::witplug::plugin::host;
use crate::{Error, Level};

/// Reads this plugin's configuration value for `key`.
///
/// The host sets it, from `plugins/<name>.toml`'s `[config]` table or from
/// its own code; `None` means the key is not set.
pub fn config(key: &str) -> Option<String> {
    host::get_config(key)
}

/// Publishes `payload` on the host's message bus under `topic`.
///
/// # Errors
///
/// [`Error::Denied`] when the host did not let this plugin publish on
/// `topic`, [`Error::LimitExceeded`] when the payload is larger than the
/// host accepts.
pub fn send_message(topic: &str, payload: &[u8]) -> Result<(), Error> {
    host::send_message(topic, payload)
}

/// Calls the host tool `name` with `input` and returns its output.
///
/// # Errors
///
/// [`Error::NotFound`] when no such tool is registered,
/// [`Error::Denied`] when this plugin may not call it, and
/// [`Error::Failed`] with the tool's message when the tool fails.
pub fn call_tool(name: &str, input: &str) -> Result<String, Error> {
    host::call_tool(name, input)
}

/// Writes one log line through the host; `log::info!` and friends are
/// usually handier.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}
