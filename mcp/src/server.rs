//! The MCP server: `tools/list` and `tools/call` over a host's tools
//! (rich results, progress, sampling and elicitation for plugins of
//! contract 0.3), resources, templates, subscriptions, prompts and
//! completion from the plugins that serve them, logging at the level each
//! client sets, and `list_changed` when the tools change.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    ContentBlock, GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Reference, ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};
#[expect(
    deprecated,
    reason = "logging is deprecated in MCP's newest draft; clients still use it"
)]
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use witplug_host::mcp::{CompletionRef, Content, ToolCall, ToolResult};
use witplug_host::{Error as HostError, Host, tools::ToolInfo};

use crate::catalog::{self, Offered, Target};
use crate::logs::{DEBUG, ERROR, INFO, LogLine, LogReceiver, WARNING};
use crate::served::{self, Missing};
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
    /// The resources this session's client subscribed to.
    subscriptions: Subscriptions,
}

/// The resource URIs one session subscribed to.
type Subscriptions = Arc<Mutex<HashSet<String>>>;

/// The most resources one session may subscribe to.
const MAX_SUBSCRIPTIONS: usize = 1024;

/// A client session that finished initialising.
#[derive(Clone)]
struct Session {
    peer: Peer<RoleServer>,
    level: Arc<AtomicU8>,
    subscriptions: Subscriptions,
}

