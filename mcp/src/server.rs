//! The MCP server: `tools/list` and `tools/call` over a host's tools,
//! logging at the level each client sets, and `list_changed` when the
//! tools change.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
#[expect(
    deprecated,
    reason = "logging is deprecated in MCP's newest draft; clients still use it"
)]
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, ServiceExt};
use witplug_host::{Error as HostError, Host, tools::ToolInfo};

use crate::catalog::{self, Offered, Target};
use crate::logs::{DEBUG, ERROR, INFO, LogLine, LogReceiver, WARNING};
use crate::{Error, Result};

/// What the server offers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct McpOptions {
    /// Only tools whose names match one of these patterns (`*` for any run
    /// of characters) are listed and callable; none: every tool.
    pub expose: Vec<String>,
    /// Also offer each default-world plugin's `handle` as a tool named
    /// after the plugin, taking `{"input": string}`.
    pub expose_handle: bool,
    /// The most bytes one incoming message over stdio may take (16 MiB by
    /// default); a request over it is answered with an error naming its
    /// size and this bound. Over HTTP, the request body's bound.
    pub max_message: usize,
}

impl Default for McpOptions {
    fn default() -> Self {
        Self {
            expose: Vec::new(),
            expose_handle: false,
            max_message: crate::stdio::DEFAULT_MAX_MESSAGE,
        }
    }
}

impl McpOptions {
    /// Narrows the tools offered to those `pattern` matches (see
    /// [`McpOptions::expose`]); may be given several times.
    pub fn expose(mut self, pattern: impl Into<String>) -> Self {
        self.expose.push(pattern.into());
        self
    }

    /// Offers plugins' `handle` exports too (see
    /// [`McpOptions::expose_handle`]).
    pub fn expose_handle(mut self, on: bool) -> Self {
        self.expose_handle = on;
        self
    }

    /// Bounds one incoming message (see [`McpOptions::max_message`]).
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }
}

/// An MCP server over a [`Host`]'s tools. Cheap to clone: clones share the
/// host and the connected clients (one clone serves each HTTP session).
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
    /// The least severe level this session's client wants logged.
    level: Arc<AtomicU8>,
}

struct Shared {
    host: Arc<Host>,
    options: McpOptions,
    /// Every client session that finished initialising, with the level it
    /// wants logged.
    clients: Mutex<Vec<(Peer<RoleServer>, Arc<AtomicU8>)>>,
    /// The tools other hosts offered when last asked (with a NATS bus).
    remote: Mutex<Vec<ToolInfo>>,
}

impl std::fmt::Debug for McpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").field("options", &self.shared.options).finish_non_exhaustive()
    }
}

impl McpServer {
    /// A server offering `host`'s tools as `options` says.
    pub fn new(host: Arc<Host>, options: McpOptions) -> Self {
        let shared = Arc::new(Shared {
            host,
            options,
            clients: Mutex::new(Vec::new()),
            remote: Mutex::new(Vec::new()),
        });
        Self { shared, level: Arc::new(AtomicU8::new(INFO)) }
    }

    /// The bound on one incoming message.
    pub(crate) fn max_message(&self) -> usize {
        self.shared.options.max_message
    }

    /// This server for a new client session: the same host and clients, a
    /// log level of its own.
    pub(crate) fn session(&self) -> Self {
        Self { shared: self.shared.clone(), level: Arc::new(AtomicU8::new(INFO)) }
    }

    /// Serves one client on stdin and stdout until it closes them (at once,
    /// when stdin ends before the client began).
    ///
    /// # Errors
    ///
    /// [`Error::Session`] when the session cannot start or fails.
    pub async fn serve_stdio(&self) -> Result<()> {
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let max = self.shared.options.max_message;
        let transport = crate::stdio::BoundedLines::new(stdin, tokio::io::stdout(), max);
        let running = match self.session().serve(transport).await {
            Ok(running) => running,
            // The client went away before it began: stdin's end is the end.
            Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
            Err(err) => return Err(Error::Session(err.to_string())),
        };
        running.waiting().await.map_err(|err| Error::Session(err.to_string()))?;
        Ok(())
    }

    /// Tells every client that the tools changed (`notifications/tools/
    /// list_changed`), as after a plugin reloads.
    pub async fn tools_changed(&self) {
        for (peer, _) in self.clients() {
            let _ = peer.notify_tool_list_changed().await;
        }
    }

    /// Sends plugin log lines from `logs` to every client whose level
    /// admits them, until the log layer is gone.
    pub async fn forward_logs(&self, mut logs: LogReceiver) {
        while let Some(line) = logs.recv().await {
            for (peer, level) in self.clients() {
                if line.level >= level.load(Ordering::Relaxed) {
                    send_log(&peer, &line).await;
                }
            }
        }
    }

    /// The clients still connected (the others are forgotten).
    fn clients(&self) -> Vec<(Peer<RoleServer>, Arc<AtomicU8>)> {
        let mut clients = self.shared.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.retain(|(peer, _)| !peer.is_transport_closed());
        clients.clone()
    }

    fn offered(&self) -> Vec<Offered> {
        let options = &self.shared.options;
        let remote = self.shared.remote.lock().unwrap_or_else(PoisonError::into_inner).clone();
        catalog::offered(&self.shared.host, &remote, &options.expose, options.expose_handle)
    }

