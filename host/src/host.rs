//! The host: one engine per setting, the linked imports, and the registry
//! of the plugins it loaded. Building it, loading into it, delivering
//! messages and watching a folder each have a file below `host/`.

mod builder;
mod delivery;
mod loading;
mod prometheus;
mod watch;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::task::JoinHandle;
use wasmtime::Engine;

use crate::bus::{Message, MessageBus, Published, Subscription};
use crate::compile::cache::{Cache, CacheStats};
use crate::compile::engine::Engines;
use crate::instance_state::Services;
use crate::observe::events::{Event, EventStream};
use crate::observe::metrics::{self, Stats};
use crate::tools::call_chain::CallContext;
use crate::tools::remote::{ToolRequest, ToolService};
use crate::tools::schema::{self, SchemaBounds};
use crate::tools::{Found, Listed, ToolProvider};
use crate::{Error, Plugin, PluginError, Result};

pub use builder::HostBuilder;
use delivery::Delivery;
pub use loading::LoadReport;
use watch::Stamp;
pub use watch::{SyncReport, Watcher};

/// Loads plugins and runs them with what it grants them.
///
/// A host holds a wasmtime `Engine` and a `Linker` with the
/// `witplug:plugin/host` imports and WASI defined once; every plugin is
/// pre-linked against it when it loads. (A plugin whose limits need another
/// wasm stack size or fuel metering gets an engine of its own.)
pub struct Host {
    engines: Engines,
    default_engine: Engine,
    services: Arc<Services>,
    settings: HostBuilder,
    plugins: RwLock<BTreeMap<String, Entry>>,
    /// Files that failed to load, with the stamp they had, so a watcher
    /// does not retry them until they change.
    failed: Mutex<HashMap<PathBuf, Stamp>>,
    cache: Option<Arc<Cache>>,
}

/// A loaded plugin and what the host runs for it.
struct Entry {
    plugin: Arc<Plugin>,
    delivery: Option<Delivery>,
    /// The tools it offers to other hosts, withdrawn when dropped.
    offered: Vec<ToolService>,
    stamp: Stamp,
}

impl Entry {
    /// Stops the delivery task taking messages; it finishes the message in
    /// hand and those already queued, then ends. Returns its handle.
    fn close_delivery(&mut self) -> Option<JoinHandle<()>> {
        self.delivery.take().map(|delivery| {
            delivery.stop.ask();
            delivery.task
        })
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.close_delivery();
    }
}

