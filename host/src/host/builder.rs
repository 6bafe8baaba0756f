//! Configuring a host: tools, configuration, grants, limits, the bus and
//! the cache, with every default written down.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use super::Host;
use crate::bus::{Bus, MessageBus};
use crate::compile::cache::Cache;
use crate::compile::engine::{EngineKey, Engines};
use crate::config::approval::Approval;
use crate::config::grants::Grants;
use crate::config::limits::Limits;
use crate::instance_state::Services;
use crate::kv::{Backend, Buckets, KeyValue};
use crate::observe::events::Events;
use crate::tools::{ToolRegistry, ToolResult, Tools};
use crate::{Error, Result};

/// Configures a [`Host`].
///
/// Defaults:
/// - no tools registered;
/// - no configuration beyond each plugin's `<name>.toml`;
/// - nothing granted beyond each plugin's manifest: no tools, no topics, no
///   files, no environment variables, no stdio, and never the network;
/// - [`Limits::default`] for every plugin, and [`Limits::default_ceilings`]
///   as the most a manifest may ask for;
/// - plugin files of at most [`DEFAULT_MAX_FILE_SIZE`] (256 MiB), and only
///   regular files: a FIFO or a device in the folder is reported, never
///   opened for reading;
/// - pools of at most 1,024 instances per plugin
///   ([`HostBuilder::max_pool_size`]);
/// - no key-value store: `wasi:keyvalue`'s `open` fails until
///   [`HostBuilder::data_dir`] or [`HostBuilder::key_value`] gives one, and
///   no bucket shared between plugins.
#[derive(Clone)]
pub struct HostBuilder {
    tools: Tools,
    pub(super) config: HashMap<String, BTreeMap<String, String>>,
    pub(super) grants: HashMap<String, Grants>,
    pub(super) approvals: HashMap<String, Approval>,
    pub(super) approval_required: bool,
    pub(super) limits: Limits,
    pub(super) ceilings: Limits,
    bus: Option<Arc<dyn MessageBus>>,
    cache_dir: Option<PathBuf>,
    pub(super) max_file_size: u64,
    pub(super) max_pool_size: u64,
    pub(super) switched_off: Vec<String>,
    keyvalue: Backend,
    shared_buckets: BTreeMap<String, Vec<String>>,
}

