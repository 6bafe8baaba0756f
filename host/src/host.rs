//! The host: one engine, the linked imports, and the plugins it loaded.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use wasmtime::Engine;

use crate::bus::{Bus, Message, MessageBus, Subscription};
use crate::cache::{Cache, CacheStats};
use crate::engine::{EngineKey, Engines};
use crate::events::{Event, Events};
use crate::grants::Grants;
use crate::limits::Limits;
use crate::load::{self, LoadReport};
use crate::manifest::Manifest;
use crate::metrics::{self, Stats};
use crate::plugin::Code;
use crate::state::{PluginContext, Services};
use crate::tools::{ToolResult, Tools};
use crate::{Error, Plugin, Result};

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
    cache: Option<Cache>,
}

/// A loaded plugin and what the host runs for it.
struct Entry {
    plugin: Arc<Plugin>,
    delivery: Option<Delivery>,
    stamp: Stamp,
}

/// The task that delivers a plugin's subscribed messages.
struct Delivery {
    /// Tells the task to stop taking new messages and finish those queued.
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

/// What a watcher compares to notice that a plugin's files changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    wasm: Option<(SystemTime, u64)>,
    manifest: Option<(SystemTime, u64)>,
}

impl Stamp {
    fn of(path: &Path) -> Self {
        let read =
            |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        Self { wasm: read(path), manifest: read(&path.with_extension("toml")) }
    }
}

impl Entry {
    /// Stops the delivery task taking messages; it finishes the message in
    /// hand and those already queued, then ends. Returns its handle.
    fn close_delivery(&mut self) -> Option<JoinHandle<()>> {
        self.delivery.take().map(|delivery| {
            delivery.stop.notify_one();
            delivery.task
        })
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.close_delivery();
    }
}

/// Configures a [`Host`].
///
/// Defaults:
/// - no tools registered;
/// - no configuration beyond each plugin's `<name>.toml`;
/// - nothing granted beyond each plugin's manifest: no tools, no topics, no
///   files, no environment variables, no stdio, and never the network;
/// - [`Limits::default`] for every plugin, and [`Limits::default_ceilings`]
///   as the most a manifest may ask for.
#[derive(Clone)]
pub struct HostBuilder {
    tools: Tools,
    config: HashMap<String, BTreeMap<String, String>>,
    grants: HashMap<String, Grants>,
    limits: Limits,
    ceilings: Limits,
    bus: Option<Arc<dyn MessageBus>>,
    cache_dir: Option<PathBuf>,
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("tools", &self.tools)
            .field("limits", &self.limits)
            .field("ceilings", &self.ceilings)
            .finish_non_exhaustive()
    }
}

impl Default for HostBuilder {
    fn default() -> Self {
        Self {
            tools: Tools::default(),
            config: HashMap::new(),
            grants: HashMap::new(),
            limits: Limits::default(),
            ceilings: Limits::default_ceilings(),
            bus: None,
            cache_dir: None,
        }
    }
}

impl HostBuilder {
    /// Registers a tool that plugins call with `call-tool(name, input)`.
    ///
    /// ```
    /// let mut builder = witplug_host::Host::builder();
    /// builder.tool("upper", |input| Ok(input.to_uppercase()));
    /// ```
    pub fn tool(
        &mut self,
        name: impl Into<String>,
        tool: impl Fn(&str) -> ToolResult + Send + Sync + 'static,
    ) -> &mut Self {
        self.tools.insert(name, tool);
        self
    }

