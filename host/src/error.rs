//! The one error type of the host library.

use std::path::PathBuf;
use std::time::Duration;

use crate::contract::v0_2::witplug::plugin::types::Error as WitError;
use crate::text::format_size;

/// What can go wrong loading or calling plugins.
///
/// Every message is one line naming the plugin or file concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },

    /// The file is not WebAssembly at all.
    #[error("{}: not a WebAssembly file", path.display())]
    NotWasm {
        /// The file.
        path: PathBuf,
    },

    /// The file is a core wasm module where a component was expected.
    #[error(
        "{}: a core wasm module, not a component (build plugins with `cargo xtask build-plugins`)",
        path.display()
    )]
    CoreModule {
        /// The file.
        path: PathBuf,
    },

    /// The component is malformed or fails to compile.
    #[error("{}: invalid component: {reason}", path.display())]
    InvalidComponent {
        /// The file.
        path: PathBuf,
        /// What the validator or compiler said.
        reason: String,
    },

    /// The core wasm module is malformed or fails to compile.
    #[error("{}: invalid wasm module: {reason}", path.display())]
    InvalidModule {
        /// The file.
        path: PathBuf,
        /// What the validator or compiler said.
        reason: String,
    },

    /// The component imports something this host does not provide.
    #[error("{}: imports `{import}`, which this host does not provide ({reason})", path.display())]
    MissingImport {
        /// The file.
        path: PathBuf,
        /// The import's name, e.g. `wasi:http/types@0.2.0`.
        import: String,
        /// Why the host's version does not match, as wasmtime says it.
        reason: String,
    },

    /// A component targets a contract version the host does not speak
    /// (0.3, a pre-release), or several.
    #[error("{}: {reason}", path.display())]
    UnsupportedContract {
        /// The file.
        path: PathBuf,
        /// The version it targets and those the host speaks.
        reason: String,
    },

    /// A plugin's tool descriptions (contract 0.2) disagree with what its
    /// manifest provides, or a schema in them is not valid.
    #[error("{}: {reason}", path.display())]
    ToolDescriptions {
        /// The file.
        path: PathBuf,
        /// The tool and what is wrong with it.
        reason: String,
    },

    /// A plugin manifest (`<name>.toml`) is malformed.
    #[error("{}: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },

    /// Two files give plugins of the same name.
    #[error("{}: a plugin named `{name}` is already loaded", path.display())]
    DuplicatePlugin {
        /// The plugin name.
        name: String,
        /// The second file.
        path: PathBuf,
    },

    /// No plugin of that name is loaded.
    #[error("no plugin named `{name}` (loaded: {})", list(available))]
    NoSuchPlugin {
        /// The name asked for.
        name: String,
        /// The plugins that are loaded.
        available: Vec<String>,
    },

    /// No tool of that name: not the host's, not a loaded plugin's, and no
    /// other host's on the bus.
    #[error("no tool named `{name}`")]
    NoSuchTool {
        /// The name asked for, made safe.
        name: String,
    },

    /// A host tool, or one on another host, refused the call or failed.
    #[error("tool `{tool}`: {}", describe(error))]
    Tool {
        /// The tool.
        tool: String,
        /// Its error.
        error: WitError,
    },

    /// The plugin has no export of that name.
    #[error("plugin `{plugin}` has no export `{export}` (exports: {})", list(available))]
    NoSuchExport {
        /// The plugin.
        plugin: String,
        /// The export asked for.
        export: String,
        /// The names of the functions the plugin does export.
        available: Vec<String>,
    },

    /// The export takes or returns a value that a dynamic call cannot
    /// carry or print: a resource, a stream, a future, a reference.
    #[error(
        "plugin `{plugin}`, export `{export}`: its {reason}, which a dynamic call cannot carry"
    )]
    UnsupportedType {
        /// The plugin.
        plugin: String,
        /// The export.
        export: String,
        /// Which parameter or result, and what it holds.
        reason: String,
    },

    /// A typed call needs a world the plugin does not target.
    #[error("plugin `{plugin}` does not export the `{world}` world's functions")]
    WrongWorld {
        /// The plugin.
        plugin: String,
        /// The world the call needs, e.g. `plugin`.
        world: &'static str,
    },

    /// The arguments of a dynamic call do not fit the export's parameters.
    #[error("plugin `{plugin}`, export `{export}`: {reason}")]
    BadArguments {
        /// The plugin.
        plugin: String,
        /// The export.
        export: String,
        /// What does not fit.
        reason: String,
    },

    /// The plugin returned a value the host refuses to pass on: a URI
    /// with control characters, a MIME type that is not one, structured
    /// content that is not a JSON object, too many items (contract 0.3).
    #[error("plugin `{plugin}` returned {what} the host refuses: {reason}")]
    InvalidResult {
        /// The plugin.
        plugin: String,
        /// What it returned, e.g. `a tool result`.
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The plugin's `init` returned an error; it receives no calls.
    #[error("plugin `{plugin}` failed to initialise: {}", describe(error))]
    InitFailed {
        /// The plugin.
        plugin: String,
        /// The error it returned.
        error: WitError,
    },

    /// The plugin returned an error value: it handled the failure itself.
    #[error("plugin `{plugin}` returned an error: {}", describe(error))]
    Plugin {
        /// The plugin.
        plugin: String,
        /// The error it returned.
        error: WitError,
    },

    /// The plugin trapped; its instance was dropped and the next call starts
    /// a fresh one.
    #[error("plugin `{plugin}` trapped: {message}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// What wasmtime reported.
        message: String,
    },

    /// A call ran past its wall-clock deadline and was stopped.
    #[error("plugin `{plugin}` timed out: the call ran past its {deadline:?} deadline")]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The deadline it ran past.
        deadline: Duration,
    },

    /// A call burned all the fuel it was given.
    #[error("plugin `{plugin}` ran out of fuel: the call burned all {fuel} units it was given")]
    FuelExhausted {
        /// The plugin.
        plugin: String,
        /// The fuel per call.
        fuel: u64,
    },

    /// The plugin wanted more linear memory than its limit, and trapped.
    #[error("plugin `{plugin}` hit its memory limit of {}", format_size(*limit))]
    MemoryLimit {
        /// The plugin.
        plugin: String,
        /// The limit, in bytes.
        limit: u64,
    },

    /// The plugin wanted a table larger than its limit, and trapped.
    #[error("plugin `{plugin}` hit its limit of {limit} table elements")]
    TableLimit {
        /// The plugin.
        plugin: String,
        /// The limit, in elements.
        limit: u64,
    },

    /// Instantiating the plugin needed more instances than its limit.
    #[error("plugin `{plugin}` hit its limit of {limit} instances")]
    InstanceLimit {
        /// The plugin.
        plugin: String,
        /// The limit.
        limit: u64,
    },

    /// The plugin recursed past its wasm stack.
    #[error("plugin `{plugin}` overflowed its {} wasm stack", format_size(*limit))]
    StackOverflow {
        /// The plugin.
        plugin: String,
        /// The stack size, in bytes.
        limit: u64,
    },

    /// The plugin returned more data than the host accepts.
    #[error(
        "plugin `{plugin}` returned {} of output, over its limit of {}",
        format_size(*size),
        format_size(*limit)
    )]
    OutputTooLarge {
        /// The plugin.
        plugin: String,
        /// How much it returned, in bytes.
        size: u64,
        /// The limit, in bytes.
        limit: u64,
    },

    /// The plugin passed the host more data in one call (arguments of a host
    /// import, or a result) than wasmtime was allowed to copy.
    #[error("plugin `{plugin}` passed the host more than {} in one call", format_size(*limit))]
    DataLimit {
        /// The plugin.
        plugin: String,
        /// The bytes wasmtime may copy out of the plugin per host call.
        limit: u64,
    },

    /// The plugin wrote more log lines in one call than allowed.
    #[error("plugin `{plugin}` wrote more than {limit} log lines in one call")]
    LogLimit {
        /// The plugin.
        plugin: String,
        /// Log lines allowed per call.
        limit: u64,
    },

    /// The instance wanted the host to hold more for it than one of its
    /// budgets allows (handles, header maps), and the call was stopped.
    #[error("plugin `{plugin}` hit its `{}` budget of {}", budget.key(), budget.show(*limit))]
    BudgetExceeded {
        /// The plugin.
        plugin: String,
        /// Which budget.
        budget: Budget,
        /// The budget's limit.
        limit: u64,
    },

    /// The host could not run the plugin for a reason of its own (the
    /// kernel refused memory or a file descriptor, a shared pool was
    /// exhausted): no fault of the plugin's, which is not restarted for it.
    #[error("plugin `{plugin}`: the host could not run it: {reason}")]
    HostResource {
        /// The plugin.
        plugin: String,
        /// What the host was refused.
        reason: String,
    },

    /// The host refused a capability the plugin was not granted.
    #[error("plugin `{plugin}` was denied `{capability}`: it was not granted")]
    Denied {
        /// The plugin.
        plugin: String,
        /// The capability, e.g. `subscribe:orders.new`.
        capability: String,
    },

    /// The path in the plugins folder is not a regular file (a FIFO, a
    /// directory, a device...): it is never opened for reading.
    #[error("{}: {kind}, not a plugin file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead, e.g. `a FIFO`.
        kind: &'static str,
    },

    /// The file is larger than the host reads
    /// ([`HostBuilder::max_file_size`](crate::HostBuilder::max_file_size)).
    #[error("{}: {} is over the limit of {}", path.display(), format_size(*size), format_size(*limit))]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes (or as much as was read, when it grew).
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },

    /// The file does not have the SHA-256 its manifest names.
    #[error("{}: sha256 is {actual}, but its manifest expects {expected}", path.display())]
    HashMismatch {
        /// The component file.
        path: PathBuf,
        /// The hash in the manifest.
        expected: String,
        /// The file's hash.
        actual: String,
    },

    /// Every instance of the plugin stayed busy, or too many callers were
    /// already waiting.
    #[error("plugin `{plugin}` is busy: {reason}")]
    Busy {
        /// The plugin.
        plugin: String,
        /// Which bound was reached.
        reason: String,
    },

    /// The plugin is stopped; it takes calls again after `init`.
    #[error("plugin `{plugin}` is stopped")]
    Stopped {
        /// The plugin.
        plugin: String,
    },

    /// A plugin of that name, or a tool it provides, is already there.
    #[error("{}: {reason}", path.display())]
    Conflict {
        /// The plugin file.
        path: PathBuf,
        /// What it conflicts with.
        reason: String,
    },

    /// A core module plugin has no exported `memory`.
    #[error("plugin `{plugin}` exports no memory")]
    NoMemory {
        /// The plugin.
        plugin: String,
    },

    /// A memory access past the end of a plugin's memory.
    #[error(
        "plugin `{plugin}`: {len} bytes at address {address} are past the end of its {size}-byte memory"
    )]
    MemoryOutOfBounds {
        /// The plugin.
        plugin: String,
        /// Where the access started.
        address: u64,
        /// How many bytes.
        len: u64,
        /// The memory's size in bytes.
        size: u64,
    },

    /// The plugin is not what its operator approved (`witplug.lock`): it
    /// asks for more than was approved, or its signature or bytes did not
    /// hold when the lock was checked.
    #[error("{}: {reason}", path.display())]
    Unapproved {
        /// The plugin file or manifest.
        path: PathBuf,
        /// What was not approved.
        reason: String,
    },

    /// The host itself could not be set up.
    #[error("setting up the host: {0}")]
    Setup(String),

    /// The NATS server could not be reached, or refused this host.
    #[error("NATS at {url}: {reason}")]
    Nats {
        /// The server's URL, as given.
        url: String,
        /// Why, as one line.
        reason: String,
    },
}

