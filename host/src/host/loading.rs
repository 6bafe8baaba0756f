//! Loading into a host: a folder, a file or WAT text becomes a plugin,
//! compiled (or taken from the cache), pre-linked and registered.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use super::{Entry, Host, Stamp};
use crate::PluginError;
use crate::bus::Subscription;
use crate::clock::Span;
use crate::compile::code::{self, Linked, Wasm};
use crate::compile::engine::EngineKey;
use crate::config::approval::Approval;
use crate::config::limits::Limits;
use crate::config::manifest::Manifest;
use crate::instance_state::{PluginContext, WasiConfig};
use crate::name::Name;
use crate::observe::events::Event;
use crate::tools::ToolProvider;
use crate::tools::call_chain::CallContext;
use crate::tools::remote::{ToolHandler, ToolRequest, ToolService};
use crate::{Error, Plugin, Result};

/// What loading a folder gave: the plugins that loaded and, for every file
/// that did not, why.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LoadReport {
    /// The plugins that loaded, by file name.
    pub loaded: Vec<Arc<Plugin>>,
    /// One error per file that did not load; each names the file.
    pub failed: Vec<Error>,
}

impl Host {
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
        for path in code::wasm_files(dir.as_ref())? {
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
        let name = code::plugin_name(path)?;
        if self.plugins_read().contains_key(&name) {
            return Err(Error::DuplicatePlugin { name, path: path.to_owned() });
        }
        let stamp = Stamp::of(path);
        let plugin = self.prepare(path, &name, None).await?;
        let wiring = self.wire(&plugin).await?;
        self.install(plugin.clone(), stamp, None, wiring)?;
        self.services.events.send(|| Event::Loaded { plugin: name.into() });
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
        let wiring = self.wire(&plugin).await?;
        self.install(plugin.clone(), Stamp::of(&path), None, wiring)?;
        self.services.events.send(|| Event::Loaded { plugin: name.into() });
        Ok(plugin)
    }

    /// Compiles a plugin file into a plugin that is not installed yet.
    pub(super) async fn prepare(
        &self,
        path: &Path,
        name: &str,
        source: Option<Vec<u8>>,
    ) -> Result<Arc<Plugin>> {
        let Plan { manifest_path, manifest, limits } = self.plan(path, source.is_some())?;
        let manifest_error =
            |reason: String| Error::Manifest { path: manifest_path.clone(), reason };
        let pinned = self.approved(name, path, &manifest_path, &manifest)?;
        let pool = manifest.pool.resolve().map_err(manifest_error)?;
        if pool.size as u64 > self.settings.max_pool_size {
            return Err(manifest_error(format!(
                "pool.size = {} is over the host's ceiling of {}",
                pool.size, self.settings.max_pool_size
            )));
        }
        let mut grants = manifest.grants.clone();
        if source.is_none() {
            grants.anchor(path.parent().unwrap_or(Path::new("."))).map_err(manifest_error)?;
        }
        if let Some(extra) = self.settings.grants.get(name) {
            grants.extend(extra.clone());
        }
        grants.check_buckets().map_err(manifest_error)?;
        for address in &grants.connect {
            crate::config::network::check_grant(address).map_err(manifest_error)?;
        }
        for origin in &grants.http {
            crate::config::http_origins::check_grant(origin).map_err(manifest_error)?;
        }
        for pattern in &grants.subscribe {
            self.services.bus.check_pattern(pattern).map_err(|reason| {
                manifest_error(format!("`subscribe`: the bus cannot carry `{pattern}`: {reason}"))
            })?;
        }

        let runtime = self.engines.get(EngineKey::for_limits(&limits))?;
        let (cache, off) = (self.cache.clone(), self.settings.switched_off.clone());
        let (file, limit) = (path.to_owned(), self.settings.max_file_size);
        // A file the cache has seen as it is now is neither read nor
        // compiled: mapping its entry takes about as long as handing the
        // work to another thread would, so it is done here.
        let known = match (&source, cache.as_deref()) {
            (None, Some(cache)) => {
                let (engine, linker) = (&runtime.engine, &runtime.linker);
                code::known(engine, linker, cache, &off, &file, pinned.as_deref(), limit)
            }
            _ => None,
        };
        let compile = move || {
            let read = match source {
                Some(bytes) => code::Read { bytes, fingerprint: None },
                None => code::read(&file, pinned.as_deref(), limit)?,
            };
            let classified = code::classify(&file, read)?;
            let linked = code::build(&runtime, cache.as_deref(), &off, &file, &classified)?;
            Ok((linked, classified.wasm.len() as u64))
        };
        let (linked, size) = match known {
            Some(found) => found?,
            None => self.compile_off_thread(name, path, compile).await?,
        };

        let dirs = grants.open_dirs().map_err(manifest_error)?;
        let mut config = manifest.config_strings();
        if let Some(overrides) = self.settings.config.get(name) {
            config.extend(overrides.clone());
        }
        let context = Arc::new(PluginContext {
            name: name.into(),
            wasi_config: WasiConfig::new(&config),
            config,
            grants,
            dirs,
            deadline: Span::of(limits.deadline),
            limits,
            pool,
            provides: manifest.provides.tools.clone(),
            services: self.services.clone(),
            denied: Default::default(),
            denial_window: Default::default(),
            denials_in_window: Default::default(),
            kv: Default::default(),
        });
        Ok(Arc::new(Plugin::new(context, path.to_owned(), size, linked).await?))
    }