    /// Registers an async tool: plugins wait for it without blocking others.
    pub fn tool_async<F, Fut>(&mut self, name: impl Into<String>, tool: F) -> &mut Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        self.tools.insert_async(name, tool);
        self
    }

    /// Sets configuration `key` of `plugin` to `value`; it overrides the
    /// same key in the plugin's `<name>.toml`.
    pub fn config(
        &mut self,
        plugin: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> &mut Self {
        self.config.entry(plugin.into()).or_default().insert(key.into(), value.into());
        self
    }

    /// Grants `plugin` what `grants` lists, on top of its manifest's grants.
    ///
    /// ```
    /// use witplug_host::{Grants, Host};
    ///
    /// let mut builder = Host::builder();
    /// builder.grants("tool-user", Grants::new().tool("upper").publish("news.*"));
    /// ```
    pub fn grants(&mut self, plugin: impl Into<String>, grants: Grants) -> &mut Self {
        self.grants.entry(plugin.into()).or_default().extend(grants);
        self
    }

    /// The limits of every plugin whose manifest does not choose its own.
    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// The most any manifest may ask for; a manifest over a ceiling is an
    /// error naming the key.
    pub fn ceilings(&mut self, ceilings: Limits) -> &mut Self {
        self.ceilings = ceilings;
        self
    }

    /// The message bus plugins and host code share (default: an in-process
    /// [`Bus`]).
    pub fn bus(&mut self, bus: Arc<dyn MessageBus>) -> &mut Self {
        self.bus = Some(bus);
        self
    }

    /// Keeps compiled plugins in `dir`, so that loading them again skips
    /// compiling (default: no cache). The folder must be writable only by
    /// the host operator: it holds native code.
    pub fn cache_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Builds the host.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] when the default limits pass the ceilings, or when
    /// wasmtime cannot be configured on this machine.
    pub fn build(&self) -> Result<Host> {
        let defaults = Limits::resolve(&self.limits, &self.ceilings, &Default::default())
            .map_err(|reason| Error::Setup(format!("the default limits: {reason}")))?;
        let engines = Engines::new(self.ceilings.clone());
        let default_engine = engines.get(EngineKey::for_limits(&defaults))?.engine.clone();
        Ok(Host {
            engines,
            default_engine,
            services: Arc::new(Services {
                tools: self.tools.clone(),
                bus: self.bus.clone().unwrap_or_else(|| Arc::new(Bus::default())),
                events: Events::default(),
                providers: RwLock::default(),
            }),
            settings: self.clone(),
            plugins: RwLock::default(),
            failed: Mutex::default(),
            cache: self.cache_dir.clone().map(Cache::new),
        })
    }
}