impl Error {
    /// What kind of failure this is: the one verdict the CLI's exit codes,
    /// MCP's reasons, [`Error::is_trap`], events and metrics all derive
    /// from.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Plugin { .. }
            | Self::Tool { .. }
            | Self::InitFailed { .. }
            | Self::InvalidResult { .. } => ErrorKind::Plugin,
            Self::Timeout { .. }
            | Self::FuelExhausted { .. }
            | Self::MemoryLimit { .. }
            | Self::TableLimit { .. }
            | Self::InstanceLimit { .. }
            | Self::StackOverflow { .. }
            | Self::OutputTooLarge { .. }
            | Self::DataLimit { .. }
            | Self::LogLimit { .. }
            | Self::BudgetExceeded { .. } => ErrorKind::Limit,
            Self::Trap { .. } | Self::MemoryOutOfBounds { .. } | Self::NoMemory { .. } => {
                ErrorKind::Trap
            }
            Self::Denied { .. } | Self::Unapproved { .. } => ErrorKind::Denied,
            Self::NoSuchPlugin { .. } | Self::NoSuchTool { .. } | Self::NoSuchExport { .. } => {
                ErrorKind::NotFound
            }
            Self::Busy { .. } => ErrorKind::Busy,
            Self::Stopped { .. } => ErrorKind::Stopped,
            Self::BadArguments { .. } | Self::UnsupportedType { .. } | Self::WrongWorld { .. } => {
                ErrorKind::Usage
            }
            Self::Io { .. }
            | Self::NotWasm { .. }
            | Self::CoreModule { .. }
            | Self::InvalidComponent { .. }
            | Self::InvalidModule { .. }
            | Self::MissingImport { .. }
            | Self::UnsupportedContract { .. }
            | Self::ToolDescriptions { .. }
            | Self::Manifest { .. }
            | Self::DuplicatePlugin { .. }
            | Self::NotAFile { .. }
            | Self::TooLarge { .. }
            | Self::HashMismatch { .. }
            | Self::Conflict { .. }
            | Self::HostResource { .. }
            | Self::Setup(_)
            | Self::Nats { .. } => ErrorKind::Host,
        }
    }

    /// Whether the sandbox stopped the call: the plugin trapped or hit a
    /// limit ([`ErrorKind::is_trap`]), rather than returning an error or
    /// being refused. A call stopped while it ran loses its instance; one
    /// found at fault after it returned (too much output, a core module's
    /// pointer past its memory) keeps it.
    pub fn is_trap(&self) -> bool {
        self.kind().is_trap()
    }
}