    /// Asks the other hosts on the bus again which tools they offer.
    async fn refresh_remote(&self) {
        let remote = self.shared.host.remote_tools().await;
        *self.shared.remote.lock().unwrap_or_else(PoisonError::into_inner) = remote;
    }

    /// The offered tool `name`, found without listing every tool: the
    /// host's, a plugin's `handle` (with `--expose-handle`), or another
    /// host's as last listed.
    fn known(&self, name: &str) -> Option<Offered> {
        let options = &self.shared.options;
        if !catalog::admitted(&options.expose, name) {
            return None;
        }
        if let Some(info) = self.shared.host.tool(name) {
            return Some(catalog::tool(info));
        }
        if options.expose_handle
            && let Ok(plugin) = self.shared.host.plugin(name)
            && let Some(offered) = catalog::handle(&plugin)
        {
            return Some(offered);
        }
        let remote = self.shared.remote.lock().unwrap_or_else(PoisonError::into_inner);
        remote.iter().find(|info| info.name == name).cloned().map(catalog::tool)
    }

    /// [`McpServer::known`], asking the other hosts again when the tool is
    /// not known (yet).
    async fn find(&self, name: &str) -> Option<Offered> {
        match self.known(name) {
            Some(offered) => Some(offered),
            None => {
                self.refresh_remote().await;
                self.known(name)
            }
        }
    }

    /// Runs `offered` with `input`.
    async fn run(&self, offered: &Offered, input: &str) -> witplug_host::Result<String> {
        match &offered.target {
            Target::Tool(name) => self.shared.host.call_tool(name, input).await,
            Target::Handle(plugin) => self.shared.host.plugin(plugin)?.handle(input).await,
        }
    }
}

#[expect(deprecated, reason = "logging is deprecated in MCP's newest draft; clients still use it")]
async fn send_log(peer: &Peer<RoleServer>, line: &LogLine) {
    let level = match line.level {
        DEBUG => LoggingLevel::Debug,
        INFO => LoggingLevel::Info,
        WARNING => LoggingLevel::Warning,
        _ => LoggingLevel::Error,
    };
    let data = serde_json::Value::String(line.message.clone());
    let params = LoggingMessageNotificationParam::new(level, data).with_logger(line.plugin.clone());
    let _ = peer.notify_logging_message(params).await;
}

/// The result of a call that failed in the plugin or the host: an error
/// result (the agent reads it), one line naming the kind of failure.
fn failed(err: &HostError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(failure_text(err))])
}

/// One line: the kind of failure ([`ErrorKind::as_str`]), then what the
/// host says of it; a plugin's or a tool's own error value in its own
/// words (`denied: ...`, `invalid input: ...`), as the agent should read
/// it.
///
/// [`ErrorKind::as_str`]: witplug_host::ErrorKind::as_str
pub fn failure_text(err: &HostError) -> String {
    match err {
        HostError::Plugin { error, .. } | HostError::Tool { error, .. } => {
            witplug_host::describe(error)
        }
        _ => format!("{}: {err}", err.kind()),
    }
}

impl ServerHandler for McpServer {
    #[expect(
        deprecated,
        reason = "logging is deprecated in MCP's newest draft; clients still use it"
    )]
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_logging();
        ServerConfig::new(capabilities.build())
            .with_server_info(Implementation::new("witplug", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools provided by WebAssembly plugins, each run in a sandbox under its grants \
                 and limits. A failed call answers with isError and one line naming the kind \
                 of failure (invalid input, denied, not found, limit exceeded, failed, timeout, \
                 limit, trap).",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        self.refresh_remote().await;
        let tools: Vec<Tool> = self.offered().into_iter().map(|offered| offered.tool).collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.known(name).map(|offered| offered.tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        let Some(offered) = self.find(name).await else {
            let shown: String = name.chars().filter(|c| !c.is_control()).take(128).collect();
            return Err(ErrorData::invalid_params(format!("no tool named `{shown}`"), None));
        };
        let input = match offered.input(request.arguments) {
            Ok(input) => input,
            Err(reason) => {
                let text = format!("invalid input: {reason}");
                return Ok(CallToolResult::error(vec![ContentBlock::text(text)]).into());
            }
        };
        // The call's future is dropped when the client cancels: the host
        // throws the instance it ran on away.
        let output = tokio::select! {
            () = context.ct.cancelled() => {
                return Err(ErrorData::internal_error("the client cancelled the call", None));
            }
            output = self.run(&offered, &input) => output,
        };
        let result = match output {
            Err(err) => failed(&err),
            Ok(output) => match offered.structured(&output) {
                Ok(structured) => {
                    let mut result = CallToolResult::success(vec![ContentBlock::text(output)]);
                    result.structured_content = structured;
                    result
                }
                Err(reason) => {
                    CallToolResult::error(vec![ContentBlock::text(format!("failed: {reason}"))])
                }
            },
        };
        Ok(result.into())
    }

    #[expect(
        deprecated,
        reason = "logging is deprecated in MCP's newest draft; clients still use it"
    )]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let level = match request.level {
            LoggingLevel::Debug => DEBUG,
            LoggingLevel::Info | LoggingLevel::Notice => INFO,
            LoggingLevel::Warning => WARNING,
            _ => ERROR,
        };
        self.level.store(level, Ordering::Relaxed);
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut clients = self.shared.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.retain(|(peer, _)| !peer.is_transport_closed());
        clients.push((context.peer, self.level.clone()));
    }
}