    /// Runs `compile` (reading and compiling a plugin file: up to seconds
    /// of CPU) off the runtime's worker threads, so other plugins' calls go
    /// on meanwhile; a compile of over a second is told, as it starts and as
    /// it ends.
    async fn compile_off_thread(
        &self,
        name: &str,
        path: &Path,
        compile: impl FnOnce() -> Result<(Linked, u64)> + Send + 'static,
    ) -> Result<(Linked, u64)> {
        let compiling = tokio::task::spawn_blocking(compile);
        let started = std::time::Instant::now();
        let mut compiling = std::pin::pin!(compiling);
        let compiled = match tokio::time::timeout(Duration::from_secs(1), &mut compiling).await {
            Ok(compiled) => compiled,
            Err(_) => {
                let cached_afterwards = self.cache.is_some();
                let plugin = || Name::from(name);
                self.services
                    .events
                    .send(|| Event::Compiling { plugin: plugin(), cached_afterwards });
                let compiled = compiling.await;
                let took = started.elapsed();
                self.services.events.send(|| Event::Compiled { plugin: plugin(), took });
                compiled
            }
        };
        compiled.map_err(|err| Error::Setup(format!("compiling {}: {err}", path.display())))?
    }

    /// Makes a prepared plugin the one its name finds. `replacing` is the
    /// version a reload expects to replace, or `None` for a new plugin; if
    /// the map no longer holds what the caller expects (a load or unload
    /// raced it), nothing changes. Returns the replaced entry.
    pub(super) fn install(
        &self,
        plugin: Arc<Plugin>,
        stamp: Stamp,
        replacing: Option<&Arc<Plugin>>,
        wiring: Wiring,
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
        let Wiring { inbox, offered } = wiring;
        let delivery = inbox.map(|inbox| self.start_delivery(&plugin, inbox));
        Ok(plugins.insert(name, Entry { plugin, delivery, offered, stamp }))
    }

    /// Connects a prepared plugin to the bus: subscribes it to what it was
    /// granted, and offers the tools it provides to other hosts when the
    /// bus reaches any. Both are in place when this returns.
    pub(super) async fn wire(&self, plugin: &Arc<Plugin>) -> Result<Wiring> {
        let patterns = plugin.grants().subscribe.clone();
        let inbox = if patterns.is_empty() || !plugin.is_guest() {
            None
        } else {
            let limits = plugin.limits();
            let messages = usize::try_from(limits.message_queue).unwrap_or(usize::MAX);
            let queue = crate::bus::QueueBounds::new(messages, limits.message_queue_bytes);
            let inbox =
                self.services.bus.subscribe_ready(patterns, queue).await.map_err(|reason| {
                    Error::Conflict {
                        path: plugin.path().to_owned(),
                        reason: format!("cannot subscribe: {reason}"),
                    }
                })?;
            Some(inbox)
        };
        let Some(remote) = self.services.bus.remote_tools() else {
            return Ok(Wiring { inbox, offered: Vec::new() });
        };
        let mut offered = Vec::new();
        for name in plugin.provides() {
            let provider: Arc<dyn ToolProvider> = plugin.clone();
            let handler = remote_handler(Arc::downgrade(&provider));
            // Its description travels with it, for hosts that list tools.
            let spec = plugin.tools().iter().find(|(tool, _)| tool == name).map(|(_, spec)| spec);
            let description = spec.and_then(|spec| serde_json::to_string(spec).ok());
            let offer = match description {
                Some(description) => remote.serve_described(name, description, handler),
                None => remote.serve(name, handler),
            };
            let service = offer.await.map_err(|reason| Error::Conflict {
                path: plugin.path().to_owned(),
                reason: format!("cannot offer tool `{name}` to other hosts: {reason}"),
            })?;
            offered.push(service);
        }
        Ok(Wiring { inbox, offered })
    }