/// What kind of failure an [`Error`] is: the one judgement every front end
/// derives its verdict from, so that the same failure reads the same
/// everywhere: the CLI's exit code ([`ErrorKind::exit_code`]), the reason
/// an MCP client reads ([`ErrorKind::as_str`]), whether it counts as a trap
/// ([`Error::is_trap`]), and a call's outcome in events and metrics.
///
/// | kind | what happened | exit code |
/// | --- | --- | --- |
/// | `Plugin` | the plugin (or a tool) returned an error value | 1 |
/// | `Usage` | the caller's arguments do not fit | 2 |
/// | `Limit` | the sandbox stopped the plugin at a limit | 3 |
/// | `Trap` | the plugin trapped | 3 |
/// | `Denied` | the plugin was refused a capability it was not granted | 3 |
/// | `NotFound` | no plugin, export or tool of that name | 4 |
/// | `Host` | the host failed: a file, I/O, setup, NATS | 5 |
/// | `Busy` | every instance busy; try again | 6 |
/// | `Stopped` | the plugin is stopped; it takes no calls | 6 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The plugin, or a tool it called, returned an error value: it
    /// handled the failure itself, and its instance carries on.
    Plugin,
    /// The sandbox stopped the plugin at one of its limits: the deadline,
    /// fuel, memory, tables, instances, the stack, output, data, log lines
    /// or a budget of what the host holds for it.
    Limit,
    /// The plugin trapped: a panic, `unreachable`, a bad memory access.
    Trap,
    /// The plugin asked for a capability it was not granted.
    Denied,
    /// No plugin, export or tool of that name.
    NotFound,
    /// Every instance of the plugin stayed busy, or too many callers were
    /// waiting: the same call may succeed later.
    Busy,
    /// The plugin is stopped: it takes calls again after `init`.
    Stopped,
    /// The caller's arguments do not fit the export (or the call needs a
    /// world the plugin does not target).
    Usage,
    /// The host failed, no fault of the plugin's call: a file that is not
    /// a plugin, I/O, the host's setup or resources, NATS.
    Host,
}