pub use crate::config::files::DEFAULT_MAX_FILE_SIZE;

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
            approvals: HashMap::new(),
            approval_required: false,
            limits: Limits::default(),
            ceilings: Limits::default_ceilings(),
            bus: None,
            cache_dir: None,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            max_pool_size: 1024,
            switched_off: Vec::new(),
            keyvalue: Backend::None,
            shared_buckets: BTreeMap::new(),
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

    /// Describes the host tool `name` (registered with [`HostBuilder::tool`]
    /// or [`HostBuilder::tool_async`]): plugins' calls of it are checked
    /// against `spec`'s input schema before it runs, and
    /// [`Host::tools`](crate::Host::tools) lists it with its description.
    ///
    /// ```
    /// use witplug_host::{Host, tools::ToolSpec};
    ///
    /// let schema = serde_json::json!({"type": "string"});
    /// let spec = ToolSpec::new("Upper-cases a JSON string", schema).unwrap();
    /// let host = Host::builder()
    ///     .tool("upper", |input| Ok(input.to_uppercase()))
    ///     .describe_tool("upper", spec)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(host.tools()[0].spec.description, "Upper-cases a JSON string");
    /// ```
    pub fn describe_tool(
        &mut self,
        name: impl Into<String>,
        spec: crate::tools::ToolSpec,
    ) -> &mut Self {
        self.tools.describe(name, spec);
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

    /// Runs the plugin `plugin` only as `approval` says: the bytes an
    /// operator pinned and at most the grants and limits they approved, or
    /// not at all (`witplug-registry` makes these from `witplug.lock`).
    ///
    /// ```
    /// use witplug_host::config::Approval;
    /// # fn approve(builder: &mut witplug_host::HostBuilder, sha256: String) {
    /// builder.approve("counter", Approval::Approved {
    ///     source: "registry.example/plugins/counter".into(),
    ///     sha256,
    ///     manifest: Box::default(),
    /// });
    /// # }
    /// ```
    pub fn approve(&mut self, plugin: impl Into<String>, approval: Approval) -> &mut Self {
        self.approvals.insert(plugin.into(), approval);
        self
    }

    /// Refuses every plugin no [`HostBuilder::approve`] names (a trust
    /// policy takes only the plugins a lock pins).
    pub fn require_approval(&mut self, required: bool) -> &mut Self {
        self.approval_required = required;
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

    /// The largest plugin file the host reads (default
    /// [`DEFAULT_MAX_FILE_SIZE`], 256 MiB). A larger file is refused from
    /// its size alone, before anything is read, with
    /// [`Error::TooLarge`](crate::Error::TooLarge).
    pub fn max_file_size(&mut self, bytes: u64) -> &mut Self {
        self.max_file_size = bytes;
        self
    }

    /// The most instances a manifest's `[pool] size` may ask for (default
    /// 1,024): a larger pool is refused at load, naming the ceiling.
    pub fn max_pool_size(&mut self, instances: u64) -> &mut Self {
        self.max_pool_size = instances.max(1);
        self
    }

    /// Switches off every WASI interface whose name starts with
    /// `interface` (`"wasi:sockets"`, `"wasi:sockets/udp"`): a component
    /// that imports one fails to load, naming it. Without this, every
    /// interface is linked and what was not granted is refused when used.
    pub fn switch_off(&mut self, interface: impl Into<String>) -> &mut Self {
        self.switched_off.push(interface.into());
        self
    }

    /// A builder set as `config` says: its limits and ceilings, cache and
    /// data folders, largest plugin file and shared buckets. (The plugins
    /// folder, NATS and the metrics endpoint are the caller's to use: a
    /// builder holds no folder and opens no connection.)
    ///
    /// ```no_run
    /// # fn run() -> witplug_host::Result<()> {
    /// use witplug_host::{HostBuilder, HostConfig};
    ///
    /// let config = HostConfig::load("witplug.toml".as_ref())?.unwrap_or_default();
    /// let host = HostBuilder::from_config(&config)?.build()?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] when a limit passes its ceiling.
    pub fn from_config(config: &crate::HostConfig) -> Result<Self> {
        let mut builder = Self::default();
        let (limits, ceilings) = config.limits()?;
        builder.limits(limits).ceilings(ceilings);
        if let Some(dir) = &config.cache {
            builder.cache_dir(dir);
        }
        if let Some(dir) = &config.data {
            builder.data_dir(dir);
        }
        if let Some(bytes) = config.max_file_size {
            builder.max_file_size(bytes);
        }
        for (name, plugins) in &config.shared_buckets {
            builder.share_bucket(name, plugins);
        }
        Ok(builder)
    }

    /// Keeps the host's state in folder `dir`: its plugins' key-value
    /// buckets in one redb database, `dir/keyvalue.redb`
    /// ([`DATABASE_FILE`](crate::kv::DATABASE_FILE)), created on first use.
    /// The CLI uses `$WITPLUG_DATA` or `~/.local/share/witplug`.
    ///
    /// ```no_run
    /// # fn run() -> witplug_host::Result<()> {
    /// let host = witplug_host::Host::builder().data_dir("/var/lib/witplug").build()?;
    /// # Ok(()) }
    /// ```
    pub fn data_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.keyvalue = Backend::DataDir(dir.into());
        self
    }

    /// Keeps the plugins' key-value buckets in `store` instead: NATS
    /// JetStream ([`JetStreamKeyValue`](crate::nats::JetStreamKeyValue), with
    /// the `nats` feature), or a store of the embedder's.
    pub fn key_value(&mut self, store: Arc<dyn KeyValue>) -> &mut Self {
        self.keyvalue = Backend::Given(store);
        self
    }

    /// Shares the bucket `name` between `plugins`: for each of them,
    /// opening `name` opens the one shared bucket instead of a bucket of
    /// its own. Each still needs `name` in its `[grants] keyvalue`.
    ///
    /// ```
    /// let mut builder = witplug_host::Host::builder();
    /// builder.share_bucket("orders", ["order-desk", "ledger"]);
    /// ```
    pub fn share_bucket<I, S>(&mut self, name: impl Into<String>, plugins: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let entry = self.shared_buckets.entry(name.into()).or_default();
        entry.extend(plugins.into_iter().map(Into::into));
        self
    }

    /// Builds the host.
    ///
    /// # Errors
    ///
    /// [`Error::Setup`] when the default limits pass the ceilings, or when
    /// wasmtime cannot be configured on this machine, or a shared
    /// bucket's name is not a bucket name.
    pub fn build(&self) -> Result<Host> {
        if let Some(bad) = self.shared_buckets.keys().find(|name| !crate::kv::is_bucket_name(name))
        {
            return Err(Error::Setup(format!(
                "share_bucket: `{bad}` is not a bucket name (1 to 64 of a-z A-Z 0-9 _ -)"
            )));
        }
        let defaults = Limits::resolve(&self.limits, &self.ceilings, &Default::default())
            .map_err(|reason| Error::Setup(format!("the default limits: {reason}")))?;
        let engines = Engines::default();
        // Once per process: a few milliseconds no call then waits for.
        crate::clock::calibrate();
        let default_engine = engines.get(EngineKey::for_limits(&defaults))?.engine.clone();
        Ok(Host {
            engines,
            default_engine,
            services: Arc::new(Services {
                tools: ToolRegistry::new(&self.tools),
                bus: self.bus.clone().unwrap_or_else(|| Arc::new(Bus::default())),
                events: Events::default(),
                keyvalue: Buckets::new(self.keyvalue.clone(), self.shared_buckets.clone()),
                resources: Default::default(),
            }),
            settings: self.clone(),
            plugins: RwLock::default(),
            failed: Mutex::default(),
            cache: self.cache_dir.clone().map(|dir| Arc::new(Cache::new(dir))),
        })
    }
}
