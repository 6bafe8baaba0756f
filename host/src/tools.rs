//! Tools: named functions plugins call (`call-tool`). The host's own
//! ([`Tools`]: closures registered with `HostBuilder::tool`), those plugins
//! provide, described by a [`ToolSpec`] (a description, JSON Schemas,
//! [`ToolHints`]), listed as [`ToolInfo`] by [`Provider`]; and tools across
//! hosts ([`RemoteTools`], served as a [`ToolService`]).
//!
//! Inside: the registry (here), `tool_spec` (what a tool says of itself),
//! `schema` (its JSON Schema held as untrusted input), `call_chain` (the
//! chain of calls that led to one), `remote`. Uses `config` and the layers
//! below it.

pub(crate) mod call_chain;
pub(crate) mod remote;
pub(crate) mod schema;
pub(crate) mod tool_spec;

pub use remote::{
    ListFuture, RemoteTools, ReplyFuture, ServeFuture, ToolHandler, ToolReply, ToolRequest,
    ToolService,
};
pub use tool_spec::{Provider, ToolHints, ToolInfo, ToolSpec};

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock, Weak};

use crate::name::Name;
use crate::tools::call_chain::CallContext;

/// What a tool call returns: its output, or a message saying why it failed.
pub type ToolResult = Result<String, String>;

/// The future an async tool returns.
pub type ToolFuture = Pin<Box<dyn Future<Output = ToolResult> + Send>>;

pub(crate) type ToolFn = Arc<dyn Fn(String) -> ToolFuture + Send + Sync>;

/// The tools a host offers, by name.
///
/// A plugin calls one with `call-tool(name, input)`. An unknown name is an
/// `error::not-found` the plugin sees; a tool's `Err(message)` reaches the
/// plugin as `error::failed(message)`.
#[derive(Clone, Default)]
pub struct Tools {
    tools: HashMap<String, ToolFn>,
    specs: HashMap<String, ToolSpec>,
}

impl Tools {
    /// Registers a synchronous tool, replacing any tool of the same name.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        tool: impl Fn(&str) -> ToolResult + Send + Sync + 'static,
    ) {
        let tool = Arc::new(tool);
        self.tools.insert(
            name.into(),
            Arc::new(move |input: String| {
                let output = tool(&input);
                Box::pin(async move { output }) as ToolFuture
            }),
        );
    }

    /// Registers an async tool, which may await I/O without blocking plugins.
    pub fn insert_async<F, Fut>(&mut self, name: impl Into<String>, tool: F)
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        self.tools.insert(name.into(), Arc::new(move |input| Box::pin(tool(input)) as ToolFuture));
    }

    /// Describes the tool `name`: a plugin's call of it is then checked
    /// against the input schema before the tool runs, and
    /// [`Host::tools`](crate::Host::tools) shows the description.
    pub fn describe(&mut self, name: impl Into<String>, spec: ToolSpec) {
        self.specs.insert(name.into(), spec);
    }

    /// Calls the tool `name`; `None` when there is no such tool.
    pub fn call(&self, name: &str, input: String) -> Option<ToolFuture> {
        self.tools.get(name).map(|tool| tool(input))
    }

    /// The names of the registered tools, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tools.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl fmt::Debug for Tools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tools").field("names", &self.names()).finish()
    }
}

/// The future of a tool call into a plugin.
pub(crate) type ProviderFuture<'a, T = String> =
    Pin<Box<dyn Future<Output = crate::Result<T>> + Send + 'a>>;

/// A plugin that answers other plugins' tool calls through its `run-tool`
/// export: what the registry knows of a plugin, so that the store, below
/// the plugin, never names it.
pub(crate) trait ToolProvider: Send + Sync {
    /// The providing plugin's name.
    fn provider(&self) -> &Name;

    /// Runs the tool `name` for a call coming from `call`.
    fn run_tool<'a>(
        &'a self,
        call: CallContext,
        name: &'a str,
        input: &'a str,
    ) -> ProviderFuture<'a>;

    /// Runs the tool `name` for an agent, with a rich result (contract
    /// 0.3's `server.run-tool`, or the text of `run-tool`).
    fn run_tool_with<'a>(
        &'a self,
        call: CallContext,
        name: &'a str,
        input: &'a str,
    ) -> ProviderFuture<'a, crate::mcp::ToolResult>;
}

/// One tool a plugin can reach: the host's own, or another plugin's.
#[derive(Clone)]
pub(crate) enum Tool {
    /// A closure the host registered, and its description if it has one.
    Host(ToolFn, Option<Arc<ToolSpec>>),
    /// A tool provided by a plugin, while it stays loaded.
    Plugin(Weak<dyn ToolProvider>),
}

/// Every tool of one host, by name: the host's, fixed when it is built, and
/// those loaded plugins provide.
pub(crate) struct ToolRegistry {
    tools: RwLock<HashMap<String, Tool>>,
}

