//! How a host reaches the NATS server, and how it names things there:
//! [`NatsOptions`], and the bounds of what waits on the way out and in.

use std::path::PathBuf;
use std::time::Duration;

/// How many messages wait to be sent while the connection is down.
pub const DEFAULT_OUTGOING: usize = 16_384;

/// How many bytes of messages (topics and payloads) wait to be sent while
/// the connection is down: 64 MiB.
pub const DEFAULT_OUTGOING_BYTES: u64 = 64 << 20;

/// How many commands (published messages among them) the NATS client
/// itself queues on their way to the connection.
pub const CLIENT_QUEUE: usize = 512;

/// How many received messages the NATS client queues for one subscription
/// before they are moved to their subscriber's own bounded queue: async-nats'
/// own default. (At 8,192, a burst of 100,000 messages from another host
/// lost some 5,000 to the queue's overflow on a 2-core machine, `cargo xtask
/// bench`; at this bound it lost none.)
pub const SUBSCRIPTION_QUEUE: usize = 65_536;

/// How to reach the NATS server, and how to name things on it.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    pub(crate) url: String,
    pub(crate) prefix: String,
    pub(crate) tool_prefix: String,
    /// Whether the tool prefix was set, rather than following the topics'.
    pub(crate) own_tool_prefix: bool,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) credentials_file: Option<PathBuf>,
    pub(crate) outgoing: usize,
    pub(crate) outgoing_bytes: u64,
    pub(crate) retry: bool,
    pub(crate) connect_timeout: Duration,
}

impl NatsOptions {
    /// The server at `url` (`nats://host:port`, `tls://host:port` for
    /// TLS, several separated by commas), with topics under `witplug.` and
    /// tools under `witplug-tool.`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "witplug.".to_owned(),
            tool_prefix: "witplug-tool.".to_owned(),
            own_tool_prefix: false,
            token_file: None,
            credentials_file: None,
            outgoing: DEFAULT_OUTGOING,
            outgoing_bytes: DEFAULT_OUTGOING_BYTES,
            retry: false,
            connect_timeout: Duration::from_secs(3),
        }
    }

    /// The subject prefix of topics: `orders.created` is published on
    /// `<prefix>orders.created`. A `.` is added when it has none. Tools
    /// follow it unless [`NatsOptions::tool_prefix`] says otherwise: under
    /// `a.`, tools are called on `a-tool.<name>`, so two prefixes keep two
    /// sets of hosts apart in tools as in topics.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = dotted(prefix.into());
        if !self.own_tool_prefix {
            self.tool_prefix = tools_under(&self.prefix);
        }
        self
    }

    /// The subject prefix of tools: tool `count-words` is called on
    /// `<prefix>count-words`. It may not overlap the topic prefix.
    pub fn tool_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.tool_prefix = dotted(prefix.into());
        self.own_tool_prefix = true;
        self
    }

    /// Authenticates with the token held in this file.
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }

    /// Authenticates with this NATS credentials file (JWT and NKey seed).
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.credentials_file = Some(path.into());
        self
    }

    /// How many published messages wait while the connection is down
    /// (at least 1; [`DEFAULT_OUTGOING`] by default).
    pub fn outgoing_buffer(mut self, messages: usize) -> Self {
        self.outgoing = messages.max(1);
        self
    }

    /// How many bytes of published messages (topics and payloads) wait
    /// while the connection is down ([`DEFAULT_OUTGOING_BYTES`] by
    /// default); a message larger than this is never sent.
    pub fn outgoing_buffer_bytes(mut self, bytes: u64) -> Self {
        self.outgoing_bytes = bytes;
        self
    }

    /// Keeps trying to connect in the background when the server cannot be
    /// reached at start, instead of failing; messages wait in the outgoing
    /// buffer meanwhile.
    pub fn retry_on_start(mut self, retry: bool) -> Self {
        self.retry = retry;
        self
    }

    /// How long the first connection may take (3 s by default).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The server's URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// The tool prefix that goes with a topic prefix: `witplug.` gives
/// `witplug-tool.`.
fn tools_under(prefix: &str) -> String {
    match prefix.strip_suffix('.') {
        Some(stem) if !stem.is_empty() => format!("{stem}-tool."),
        _ => String::new(),
    }
}

fn dotted(mut prefix: String) -> String {
    if !prefix.is_empty() && !prefix.ends_with('.') {
        prefix.push('.');
    }
    prefix
}