impl ErrorKind {
    /// Every kind, in the order of the table above.
    pub const ALL: [Self; 9] = [
        Self::Plugin,
        Self::Usage,
        Self::Limit,
        Self::Trap,
        Self::Denied,
        Self::NotFound,
        Self::Host,
        Self::Busy,
        Self::Stopped,
    ];

    /// The kind as a few words, as MCP's error results and logs begin:
    /// `plugin error`, `limit`, `trap`, `denied`, `not found`, `busy`,
    /// `stopped`, `usage`, `host failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plugin => "plugin error",
            Self::Limit => "limit",
            Self::Trap => "trap",
            Self::Denied => "denied",
            Self::NotFound => "not found",
            Self::Busy => "busy",
            Self::Stopped => "stopped",
            Self::Usage => "usage",
            Self::Host => "host failure",
        }
    }

    /// The exit code a command gives a failure of this kind (`witplug`'s):
    /// 1 the plugin's own error, 2 usage, 3 the sandbox stopped the plugin
    /// (a limit, a trap, a refused grant), 4 not found, 5 the host failed,
    /// 6 unavailable for now (busy or stopped).
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Plugin => 1,
            Self::Usage => 2,
            Self::Limit | Self::Trap | Self::Denied => 3,
            Self::NotFound => 4,
            Self::Host => 5,
            Self::Busy | Self::Stopped => 6,
        }
    }

    /// Whether the sandbox stopped the plugin: a trap or a limit, which
    /// events and metrics count as traps (see [`Error::is_trap`]).
    pub fn is_trap(self) -> bool {
        matches!(self, Self::Trap | Self::Limit)
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One line for a WIT error: its kind, then its message.
pub fn describe(error: &WitError) -> String {
    let (kind, message) = match error {
        WitError::InvalidInput(m) => ("invalid input", m),
        WitError::Denied(m) => ("denied", m),
        WitError::NotFound(m) => ("not found", m),
        WitError::LimitExceeded(m) => ("limit exceeded", m),
        WitError::Failed(m) => ("failed", m),
    };
    format!("{kind}: {}", crate::text::sanitize(message, crate::text::DESCRIPTION))
}

/// `text` with every run of whitespace, newlines included, made one space.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Joins names for a message; `none` for an empty list.
fn list(names: &[String]) -> String {
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

/// Flattens a wasmtime error and its causes into one line.
pub(crate) fn one_line(err: &wasmtime::Error) -> String {
    chain_line(err.as_ref())
}

/// An error and those of its causes its message does not already say, as
/// one line.
pub(crate) fn chain_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        next = cause.source();
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    // wasmtime's messages quote names from the component (imports,
    // exports), which its author chose.
    crate::text::sanitize(&collapse_whitespace(&line), 4 * crate::text::DESCRIPTION)
}

/// A budget of what the host holds on one instance's behalf, as opposed to
/// what the instance holds itself (its memory, tables and instances).
///
/// A resource is charged when the plugin makes it and released when it
/// leaves the instance's resource table; past the budget the plugin is
/// refused with its interface's own error (a socket's `new-socket-limit`,
/// an HTTP request's `internal-error`) or, where the interface has none
/// (a handle, a header map), the call stops with
/// [`Error::BudgetExceeded`](crate::Error::BudgetExceeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Budget {
    /// `handles`: live resource handles.
    Handles,
    /// `host-memory`: bytes of header maps.
    HostMemory,
    /// `sockets`: open TCP sockets.
    Sockets,
    /// `requests`: outgoing HTTP requests in flight.
    Requests,
}

impl Budget {
    /// Its key in a manifest's `[limits]`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Handles => "handles",
            Self::HostMemory => "host-memory",
            Self::Sockets => "sockets",
            Self::Requests => "requests",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_failed() {
        let err = Error::NoSuchExport {
            plugin: "echo".into(),
            export: "nope".into(),
            available: vec!["handle".into(), "info".into()],
        };
        assert_eq!(err.to_string(), "plugin `echo` has no export `nope` (exports: handle, info)");
        let err = Error::Plugin { plugin: "echo".into(), error: WitError::Denied("tool:x".into()) };
        assert_eq!(err.to_string(), "plugin `echo` returned an error: denied: tool:x");
    }

    #[test]
    fn plugin_text_is_made_one_bounded_line() {
        let long = WitError::Failed("x\n".repeat(5000));
        assert!(describe(&long).len() < 1100 && !describe(&long).contains('\n'));
    }

    #[test]
    fn one_line_joins_the_chain_without_repeats() {
        let err = wasmtime::format_err!("inner\nproblem").context("outer");
        assert_eq!(one_line(&err), "outer: inner problem");
    }
}