impl Host {
    /// A builder with the defaults listed on [`HostBuilder`].
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// Loads every `*.wasm` file in `dir`, with its optional `<name>.toml`.
    ///
    /// A file that fails does not stop the others: it is reported in
    /// [`LoadReport::failed`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] only when `dir` itself cannot be read.
    pub async fn load_dir(&self, dir: impl AsRef<Path>) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        for path in load::wasm_files(dir.as_ref())? {
            match self.load_file(&path).await {
                Ok(plugin) => report.loaded.push(plugin),
                Err(err) => report.failed.push(err),
            }
        }
        Ok(report)
    }

    /// Loads one component file as the plugin named by its file name.
    ///
    /// A plugin whose manifest grants subscriptions starts receiving
    /// messages on them; tools it provides become callable.
    ///
    /// # Errors
    ///
    /// An error naming the file: [`Error::NotWasm`], [`Error::CoreModule`],
    /// [`Error::InvalidComponent`], [`Error::MissingImport`],
    /// [`Error::Manifest`], [`Error::HashMismatch`],
    /// [`Error::DuplicatePlugin`], [`Error::Conflict`], or an error from the
    /// plugin's `info` export.
    pub async fn load_file(&self, path: impl AsRef<Path>) -> Result<Arc<Plugin>> {
        let path = path.as_ref();
        let name = load::plugin_name(path)?;
        if self.plugins_read().contains_key(&name) {
            return Err(Error::DuplicatePlugin { name, path: path.to_owned() });
        }
        let stamp = Stamp::of(path);
        let plugin = self.prepare(path, &name, None).await?;
        self.install(plugin.clone(), stamp, None)?;
        self.services.events.send(Event::Loaded { plugin: name });
        Ok(plugin)
    }

    /// Loads a core module plugin from WAT text, under the name `name`,
    /// with the default grants and limits (and the builder's for `name`).
    ///
    /// ```no_run
    /// # async fn run(host: &witplug_host::Host) -> witplug_host::Result<()> {
    /// let plugin = host.load_wat("answer", r#"(module (func (export "answer") (result i32) i32.const 42))"#).await?;
    /// assert_eq!(plugin.call_core("answer", &[]).await?[0].i32(), Some(42));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`Host::load_file`]; invalid WAT is [`Error::InvalidComponent`].
    pub async fn load_wat(&self, name: &str, wat: &str) -> Result<Arc<Plugin>> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(Error::Setup(format!("`{name}` is not a plugin name")));
        }
        if self.plugins_read().contains_key(name) {
            return Err(Error::DuplicatePlugin {
                name: name.to_owned(),
                path: PathBuf::from(name),
            });
        }
        // A path no file has, so no manifest is found for it.
        let path = PathBuf::from(format!("<wat>/{name}.wat"));
        let plugin = self.prepare(&path, name, Some(wat.as_bytes().to_vec())).await?;
        self.install(plugin.clone(), Stamp::of(&path), None)?;
        self.services.events.send(Event::Loaded { plugin: name.to_owned() });
        Ok(plugin)
    }

    /// Compiles a plugin file into a plugin that is not installed yet.
    async fn prepare(
        &self,
        path: &Path,
        name: &str,
        source: Option<Vec<u8>>,
    ) -> Result<Arc<Plugin>> {
        let manifest_path = path.with_extension("toml");
        // A plugin given as text has no file, hence no manifest.
        let manifest = match source {
            Some(_) => Manifest::default(),
            None => Manifest::load(&manifest_path)?.unwrap_or_default(),
        };
        let manifest_error =
            |reason: String| Error::Manifest { path: manifest_path.clone(), reason };
        let limits =
            Limits::resolve(&self.settings.limits, &self.settings.ceilings, &manifest.limits)
                .map_err(manifest_error)?;
        let pool = manifest.pool.resolve().map_err(manifest_error)?;
        let mut grants = manifest.grants.clone();
        if source.is_none() {
            grants.anchor(path.parent().unwrap_or(Path::new("."))).map_err(manifest_error)?;
        }
        if let Some(extra) = self.settings.grants.get(name) {
            grants.extend(extra.clone());
        }

        let bytes = match source {
            Some(bytes) => bytes,
            None => load::read(path, manifest.sha256.as_deref())?,
        };
        let bytes = load::wasm_bytes(path, bytes)?;
        let runtime = self.engines.get(EngineKey::for_limits(&limits))?;
        let code = match load::kind(path, &bytes)? {
            load::Kind::Component => {
                let (component, pre) = load::compile(
                    &runtime.engine,
                    &runtime.linker,
                    self.cache.as_ref(),
                    path,
                    &bytes,
                )?;
                Code::Component { component, pre }
            }
            load::Kind::Module => {
                load::compile_module(&runtime.engine, &runtime.core_linker, path, &bytes)?
            }
        };

        let mut config = manifest.config_strings();
        if let Some(overrides) = self.settings.config.get(name) {
            config.extend(overrides.clone());
        }
        let context = Arc::new(PluginContext {
            name: name.to_owned(),
            config,
            grants,
            limits,
            pool,
            provides: manifest.provides.tools.clone(),
            services: self.services.clone(),
        });
        let size = bytes.len() as u64;
        Ok(Arc::new(Plugin::new(context, path.to_owned(), size, code).await?))
    }

    /// Makes a prepared plugin the one its name finds. `replacing` is the
    /// version a reload expects to replace, or `None` for a new plugin; if
    /// the map no longer holds what the caller expects (a load or unload
    /// raced it), nothing changes. Returns the replaced entry.
    fn install(
        &self,
        plugin: Arc<Plugin>,
        stamp: Stamp,
        replacing: Option<&Arc<Plugin>>,
    ) -> Result<Option<Entry>> {
        let name = plugin.name().to_owned();
        let mut plugins = self.plugins.write().unwrap_or_else(PoisonError::into_inner);
        let current = plugins.get(&name).map(|entry| &entry.plugin);
        match (current, replacing) {
            (None, None) => {}
            (Some(current), Some(expected)) if Arc::ptr_eq(current, expected) => {}
            (Some(_), None) => {
                return Err(Error::DuplicatePlugin { name, path: plugin.path().to_owned() });
            }
            _ => {
                return Err(Error::Conflict {
                    path: plugin.path().to_owned(),
                    reason: format!("plugin `{name}` was loaded or unloaded during the reload"),
                });
            }
        }
        self.register_tools(&plugin)?;
        let delivery = self.start_delivery(&plugin);
        Ok(plugins.insert(name, Entry { plugin, delivery, stamp }))
    }

    /// Points the tools `plugin` provides at it, refusing tools that the
    /// host or another plugin already provides.
    fn register_tools(&self, plugin: &Arc<Plugin>) -> Result<()> {
        let mut providers = self.services.providers.write().unwrap_or_else(PoisonError::into_inner);
        for tool in plugin.provides() {
            let taken_by = providers
                .get(tool)
                .and_then(std::sync::Weak::upgrade)
                .filter(|other| other.name() != plugin.name())
                .map(|other| format!("plugin `{}`", other.name()));
            let host_tool = self.services.tools.names().contains(&tool.as_str());
            if let Some(owner) = taken_by.or(host_tool.then(|| "the host".to_owned())) {
                return Err(Error::Conflict {
                    path: plugin.path().to_owned(),
                    reason: format!("provides tool `{tool}`, which {owner} already provides"),
                });
            }
        }
        providers
            .retain(|_, provider| provider.upgrade().is_some_and(|p| p.name() != plugin.name()));
        for tool in plugin.provides() {
            providers.insert(tool.clone(), Arc::downgrade(plugin));
        }
        Ok(())
    }

    /// Delivers the messages a plugin subscribed to, one at a time, in the
    /// order they were published.
    fn start_delivery(&self, plugin: &Arc<Plugin>) -> Option<Delivery> {
        let patterns = plugin.grants().subscribe.clone();
        if patterns.is_empty() || !plugin.is_guest() {
            return None;
        }
        let queue = usize::try_from(plugin.limits().message_queue).unwrap_or(usize::MAX);
        let mut inbox = self.services.bus.subscribe_many(patterns, queue);
        let weak = Arc::downgrade(plugin);
        let events = self.services.events.clone();
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut dropped = 0;
            let mut closing = false;
            loop {
                let message = if closing {
                    inbox.recv().await
                } else {
                    tokio::select! {
                        message = inbox.recv() => message,
                        () = stopped.notified() => {
                            // Take no new message; deliver those queued.
                            inbox.close();
                            closing = true;
                            continue;
                        }
                    }
                };
                let Some(message) = message else { break };
                let Some(plugin) = weak.upgrade() else { break };
                let now_dropped = inbox.dropped();
                if now_dropped > dropped {
                    plugin.messages_dropped(now_dropped - dropped, &events);
                    dropped = now_dropped;
                }
                // A plugin does not receive what it published itself.
                if message.from.as_deref() == Some(plugin.name()) {
                    continue;
                }
                let delivered =
                    plugin.deliver(&message.topic, &message.payload, message.hops).await;
                match delivered {
                    Ok(()) => {}
                    Err(Error::Stopped { .. }) => plugin.messages_dropped(1, &events),
                    Err(err) => {
                        tracing::warn!(target: "witplug::host", plugin = plugin.name(), "on-message: {err}");
                    }
                }
            }
        });
        Some(Delivery { stop, task })
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

    /// Every loaded plugin, by name.
    pub fn plugins(&self) -> Vec<Arc<Plugin>> {
        self.plugins_read().values().map(|entry| entry.plugin.clone()).collect()
    }

    /// Initialises every plugin of the `plugin` world; returns the errors of
    /// those that failed (they are then [`Lifecycle::Failed`](crate::Lifecycle)).
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
        self.services
            .providers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, provider| !std::sync::Weak::ptr_eq(provider, &Arc::downgrade(&plugin)));
        if let Some(delivery) = entry.close_delivery() {
            let _ = delivery.await;
        }
        drop(entry);
        let result = plugin.stop().await;
        self.services.events.send(Event::Unloaded { plugin: name.to_owned() });
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

    /// Loads the plugin `name` again from its file. Calls in flight finish
    /// on the old version; new calls go to the new one. If the new version
    /// fails to load, the old one keeps serving and the error says why.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchPlugin`], or why the new version did not load.
    pub async fn reload(&self, name: &str) -> Result<Arc<Plugin>> {
        let old = self.plugin(name)?;
        let stamp = Stamp::of(old.path());
        let installed = match self.prepare(old.path(), name, None).await {
            Ok(plugin) => {
                self.install(plugin.clone(), stamp, Some(&old)).map(|entry| (plugin, entry))
            }
            Err(err) => Err(err),
        };
        let (plugin, replaced) = match installed {
            Ok(installed) => installed,
            Err(err) => {
                let reason = err.to_string();
                self.services.events.send(Event::ReloadFailed { plugin: name.to_owned(), reason });
                return Err(err);
            }
        };
        self.services.events.send(Event::Reloaded { plugin: name.to_owned() });
        if let Some(entry) = replaced {
            tokio::spawn(retire(entry));
        }
        Ok(plugin)
    }

    /// Brings the host in line with `dir` once: new files load, changed
    /// files (the `.wasm` or its `.toml`) reload, removed files unload.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `dir` cannot be read; each plugin's failure is in
    /// the report.
    pub async fn sync_dir(&self, dir: impl AsRef<Path>) -> Result<SyncReport> {
        let dir = dir.as_ref();
        let mut report = SyncReport::default();
        let files = load::wasm_files(dir)?;
        for path in &files {
            let Ok(name) = load::plugin_name(path) else { continue };
            let stamp = Stamp::of(path);
            let loaded = self.plugins_read().get(&name).map(|e| (e.stamp, e.plugin.path() == path));
            match loaded {
                Some((old, true)) if old == stamp => {}
                Some((_, true)) => {
                    if self.failed_before(path, stamp) {
                        continue;
                    }
                    match self.reload(&name).await {
                        Ok(_) => report.reloaded.push(name),
                        Err(err) => self.record_failure(path, stamp, err, &mut report),
                    }
                }
                Some((_, false)) => {}
                None => {
                    if self.failed_before(path, stamp) {
                        continue;
                    }
                    match self.load_file(path).await {
                        Ok(_) => report.loaded.push(name),
                        Err(err) => self.record_failure(path, stamp, err, &mut report),
                    }
                }
            }
        }
        let gone: Vec<String> = self
            .plugins_read()
            .iter()
            .filter(|(_, e)| {
                e.plugin.path().parent() == Some(dir)
                    && !files.contains(&e.plugin.path().to_path_buf())
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Err(err) = self.unload(&name).await {
                report.failed.push(err);
            }
            report.unloaded.push(name);
        }
        Ok(report)
    }

    fn failed_before(&self, path: &Path, stamp: Stamp) -> bool {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner).get(path) == Some(&stamp)
    }

    fn record_failure(&self, path: &Path, stamp: Stamp, err: Error, report: &mut SyncReport) {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner).insert(path.to_owned(), stamp);
        report.failed.push(err);
    }

    /// Watches `dir`, syncing the host with it every `every` (see
    /// [`Host::sync_dir`]), until the returned [`Watcher`] is dropped.
    /// What changes shows in [`Host::events`].
    pub fn watch(self: &Arc<Self>, dir: impl Into<PathBuf>, every: Duration) -> Watcher {
        let host = Arc::downgrade(self);
        let dir = dir.into();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(host) = host.upgrade() else { break };
                match host.sync_dir(&dir).await {
                    Ok(report) => {
                        for err in report.failed {
                            tracing::warn!(target: "witplug::host", "watch: {err}");
                        }
                    }
                    Err(err) => tracing::warn!(target: "witplug::host", "watch: {err}"),
                }
            }
        });
        Watcher { task }
    }

    /// Compiles every component in `dir` into the cache without loading it,
    /// so that later starts load them without compiling. Returns the files
    /// compiled and the errors of those that are not valid components; core
    /// modules and WAT, quick to compile, are not cached.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] when the host has no cache folder, [`Error::Io`]
    /// when `dir` cannot be read.
    pub fn precompile(&self, dir: impl AsRef<Path>) -> Result<(Vec<PathBuf>, Vec<Error>)> {
        let Some(cache) = &self.cache else {
            return Err(Error::Setup("no cache folder is set (HostBuilder::cache_dir)".to_owned()));
        };
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for path in load::wasm_files(dir.as_ref())? {
            let compiled = load::read(&path, None).and_then(|bytes| {
                let bytes = load::wasm_bytes(&path, bytes)?;
                if load::kind(&path, &bytes)? == load::Kind::Module {
                    // Core modules compile in microseconds: they are not cached.
                    return Ok(false);
                }
                // The engine the plugin will load on, which its limits pick.
                let manifest_path = path.with_extension("toml");
                let manifest = Manifest::load(&manifest_path)?.unwrap_or_default();
                let limits = Limits::resolve(
                    &self.settings.limits,
                    &self.settings.ceilings,
                    &manifest.limits,
                )
                .map_err(|reason| Error::Manifest { path: manifest_path.clone(), reason })?;
                let runtime = self.engines.get(EngineKey::for_limits(&limits))?;
                cache.component(&runtime.engine, &bytes).map(|_| true).map_err(|err| {
                    Error::InvalidComponent {
                        path: path.clone(),
                        reason: crate::error::one_line(&err),
                    }
                })
            });
            match compiled {
                Ok(true) => done.push(path),
                Ok(false) => {}
                Err(err) => failed.push(err),
            }
        }
        Ok((done, failed))
    }

    /// How the precompiled cache has served, if there is one.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(Cache::stats)
    }

    /// A stream of what happens to plugins from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.services.events.subscribe()
    }

    /// Every plugin's metrics, and their totals.
    pub fn stats(&self) -> Stats {
        let parts: Vec<_> =
            self.plugins().iter().map(|p| (p.name().to_owned(), p.metrics_samples())).collect();
        let total = metrics::total(parts.iter().map(|(_, part)| part));
        Stats { plugins: parts.into_iter().map(|(name, (m, _))| (name, m)).collect(), total }
    }

    /// Subscribes host code to messages whose topic matches `pattern`
    /// (see [`Bus`] for patterns).
    pub fn subscribe(&self, pattern: impl Into<String>) -> Subscription {
        self.services.bus.subscribe_many(vec![pattern.into()], crate::bus::DEFAULT_QUEUE)
    }

    /// Publishes a message from host code; returns how many subscribers
    /// queued it.
    pub fn publish(&self, topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> usize {
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

/// Shuts down a replaced version once nothing can call it: its queued
/// messages are delivered, and calls made on it before the swap finish.
async fn retire(mut entry: Entry) {
    if let Some(delivery) = entry.close_delivery() {
        let _ = delivery.await;
    }
    let old = entry.plugin.clone();
    drop(entry);
    // Callers that fetched the old version before the swap may still call
    // it; wait until they let go (within reason), then shut it down.
    let patience = tokio::time::Instant::now() + Duration::from_secs(60);
    while Arc::strong_count(&old) > 1 && tokio::time::Instant::now() < patience {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = old.stop().await;
}

/// What one [`Host::sync_dir`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SyncReport {
    /// Plugins loaded from new files.
    pub loaded: Vec<String>,
    /// Plugins replaced by a new version.
    pub reloaded: Vec<String>,
    /// Plugins whose file is gone.
    pub unloaded: Vec<String>,
    /// What failed; a plugin whose reload failed keeps its old version.
    pub failed: Vec<Error>,
}

/// Watches a plugins folder while it lives; see [`Host::watch`].
#[derive(Debug)]
pub struct Watcher {
    task: JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
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