impl Host {
    /// A builder with the defaults listed on [`HostBuilder`].
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The loaded plugin called `name`.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchPlugin`] listing the loaded plugins.
    pub fn plugin(&self, name: &str) -> Result<Arc<Plugin>> {
        let plugins = self.plugins_read();
        plugins.get(name).map(|entry| entry.plugin.clone()).ok_or_else(|| Error::NoSuchPlugin {
            name: name.to_owned(),
            available: plugins.keys().cloned().collect(),
        })
    }

    /// Every tool this host serves, sorted by name: its own and those its
    /// loaded plugins provide, each with its description, schemas and
    /// provider. (Tools on other hosts, over NATS, are not listed.)
    pub fn tools(&self) -> Vec<crate::tools::ToolInfo> {
        let mut tools: Vec<crate::tools::ToolInfo> = self
            .services
            .tools
            .host_tools()
            .into_iter()
            .map(|(name, spec)| crate::tools::ToolInfo {
                name,
                provider: crate::tools::Provider::Host,
                spec,
            })
            .collect();
        for plugin in self.plugins() {
            tools.extend(plugin.tools().iter().map(|(name, spec)| crate::tools::ToolInfo {
                name: name.clone(),
                provider: crate::tools::Provider::Plugin(plugin.name().to_owned()),
                spec: spec.clone(),
            }));
        }
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }

    /// Calls the tool `name` for an agent: as [`Host::call_tool`], with a
    /// rich result (contract 0.3: content items of several kinds, and
    /// structured JSON) and `call`'s client reachable by the plugin for
    /// progress, sampling and elicitation. A tool that answers with text
    /// (0.1, 0.2, a host tool, another host's) answers with one text item.
    ///
    /// # Errors
    ///
    /// As [`Host::call_tool`], and [`Error::InvalidResult`] for a result
    /// the host refuses to pass on.
    pub async fn call_tool_with(
        &self,
        name: &str,
        input: &str,
        call: crate::mcp::ToolCall,
    ) -> Result<crate::mcp::ToolResult> {
        if let Some(Found::Plugin(provider)) = self.services.tools.get(name) {
            return provider.run_tool_with(call.into(), name, input).await;
        }
        let output = self.call_tool(name, input).await?;
        Ok(crate::mcp::ToolResult {
            content: vec![crate::mcp::Content::Text(output)],
            structured: None,
        })
    }

    /// The resource updates plugins announce (`client.resource-updated`),
    /// from now on.
    pub fn resource_updates(&self) -> tokio::sync::broadcast::Receiver<crate::mcp::ResourceUpdate> {
        self.services.resources.subscribe()
    }

    /// Calls the tool `name` as the embedder: a host tool, a loaded
    /// plugin's, or, when the bus reaches other hosts, one of theirs, with
    /// `input` (JSON text for a tool with a schema, checked against it
    /// before the tool runs). No grant is needed: the embedder is trusted;
    /// the providing plugin runs under its own grants and limits.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchTool`]; for a plugin's tool, what its call gives
    /// (the plugin's [`Error::Plugin`] with `invalid-input` when the schema
    /// refuses the input, a trap or a limit); for a host tool or a remote
    /// one, [`Error::Tool`].
    pub async fn call_tool(&self, name: &str, input: &str) -> Result<String> {
        let tool = || crate::text::sanitize(name, crate::text::NAME);
        match self.services.tools.get(name) {
            Some(Found::Host(call, spec)) => {
                let deadline = self.settings.limits.deadline;
                crate::tools::call_host(&call, spec.as_deref(), name, input.to_owned(), deadline)
                    .await
                    .map_err(|error| Error::Tool { tool: tool(), error })
            }
            Some(Found::Plugin(provider)) => {
                provider.run_tool(CallContext::default(), name, input).await
            }
            None => {
                let Some(remote) = self.services.bus.remote_tools() else {
                    return Err(Error::NoSuchTool { name: tool() });
                };
                let request = ToolRequest {
                    name: name.to_owned(),
                    input: input.to_owned(),
                    chain: Vec::new(),
                    hops: 0,
                    timeout: self.settings.limits.deadline,
                };
                remote.call(request).await.map_err(|error| match error {
                    PluginError::NotFound(_) => Error::NoSuchTool { name: tool() },
                    error => Error::Tool { tool: tool(), error },
                })
            }
        }
    }

    /// The tool `name` this host serves, its own or a loaded plugin's, with
    /// its description and provider: [`Host::tools`] for one name, without
    /// the cost of listing them all.
    pub fn tool(&self, name: &str) -> Option<crate::tools::ToolInfo> {
        let (provider, spec) = match self.services.tools.listed(name)? {
            Listed::Host(spec) => (crate::tools::Provider::Host, spec),
            Listed::Plugin(plugin) => {
                let plugin = self.plugin(&plugin).ok()?;
                let (_, spec) = plugin.tools().iter().find(|(tool, _)| tool == name)?;
                (crate::tools::Provider::Plugin(plugin.name().to_owned()), spec.clone())
            }
        };
        Some(crate::tools::ToolInfo { name: name.to_owned(), provider, spec })
    }

    /// The tools other hosts on the bus offer (with a NATS bus), each with
    /// the description its provider gave; those this host serves itself,
    /// and any whose description does not parse or compile, are left out.
    /// Waits a moment for the other hosts to answer.
    pub async fn remote_tools(&self) -> Vec<crate::tools::ToolInfo> {
        let Some(remote) = self.services.bus.remote_tools() else { return Vec::new() };
        let listed: Vec<(String, String)> = remote
            .list()
            .await
            .into_iter()
            .filter(|(name, _)| self.services.tools.listed(name).is_none())
            .collect();
        // Another host's schemas are held to this host's default bounds,
        // compiled off the async workers within the default deadline.
        let bounds = SchemaBounds::of(&self.settings.limits);
        let compile = move || {
            let specs = listed.into_iter().filter_map(|(name, json)| {
                match crate::tools::ToolSpec::from_json(&json, &bounds) {
                    Ok(spec) => Some(crate::tools::ToolInfo { name, provider: crate::tools::Provider::Remote, spec }),
                    Err(reason) => {
                        let name = crate::text::sanitize(&name, crate::text::NAME);
                        tracing::warn!(target: "witplug::host", "remote tool `{name}` left out: {reason}");
                        None
                    }
                }
            });
            Ok(specs.collect::<Vec<_>>())
        };
        let deadline = self.settings.limits.deadline;
        let mut tools = match schema::compile_off("remote tool schemas", deadline, compile).await {
            Ok(tools) => tools,
            Err(reason) => {
                tracing::warn!(target: "witplug::host", "remote tools left out: {reason}");
                Vec::new()
            }
        };
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        tools
    }

    /// Every loaded plugin, by name.
    pub fn plugins(&self) -> Vec<Arc<Plugin>> {
        self.plugins_read().values().map(|entry| entry.plugin.clone()).collect()
    }

    /// Initialises every plugin of the `plugin` world; returns the errors of
    /// those that failed (they are then [`Lifecycle::Failed`](crate::plugin::Lifecycle)).
    pub async fn init_all(&self) -> Vec<Error> {
        let mut failed = Vec::new();
        for plugin in self.plugins().into_iter().filter(|p| p.is_guest()) {
            if let Err(err) = plugin.init().await {
                failed.push(err);
            }
        }
        failed
    }

    /// Stops every plugin (see [`Plugin::stop`]); returns the errors of the
    /// `shutdown`s that failed.
    pub async fn stop_all(&self) -> Vec<Error> {
        let mut failed = Vec::new();
        for plugin in self.plugins() {
            if let Err(err) = plugin.stop().await {
                failed.push(err);
            }
        }
        failed
    }

    /// Stops the plugin `name` and removes it from the host: it takes no
    /// new message, finishes those queued, runs `shutdown`, and the tools it
    /// provided are gone.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchPlugin`], or the error its `shutdown` hit (it is
    /// removed anyway).
    pub async fn unload(&self, name: &str) -> Result<()> {
        let mut entry = {
            let mut plugins = self.plugins.write().unwrap_or_else(PoisonError::into_inner);
            match plugins.remove(name) {
                Some(entry) => entry,
                None => {
                    return Err(Error::NoSuchPlugin {
                        name: name.to_owned(),
                        available: plugins.keys().cloned().collect(),
                    });
                }
            }
        };
        let plugin = entry.plugin.clone();
        let provider: Arc<dyn ToolProvider> = plugin.clone();
        self.services.tools.withdraw(&Arc::downgrade(&provider));
        entry.offered.clear();
        if let Some(delivery) = entry.close_delivery() {
            let _ = delivery.await;
        }
        drop(entry);
        let result = plugin.stop().await;
        self.services.events.send(|| Event::Unloaded { plugin: name.into() });
        result
    }

    /// Unloads every plugin (see [`Host::unload`]); returns the errors of
    /// the `shutdown`s that failed.
    pub async fn unload_all(&self) -> Vec<Error> {
        let names: Vec<String> = self.plugins_read().keys().cloned().collect();
        let mut failed = Vec::new();
        for name in names {
            if let Err(err) = self.unload(&name).await {
                failed.push(err);
            }
        }
        failed
    }

    /// How the precompiled cache has served, if there is one.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_deref().map(Cache::stats)
    }

    /// A stream of what happens to plugins from now on. While no stream
    /// is open, the host builds no event at all.
    pub fn events(&self) -> EventStream {
        self.services.events.subscribe()
    }

    /// Every plugin's metrics, and their totals.
    pub fn stats(&self) -> Stats {
        let parts: Vec<_> =
            self.plugins().iter().map(|p| (p.name().to_owned(), p.metrics_histogram())).collect();
        let total = metrics::total(parts.iter().map(|(_, part)| part));
        Stats { plugins: parts.into_iter().map(|(name, (m, _))| (name, m)).collect(), total }
    }

    /// Subscribes host code to messages whose topic matches `pattern`
    /// (see [`Bus`](crate::bus::Bus) for patterns).
    pub fn subscribe(&self, pattern: impl Into<String>) -> Subscription {
        self.services.bus.subscribe_many(vec![pattern.into()], crate::bus::QueueBounds::default())
    }

    /// Publishes a message from host code, and says what became of it.
    pub fn publish(
        &self,
        topic: impl Into<String>,
        payload: impl Into<crate::bus::Bytes>,
    ) -> Published {
        self.services.bus.publish(Message::new(topic, payload))
    }

    /// The host's message bus.
    pub fn bus(&self) -> &Arc<dyn MessageBus> {
        &self.services.bus
    }

    /// The wasmtime engine of plugins under the default limits.
    pub fn engine(&self) -> &Engine {
        &self.default_engine
    }

    fn plugins_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.plugins.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("plugins", &self.plugins_read().keys().collect::<Vec<_>>())
            .field("tools", &self.services.tools)
            .field("limits", &self.settings.limits)
            .finish_non_exhaustive()
    }
}
