//! The host: one engine, the linked imports, and the plugins it loaded.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

use crate::bus::{Bus, Message, Subscription};
use crate::load::{self, LoadReport};
use crate::manifest::Manifest;
use crate::state::{PluginContext, PluginState, Services};
use crate::tools::{ToolResult, Tools};
use crate::{Error, Plugin, Result};

/// Loads plugins and runs them with what it grants them.
///
/// One host holds one wasmtime `Engine` and one `Linker` with the
/// `witplug:plugin/host` imports and WASI (granting nothing) defined once;
/// every plugin is pre-linked against it when it loads.
pub struct Host {
    engine: Engine,
    linker: Linker<PluginState>,
    services: Arc<Services>,
    config: HashMap<String, BTreeMap<String, String>>,
    plugins: RwLock<BTreeMap<String, Arc<Plugin>>>,
}

/// Configures a [`Host`].
///
/// Defaults:
/// - no tools: every `call-tool` is `error::not-found`;
/// - no configuration beyond each plugin's `<name>.toml`;
/// - WASI with nothing granted: no files, environment, network or stdio.
#[derive(Debug, Default)]
pub struct HostBuilder {
    tools: Tools,
    config: HashMap<String, BTreeMap<String, String>>,
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

    /// Builds the host.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] when wasmtime cannot be configured on this machine.
    pub fn build(&self) -> Result<Host> {
        let setup = |err: wasmtime::Error| Error::Setup(crate::error::one_line(&err));
        let mut config = Config::new();
        config.wasm_component_model(true);
        // No plugin world uses component-model async; without it a call is
        // cheaper.
        config.concurrency_support(false);
        let engine = Engine::new(&config).map_err(setup)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(setup)?;
        crate::bindings::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(setup)?;

        Ok(Host {
            engine,
            linker,
            services: Arc::new(Services { tools: self.tools.clone(), bus: Bus::default() }),
            config: self.config.clone(),
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
        let manifest = Manifest::load(&path.with_extension("toml"))?.unwrap_or_default();
        let (size, component, pre) = load::compile(&self.engine, &self.linker, path)?;

        let mut config = manifest.config_strings();
        if let Some(overrides) = self.config.get(&name) {
            config.extend(overrides.clone());
        }
        let context =
            Arc::new(PluginContext { name: name.clone(), config, services: self.services.clone() });
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

    /// The wasmtime engine every plugin runs on.
    pub fn engine(&self) -> &Engine {
        &self.engine
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
            .finish_non_exhaustive()
    }
}