    /// Points the tools `plugin` provides at it, refusing tools that the
    /// host or another plugin already provides.
    fn register_tools(&self, plugin: &Arc<Plugin>) -> Result<()> {
        let provider: Arc<dyn ToolProvider> = plugin.clone();
        self.services
            .tools
            .provide(&provider, plugin.provides())
            .map_err(|reason| Error::Conflict { path: plugin.path().to_owned(), reason })
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
        for path in code::wasm_files(dir.as_ref())? {
            let compiled = code::read(&path, None, self.settings.max_file_size).and_then(|read| {
                let classified = code::classify(&path, read)?;
                if classified.kind == Wasm::Module(()) {
                    // Core modules compile in microseconds: they are not cached.
                    return Ok(false);
                }
                // The engine the plugin will load on, which its limits pick.
                let plan = self.plan(&path, false)?;
                let runtime = self.engines.get(EngineKey::for_limits(&plan.limits))?;
                code::compile_into(cache, &runtime.engine, &path, &classified.wasm)?;
                Ok(true)
            });
            match compiled {
                Ok(true) => done.push(path),
                Ok(false) => {}
                Err(err) => failed.push(err),
            }
        }
        Ok((done, failed))
    }
}

/// What a plugin file is loaded with, worked out before its code: its
/// manifest and its limits (the host's, then the manifest's, within the
/// ceilings), which pick its engine once the manifest is checked.
struct Plan {
    manifest_path: PathBuf,
    manifest: Manifest,
    limits: Limits,
}

impl Host {
    /// The SHA-256 a plugin must have: the one its operator approved
    /// (`HostBuilder::approve`), once its manifest asks for no more than
    /// was approved, else its manifest's own pin, if any.
    fn approved(
        &self,
        name: &str,
        path: &Path,
        manifest_path: &Path,
        manifest: &Manifest,
    ) -> Result<Option<String>> {
        match self.settings.approvals.get(name) {
            None if self.settings.approval_required => Err(Error::Unapproved {
                path: path.to_owned(),
                reason: format!(
                    "plugin `{name}` is not pinned in witplug.lock, and the trust policy takes \
                     only the plugins a lock pins"
                ),
            }),
            None => Ok(manifest.sha256.clone()),
            Some(Approval::Refused { reason }) => {
                Err(Error::Unapproved { path: path.to_owned(), reason: reason.clone() })
            }
            Some(Approval::Approved { source, sha256, manifest: approved }) => {
                let more = manifest.widening(approved, &self.settings.limits);
                if !more.is_empty() {
                    return Err(Error::Unapproved {
                        path: manifest_path.to_owned(),
                        reason: format!(
                            "it asks for more than witplug.lock approved for {source}: {}",
                            more.join("; ")
                        ),
                    });
                }
                Ok(Some(sha256.clone()))
            }
        }
    }

    /// The [`Plan`] of the plugin at `path`: the first step of every load
    /// and of `precompile`. A plugin given as text has no file, hence no
    /// manifest.
    fn plan(&self, path: &Path, from_text: bool) -> Result<Plan> {
        let manifest_path = path.with_extension("toml");
        let manifest = if from_text {
            Manifest::default()
        } else {
            Manifest::load(&manifest_path)?.unwrap_or_default()
        };
        let limits =
            Limits::resolve(&self.settings.limits, &self.settings.ceilings, &manifest.limits)
                .map_err(|reason| Error::Manifest { path: manifest_path.clone(), reason })?;
        Ok(Plan { manifest_path, manifest, limits })
    }
}

/// What connects a plugin to the bus, made before it is installed.
pub(super) struct Wiring {
    inbox: Option<Subscription>,
    offered: Vec<ToolService>,
}

/// Answers other hosts' calls of a tool with the plugin that provides it,
/// while it is loaded: the cycle check and the caller's deadline hold here
/// as they do for a call from this host.
fn remote_handler(provider: Weak<dyn ToolProvider>) -> ToolHandler {
    Arc::new(move |request: ToolRequest| {
        let provider = provider.upgrade();
        Box::pin(async move {
            let Some(provider) = provider else {
                return Err(PluginError::NotFound(request.name));
            };
            let me = provider.provider();
            if request.chain.iter().any(|caller| me == caller) {
                let cycle = format!("{} -> {me}", request.chain.join(" -> "));
                return Err(PluginError::Failed(format!("refused a tool cycle: {cycle}")));
            }
            let timeout = request.timeout;
            let call = CallContext { chain: request.chain, hops: request.hops, client: None };
            let run = provider.run_tool(call, &request.name, &request.input);
            match tokio::time::timeout(timeout, run).await {
                Ok(Ok(output)) => Ok(output),
                Ok(Err(Error::Plugin { error, .. })) => Err(error),
                Ok(Err(other)) => Err(PluginError::Failed(other.to_string())),
                Err(_) => Err(PluginError::Failed(format!(
                    "tool `{}` of plugin `{me}` did not answer within the caller's {} ms",
                    request.name,
                    timeout.as_millis()
                ))),
            }
        })
    })
}