struct Shared {
    host: Arc<Host>,
    options: McpOptions,
    /// Every client session that finished initialising, with the level it
    /// wants logged.
    clients: Mutex<Vec<Session>>,
    /// Whether resource updates are being forwarded to subscribers.
    forwarding: AtomicBool,
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
            forwarding: AtomicBool::new(false),
            remote: Mutex::new(Vec::new()),
        });
        Self {
            shared,
            level: Arc::new(AtomicU8::new(INFO)),
            subscriptions: Subscriptions::default(),
        }
    }

    /// The bound on one incoming message.
    pub(crate) fn max_message(&self) -> usize {
        self.shared.options.max_message
    }

    /// This server for a new client session: the same host and clients, a
    /// log level of its own.
    pub(crate) fn session(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            level: Arc::new(AtomicU8::new(INFO)),
            subscriptions: Subscriptions::default(),
        }
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
        for session in self.clients() {
            let _ = session.peer.notify_tool_list_changed().await;
        }
    }

    /// Sends plugin log lines from `logs` to every client whose level
    /// admits them, until the log layer is gone.
    pub async fn forward_logs(&self, mut logs: LogReceiver) {
        while let Some(line) = logs.recv().await {
            for session in self.clients() {
                if line.level >= session.level.load(Ordering::Relaxed) {
                    send_log(&session.peer, &line).await;
                }
            }
        }
    }

    /// The clients still connected (the others are forgotten).
    fn clients(&self) -> Vec<Session> {
        let mut clients = self.shared.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.retain(|session| !session.peer.is_transport_closed());
        clients.clone()
    }

    /// Sends each resource update plugins announce to the sessions
    /// subscribed to its URI, until the host is gone. Started once, by the
    /// first session.
    fn forward_resource_updates(&self) {
        if self.shared.forwarding.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut updates = self.shared.host.resource_updates();
        // Weak: the task ends when the server (and then its host) is gone.
        let shared = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            loop {
                let update = match updates.recv().await {
                    Ok(update) => update,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(shared) = shared.upgrade() else { return };
                let server = McpServer {
                    shared,
                    level: Arc::default(),
                    subscriptions: Subscriptions::default(),
                };
                for session in server.clients() {
                    let subscribed = session
                        .subscriptions
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .contains(&update.uri);
                    if subscribed {
                        let params = ResourceUpdatedNotificationParam::new(update.uri.clone());
                        // A client that stops reading holds up the others
                        // for a second at most.
                        let sent = session.peer.notify_resource_updated(params);
                        let _ = tokio::time::timeout(Duration::from_secs(1), sent).await;
                    }
                }
            }
        });
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

    /// Runs `offered` with `input`, the plugin reaching `agent`.
    async fn run(
        &self,
        offered: &Offered,
        input: &str,
        agent: Arc<crate::agent::Agent>,
    ) -> witplug_host::Result<ToolResult> {
        match &offered.target {
            Target::Tool(name) => {
                let call = ToolCall::with_client(agent);
                self.shared.host.call_tool_with(name, input, call).await
            }
            Target::Handle(plugin) => {
                let output = self.shared.host.plugin(plugin)?.handle(input).await?;
                Ok(ToolResult { content: vec![Content::Text(output)], structured: None })
            }
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

/// The result of a call that answered: its content as the protocol's
/// blocks, and its structured content (the plugin's, or, for a tool that
/// answers text under an output schema, that text as JSON).
fn answer(offered: &Offered, result: &ToolResult) -> CallToolResult {
    let content: Result<Vec<ContentBlock>, _> =
        result.content.iter().map(crate::content::protocol_block).collect();
    let content = match content {
        Ok(content) => content,
        Err(err) => {
            let text = format!("failed: the result does not fit the protocol: {err}");
            return CallToolResult::error(vec![ContentBlock::text(text)]);
        }
    };
    let structured = match (&result.structured, result.content.as_slice()) {
        (Some(structured), _) => {
            serde_json::from_str(structured).map(Some).map_err(|e| e.to_string())
        }
        (None, [Content::Text(text)]) => offered.structured(text),
        (None, _) => Ok(None),
    };
    match structured {
        Ok(structured) => {
            let mut answer = CallToolResult::success(content);
            answer.structured_content = structured;
            answer
        }
        Err(reason) => CallToolResult::error(vec![ContentBlock::text(format!("failed: {reason}"))]),
    }
}

/// A result the protocol's type `T` holds, from JSON this crate built.
fn decoded<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ErrorData> {
    serde_json::from_value(value).map_err(|err| {
        ErrorData::internal_error(format!("an answer that does not fit the protocol: {err}"), None)
    })
}

/// The protocol error of a resource, prompt or completion nobody has.
fn missing(what: &str, name: &str, why: Missing) -> ErrorData {
    let shown: String = name.chars().filter(|c| !c.is_control()).take(256).collect();
    match why {
        Missing::NotFound => ErrorData::resource_not_found(format!("no {what} `{shown}`"), None),
        Missing::Failed(reason) => {
            ErrorData::internal_error(format!("{what} `{shown}`: {reason}"), None)
        }
    }
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
        let mut capabilities = json!({ "tools": { "listChanged": true }, "logging": {} });
        // What plugins of contract 0.3 serve, when any does.
        if served::any(&self.shared.host) {
            capabilities["resources"] = json!({ "subscribe": true });
            capabilities["prompts"] = json!({});
            capabilities["completions"] = json!({});
        }
        let capabilities: ServerCapabilities =
            serde_json::from_value(capabilities).unwrap_or_else(|_| {
                ServerCapabilities::builder().enable_tools().enable_logging().build()
            });
        ServerConfig::new(capabilities)
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
        let token = context.meta.get_progress_token();
        let agent = crate::agent::Agent::new(context.peer.clone(), token, context.ct.clone());
        let output = tokio::select! {
            () = context.ct.cancelled() => {
                return Err(ErrorData::internal_error("the client cancelled the call", None));
            }
            output = async {
                let output = self.run(&offered, &input, agent.clone()).await;
                // The progress reported goes out before the result.
                agent.finish().await;
                output
            } => output,
        };
        let result = match output {
            Err(err) => failed(&err),
            Ok(result) => answer(&offered, &result),
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
        {
            let mut clients = self.shared.clients.lock().unwrap_or_else(PoisonError::into_inner);
            clients.retain(|session| !session.peer.is_transport_closed());
            clients.push(Session {
                peer: context.peer,
                level: self.level.clone(),
                subscriptions: self.subscriptions.clone(),
            });
        }
        self.forward_resource_updates();
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        decoded(served::resources(&self.shared.host).await)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        decoded(served::templates(&self.shared.host).await)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let read = tokio::select! {
            () = context.ct.cancelled() => {
                return Err(ErrorData::internal_error("the client cancelled the read", None));
            }
            read = served::read(&self.shared.host, &request.uri) => read,
        };
        let contents = read.map_err(|why| missing("resource", &request.uri, why))?;
        Ok(decoded::<ReadResourceResult>(contents)?.into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        witplug_host::mcp::check_uri(&request.uri)
            .map_err(|why| ErrorData::invalid_params(why, None))?;
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        if subscriptions.len() >= MAX_SUBSCRIPTIONS && !subscriptions.contains(&request.uri) {
            return Err(ErrorData::invalid_params(
                format!("a session subscribes to at most {MAX_SUBSCRIPTIONS} resources"),
                None,
            ));
        }
        subscriptions.insert(request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner).remove(&request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        decoded(served::prompts(&self.shared.host).await)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let arguments: Vec<(String, String)> = request
            .arguments
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect();
        let prompt = served::prompt(&self.shared.host, &request.name, &arguments)
            .await
            .map_err(|why| missing("prompt", &request.name, why))?;
        Ok(decoded::<GetPromptResult>(prompt)?.into())
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let reference = match &request.r#ref {
            Reference::Prompt(prompt) => CompletionRef::Prompt(prompt.name.clone()),
            Reference::Resource(template) => CompletionRef::ResourceTemplate(template.uri.clone()),
            _ => return Err(ErrorData::invalid_params("an unknown kind of reference", None)),
        };
        let (argument, value) = (&request.argument.name, &request.argument.value);
        let named = match &reference {
            CompletionRef::Prompt(name) | CompletionRef::ResourceTemplate(name) => name.as_str(),
        };
        let completion = served::complete(&self.shared.host, &reference, argument, value)
            .await
            .map_err(|why| missing("completion for", named, why))?;
        decoded(completion)
    }
}
