//! The exit codes of every command, one per kind of failure, so that a
//! script can tell a plugin's own error from the sandbox stopping it, from
//! a name that does not exist, from the host failing. They come from
//! [`ErrorKind::exit_code`], the verdict every front end shares.

use std::fmt;

use witplug_host::{Error, ErrorKind};

/// The plugin returned an error value (`err(...)`): it handled the failure.
pub const PLUGIN_ERROR: u8 = 1;
/// The arguments are wrong (clap's own code).
pub const USAGE: u8 = 2;
/// Anything else: files that are not plugins, I/O, the host's setup.
pub const HOST: u8 = 5;

/// The exit codes, as `--help` shows them.
pub const HELP: &str = "Exit codes:\n  0  success\n  1  the plugin returned an error\n  \
                        2  wrong arguments\n  3  a trap, or a limit or grant the sandbox \
                        stopped the plugin at\n  4  not found: a plugin, export, tool or key\n  \
                        5  a host failure: a file that is not a plugin, I/O, setup\n  \
                        6  unavailable for now: the plugin is busy or stopped";

/// Something asked for by name that is not there (a key, a bucket).
#[derive(Debug)]
pub struct NotFound(pub String);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}

/// The exit code for `err`.
pub fn code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<NotFound>().is_some() {
        return ErrorKind::NotFound.exit_code();
    }
    if let Some(witplug_mcp::Error::NoToken { .. }) = err.downcast_ref() {
        return USAGE;
    }
    if let Some(err) = err.downcast_ref::<witplug_registry::Error>() {
        return err.kind().exit_code();
    }
    err.downcast_ref::<Error>().map_or(HOST, |err| err.kind().exit_code())
}