/// A tool as [`ToolRegistry::listed`] finds it.
pub(crate) enum Listed {
    /// The host's own, described so.
    Host(ToolSpec),
    /// The named plugin's.
    Plugin(Name),
}

/// A tool found by [`ToolRegistry::get`], ready to call.
pub(crate) enum Found {
    /// The host's own, and its description if it has one.
    Host(ToolFn, Option<Arc<ToolSpec>>),
    Plugin(Arc<dyn ToolProvider>),
}

/// Checks `input` against a host tool's schema (for at most `timeout`),
/// then runs it: the tool's error is `failed`, a refused input
/// `invalid-input`, a check past its time `limit-exceeded`.
pub(crate) async fn call_host(
    tool: &ToolFn,
    spec: Option<&ToolSpec>,
    name: &str,
    input: String,
    timeout: std::time::Duration,
) -> Result<String, crate::PluginError> {
    if let Some(spec) = spec {
        spec.check(name, &input, timeout).await?;
    }
    tool(input).await.map_err(crate::PluginError::Failed)
}

impl ToolRegistry {
    pub fn new(host: &Tools) -> Self {
        let tools = host.tools.iter().map(|(name, f)| {
            let spec = host.specs.get(name).cloned().map(Arc::new);
            (name.clone(), Tool::Host(f.clone(), spec))
        });
        Self { tools: RwLock::new(tools.collect()) }
    }

    /// The tool `name`: a host tool, or the plugin that provides it, if
    /// it is still loaded.
    pub fn get(&self, name: &str) -> Option<Found> {
        match self.read().get(name)? {
            Tool::Host(tool, spec) => Some(Found::Host(tool.clone(), spec.clone())),
            Tool::Plugin(provider) => provider.upgrade().map(Found::Plugin),
        }
    }

    /// Points the tools `names` at `provider`, replacing what an earlier
    /// version of the same plugin provided.
    ///
    /// # Errors
    ///
    /// A reason naming the first tool that the host or another loaded
    /// plugin already provides; nothing changes then.
    pub fn provide(
        &self,
        provider: &Arc<dyn ToolProvider>,
        names: &[String],
    ) -> Result<(), String> {
        let mut tools = self.write();
        let me = provider.provider();
        for name in names {
            let owner = match tools.get(name) {
                Some(Tool::Host(..)) => Some("the host".to_owned()),
                Some(Tool::Plugin(other)) => other
                    .upgrade()
                    .filter(|other| other.provider() != me)
                    .map(|other| format!("plugin `{}`", other.provider())),
                None => None,
            };
            if let Some(owner) = owner {
                return Err(format!("provides tool `{name}`, which {owner} already provides"));
            }
        }
        tools.retain(|_, tool| match tool {
            Tool::Plugin(other) => other.upgrade().is_some_and(|other| other.provider() != me),
            Tool::Host(..) => true,
        });
        for name in names {
            tools.insert(name.clone(), Tool::Plugin(Arc::downgrade(provider)));
        }
        Ok(())
    }

    /// Forgets the tools `provider` provides.
    pub fn withdraw(&self, provider: &Weak<dyn ToolProvider>) {
        self.write().retain(|_, tool| match tool {
            Tool::Plugin(other) => !Weak::ptr_eq(other, provider),
            Tool::Host(..) => true,
        });
    }

    /// The host's own tools, each with its description (a tool registered
    /// without one takes a string, as a 0.1 tool does).
    pub fn host_tools(&self) -> Vec<(String, ToolSpec)> {
        self.read()
            .iter()
            .filter_map(|(name, tool)| match tool {
                Tool::Host(_, spec) => Some((
                    name.clone(),
                    spec.as_deref().cloned().unwrap_or_else(|| ToolSpec::plain(String::new())),
                )),
                Tool::Plugin(_) => None,
            })
            .collect()
    }

    /// What the registry knows of tool `name`: a host tool's description,
    /// or the name of the plugin that provides it.
    pub fn listed(&self, name: &str) -> Option<Listed> {
        match self.read().get(name)? {
            Tool::Host(_, spec) => Some(Listed::Host(
                spec.as_deref().cloned().unwrap_or_else(|| ToolSpec::plain(String::new())),
            )),
            Tool::Plugin(provider) => Some(Listed::Plugin(provider.upgrade()?.provider().clone())),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Tool>> {
        self.tools.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Tool>> {
        self.tools.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.sort_unstable();
        f.debug_struct("ToolRegistry").field("names", &names).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_sync_and_async_tools_by_name() {
        let mut tools = Tools::default();
        tools.insert("upper", |input| Ok(input.to_uppercase()));
        tools.insert_async("len", |input: String| async move { Ok(input.len().to_string()) });
        assert_eq!(tools.call("upper", "abc".into()).unwrap().await.unwrap(), "ABC");
        assert_eq!(tools.call("len", "abcd".into()).unwrap().await.unwrap(), "4");
        assert!(tools.call("missing", String::new()).is_none());
        assert_eq!(tools.names(), ["len", "upper"]);
    }
}
