//! The host: one engine, the linked imports, and the plugins it loaded.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use wasmtime::Engine;

use crate::bus::{Bus, Message, Subscription};
use crate::engine::{EngineKey, Engines};
use crate::grants::Grants;
use crate::limits::Limits;
use crate::load::{self, LoadReport};
use crate::manifest::Manifest;
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
    plugins: RwLock<BTreeMap<String, Arc<Plugin>>>,
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
#[derive(Debug, Clone)]
pub struct HostBuilder {
    tools: Tools,
    config: HashMap<String, BTreeMap<String, String>>,
    grants: HashMap<String, Grants>,
    limits: Limits,
    ceilings: Limits,
}

impl Default for HostBuilder {
    fn default() -> Self {
        Self {
            tools: Tools::default(),
            config: HashMap::new(),
            grants: HashMap::new(),
            limits: Limits::default(),
            ceilings: Limits::default_ceilings(),
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

    /// Builds the host.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] when the default limits pass the ceilings, or when
    /// wasmtime cannot be configured on this machine.
    pub fn build(&self) -> Result<Host> {
        let defaults = Limits::resolve(&self.limits, &self.ceilings, &Default::default())
            .map_err(|reason| Error::Setup(format!("the default limits: {reason}")))?;
        let engines = Engines::default();
        let default_engine = engines.get(EngineKey::for_limits(&defaults))?.engine.clone();
        Ok(Host {
            engines,
            default_engine,
            services: Arc::new(Services { tools: self.tools.clone(), bus: Bus::default() }),
            settings: self.clone(),
            plugins: RwLock::default(),
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
    /// # Errors
    ///
    /// An error naming the file: [`Error::NotWasm`], [`Error::CoreModule`],
    /// [`Error::InvalidComponent`], [`Error::MissingImport`],
    /// [`Error::Manifest`], [`Error::DuplicatePlugin`], or an error from the
    /// plugin's `info` export.
    pub async fn load_file(&self, path: impl AsRef<Path>) -> Result<Arc<Plugin>> {
        let path = path.as_ref();
        let name = load::plugin_name(path)?;
        if self.plugins_read().contains_key(&name) {
            return Err(Error::DuplicatePlugin { name, path: path.to_owned() });
        }
        let manifest_path = path.with_extension("toml");
        let manifest = Manifest::load(&manifest_path)?.unwrap_or_default();
        let manifest_error =
            |reason: String| Error::Manifest { path: manifest_path.clone(), reason };
        let limits =
            Limits::resolve(&self.settings.limits, &self.settings.ceilings, &manifest.limits)
                .map_err(manifest_error)?;
        let mut grants = manifest.grants.clone();
        grants.anchor(path.parent().unwrap_or(Path::new("."))).map_err(manifest_error)?;
        if let Some(extra) = self.settings.grants.get(&name) {
            grants.extend(extra.clone());
        }

        let bytes = load::read(path, manifest.sha256.as_deref())?;
        let runtime = self.engines.get(EngineKey::for_limits(&limits))?;
        let (component, pre) = load::compile(&runtime.engine, &runtime.linker, path, &bytes)?;

        let mut config = manifest.config_strings();
        if let Some(overrides) = self.settings.config.get(&name) {
            config.extend(overrides.clone());
        }
        let context = Arc::new(PluginContext {
            name: name.clone(),
            config,
            grants,
            limits,
            services: self.services.clone(),
        });
        let size = bytes.len() as u64;
        let plugin = Arc::new(Plugin::new(context, path.to_owned(), size, component, pre).await?);

        let mut plugins = self.plugins.write().unwrap_or_else(PoisonError::into_inner);
        if plugins.contains_key(&name) {
            return Err(Error::DuplicatePlugin { name, path: path.to_owned() });
        }
        plugins.insert(name, plugin.clone());
        Ok(plugin)
    }

    /// The loaded plugin called `name`.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchPlugin`] listing the loaded plugins.
    pub fn plugin(&self, name: &str) -> Result<Arc<Plugin>> {
        let plugins = self.plugins_read();
        plugins.get(name).cloned().ok_or_else(|| Error::NoSuchPlugin {
            name: name.to_owned(),
            available: plugins.keys().cloned().collect(),
        })
    }

    /// Every loaded plugin, by name.
    pub fn plugins(&self) -> Vec<Arc<Plugin>> {
        self.plugins_read().values().cloned().collect()
    }

    /// Subscribes host code to messages whose topic matches `pattern`
    /// (see [`Bus`] for patterns).
    pub fn subscribe(&self, pattern: impl Into<String>) -> Subscription {
        self.services.bus.subscribe(pattern)
    }

    /// Publishes a message from host code; returns how many subscribers
    /// queued it.
    pub fn publish(&self, topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> usize {
        self.services.bus.publish(Message {
            topic: topic.into(),
            payload: payload.into(),
            from: None,
        })
    }

    /// The host's message bus.
    pub fn bus(&self) -> &Bus {
        &self.services.bus
    }

    /// The wasmtime engine of plugins under the default limits.
    pub fn engine(&self) -> &Engine {
        &self.default_engine
    }

    fn plugins_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Plugin>>> {
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
