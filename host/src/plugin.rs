//! A loaded [`Plugin`]: its compiled code, its instances, its lifecycle
//! ([`Lifecycle`]), and calls into it, typed or dynamic ([`Export`],
//! [`CoreExport`] for core modules); a [`Lease`] holds one instance for a
//! batch of calls. [`PluginState`] is what one instance's `Store` holds,
//! for a host world of its own.
//!
//! Inside: the pool of instance slots (`pool`, `atomic_box`), taking one
//! (`checkout`), filling it (`instance`), the call (`call`: run, deadline,
//! trap naming), dynamic and core calls (`dynamic`, `exports`,
//! `core_module`), the lifecycle (`lifecycle`), leases (`lease`).

mod atomic_box;
pub(crate) mod call;
mod checkout;
mod core_module;
mod dynamic;
mod exports;
mod instance;
mod lease;
mod lifecycle;
mod pool;
mod serve;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

use crate::clock::Moment;
use crate::compile::code::{Code, Linked, Wasm};
use crate::contract::{Contract, GuestIndices};
use crate::plugin::call::deadline;
use crate::tools::call_chain::{CallContext, Direct};
use crate::tools::schema::{self, SchemaBounds};
use crate::tools::tool_spec::ToolSpec;

/// A plugin's tool descriptions up to this size compile where it loads.
const INLINE_SCHEMAS: u64 = 4 << 10;
use crate::instance_state::PluginContext;

use crate::observe::events::{Event, Events};
use crate::observe::metrics::{Counters, Histogram, Metrics};
use crate::tools::{ProviderFuture, ToolProvider};
use crate::{Error, PluginError, Result};

use checkout::Source;
pub use exports::Export;
pub use lease::Lease;
pub use lifecycle::Lifecycle;
pub use wasmtime::Val as CoreVal;

pub use crate::imports::core_abi::MODULE as CORE_ABI_MODULE;
pub use crate::instance_state::PluginState;
pub use crate::name::Name;
use lifecycle::Phase;
use pool::Pool;

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The plugin's own name for itself (its crate name for SDK plugins).
    pub name: String,
    /// Its version; empty for worlds without an `info` export.
    pub version: String,
    /// One line saying what it does; empty for worlds without `info`.
    pub description: String,
    /// The contract version it targets; `None` for a component that uses
    /// no witplug interface (plain WASI) and for a core module.
    pub contract: Option<Contract>,
}

/// A function a core module exports, with its wasm type.
#[derive(Debug, Clone)]
pub struct CoreExport {
    /// Its export name.
    pub name: String,
    /// Its type, e.g. `(func (param i32) (result i32))`.
    pub ty: wasmtime::FuncType,
    pub(crate) label: Name,
}

/// The names of the exports the host calls itself, made once, so that an
/// event names them without allocating.
#[derive(Debug)]
struct Labels {
    handle: Name,
    on_message: Name,
    run_tool: Name,
    list_resources: Name,
    list_resource_templates: Name,
    read_resource: Name,
    list_prompts: Name,
    get_prompt: Name,
    complete: Name,
    memory_read: Name,
    memory_write: Name,
}

impl Default for Labels {
    fn default() -> Self {
        Self {
            handle: "handle".into(),
            on_message: "on-message".into(),
            run_tool: "run-tool".into(),
            list_resources: "list-resources".into(),
            list_resource_templates: "list-resource-templates".into(),
            read_resource: "read-resource".into(),
            list_prompts: "list-prompts".into(),
            get_prompt: "get-prompt".into(),
            complete: "complete".into(),
            memory_read: "memory.read".into(),
            memory_write: "memory.write".into(),
        }
    }
}

/// A plugin loaded from a component file.
///
/// A plugin serves calls from a pool of instances ([`PoolConfig`](crate::config::PoolConfig), one by
/// default, so its state persists across calls and calls take turns). Every
/// call runs within the plugin's [`Limits`](crate::Limits). A trap or a
/// limit throws the instance away: the call that failed returns the reason,
/// the next call gets a fresh instance built from the pre-linked component,
/// and [`Plugin::restarts`] counts it.
///
/// All calls are `async` and need a tokio runtime with time enabled.
pub struct Plugin {
    context: Arc<PluginContext>,
    path: PathBuf,
    size: u64,
    info: PluginInfo,
    engine: Engine,
    code: Code,
    guest: Option<GuestIndices>,
    /// The tools it provides, by name, as described.
    tools: Vec<(String, ToolSpec)>,
    exports: Vec<Export>,
    core_exports: Vec<CoreExport>,
    pool: Pool,
    phase: Phase,
    /// Counts no slot holder writes: calls refused before they held a slot,
    /// restarts, dropped messages.
    shared: Counters,
    labels: Labels,
}

impl Plugin {
    pub(crate) async fn new(
        context: Arc<PluginContext>,
        path: PathBuf,
        size: u64,
        linked: Linked,
    ) -> Result<Self> {
        let Linked { code, contract } = linked;
        let (engine, guest, exports, core_exports) = match &code {
            Wasm::Component((component, pre)) => {
                let engine = pre.engine().clone();
                let exports = exports::list_exports(&engine, component);
                (engine, GuestIndices::new(contract, pre), exports, Vec::new())
            }
            Wasm::Module(pre) => {
                let engine = pre.module().engine().clone();
                let core_exports = pre
                    .module()
                    .exports()
                    .filter_map(|export| {
                        let ty = export.ty().func()?.clone();
                        let name = export.name();
                        let label = crate::text::sanitize(name, crate::text::NAME).into();
                        Some(CoreExport { name: name.to_owned(), ty, label })
                    })
                    .collect();
                (engine, None, Vec::new(), core_exports)
            }
        };
        let mut plugin = Self {
            info: PluginInfo {
                name: context.name.to_string(),
                version: String::new(),
                description: String::new(),
                contract,
            },
            pool: Pool::new(context.pool.size),
            context,
            path,
            size,
            engine,
            code,
            guest,
            tools: Vec::new(),
            exports,
            core_exports,
            phase: Phase::default(),
            shared: Counters::default(),
            labels: Labels::default(),
        };
        if plugin.guest.is_some() {
            let (info, described) = plugin.read_info().await?;
            plugin.info = PluginInfo { contract, ..info };
            plugin.tools = plugin.agree(contract, described).await?;
        }
        Ok(plugin)
    }

    /// The tools the plugin provides, each described: for 0.2, what it
    /// describes, which must be exactly what its manifest provides; for
    /// 0.1, each provided tool as taking a string, with the plugin's own
    /// description.
    async fn agree(
        &self,
        contract: Option<Contract>,
        described: Vec<crate::contract::v0_2::witplug::plugin::types::ToolDescription>,
    ) -> Result<Vec<(String, ToolSpec)>> {
        let refuse = |reason: String| Error::ToolDescriptions { path: self.path.clone(), reason };
        let provided = &self.context.provides;
        if contract == Some(Contract::V0_1) {
            let spec = ToolSpec::plain(self.info.description.clone());
            return Ok(provided.iter().map(|name| (name.clone(), spec.clone())).collect());
        }
        // What the plugin described is bounded before anything is parsed.
        let limits = &self.context.limits;
        let bytes: u64 = described
            .iter()
            .map(|tool| {
                let output = tool.output_schema.as_ref().map_or(0, String::len);
                (tool.name.len() + tool.description.len() + tool.input_schema.len() + output) as u64
            })
            .sum();
        if bytes > limits.tool_descriptions {
            return Err(refuse(format!(
                "its tool descriptions take {}, over the tool-descriptions limit of {}",
                crate::text::format_size(bytes),
                crate::text::format_size(limits.tool_descriptions)
            )));
        }
        for (at, description) in described.iter().enumerate() {
            // Names first: a schema is parsed and compiled only for a tool
            // the operator provides, once.
            let shown = crate::text::sanitize(&description.name, crate::text::NAME);
            if !provided.contains(&description.name) {
                return Err(refuse(format!(
                    "describes tool `{shown}`, which its manifest does not provide (add it to `[provides] tools`)"
                )));
            }
            if described[..at].iter().any(|other| other.name == description.name) {
                return Err(refuse(format!("describes tool `{shown}` twice")));
            }
        }
        if let Some(missing) =
            provided.iter().find(|name| !described.iter().any(|tool| tool.name == **name))
        {
            return Err(refuse(format!(
                "its manifest provides tool `{missing}`, which the plugin does not describe"
            )));
        }
        // Parsing and compiling run off the async workers, within the
        // plugin's deadline (a few KiB of schemas compile in microseconds,
        // where they are). The patterns of all its schemas together count
        // against `schema-patterns`.
        let bounds = SchemaBounds::of(limits);
        let compile = move || {
            let mut tools = Vec::with_capacity(described.len());
            let mut patterns = 0;
            for description in described {
                let (name, spec, held) = ToolSpec::from_plugin(description, &bounds)?;
                patterns += held;
                if patterns > bounds.patterns {
                    return Err(format!(
                        "its tool schemas hold {patterns} patterns together, over the schema-patterns limit of {}",
                        bounds.patterns
                    ));
                }
                tools.push((name, spec));
            }
            Ok(tools)
        };
        let mut tools = if bytes <= INLINE_SCHEMAS {
            compile().map_err(refuse)?
        } else {
            schema::compile_off("its tool schemas", limits.deadline, compile)
                .await
                .map_err(refuse)?
        };
        tools.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(tools)
    }

    /// The name the host knows it by: its file name without `.wasm`.
    pub fn name(&self) -> &str {
        &self.context.name
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// What the plugin says about itself (its `info` export).
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Whether it targets the default `plugin` world, so [`Plugin::handle`]
    /// and [`Plugin::on_message`] can be called.
    pub fn is_guest(&self) -> bool {
        self.guest.is_some()
    }

    /// Where it is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        self.phase.lifecycle(self.pool.busy())
    }

    /// How many times an instance was thrown away after a trap or a limit.
    pub fn restarts(&self) -> u64 {
        self.shared.restarts()
    }

    /// Its calls, outcomes and times since it was loaded.
    pub fn metrics(&self) -> Metrics {
        self.metrics_histogram().0
    }

    /// Its metrics, and the histogram of its call durations for totals.
    pub(crate) fn metrics_histogram(&self) -> (Metrics, Histogram) {
        let mut metrics = Metrics::default();
        let mut histogram = Histogram::default();
        self.pool.read_counters(&mut metrics, &mut histogram);
        self.shared.read_into(&mut metrics, &mut histogram);
        metrics.denied = self.context.denied.load(std::sync::atomic::Ordering::Relaxed);
        self.context.kv.read_into(&mut metrics);
        crate::observe::metrics::finish(&mut metrics, &histogram);
        (metrics, histogram)
    }

    /// The limits it runs under.
    pub fn limits(&self) -> &crate::Limits {
        &self.context.limits
    }

    /// What it was granted.
    pub fn grants(&self) -> &crate::Grants {
        &self.context.grants
    }

    /// The tools it provides to other plugins.
    pub fn provides(&self) -> &[String] {
        &self.context.provides
    }

    /// The tools it provides, by name, with their descriptions and schemas.
    pub fn tools(&self) -> &[(String, ToolSpec)] {
        &self.tools
    }

    /// Every function the plugin exports, for dynamic calls.
    pub fn exports(&self) -> &[Export] {
        &self.exports
    }

    /// The compiled component; `None` for a core module.
    pub fn component(&self) -> Option<&Component> {
        match &self.code {
            Wasm::Component((component, _)) => Some(component),
            Wasm::Module(_) => None,
        }
    }

    /// Whether it is a core wasm module (or WAT) rather than a component.
    pub fn is_core_module(&self) -> bool {
        matches!(self.code, Wasm::Module(_))
    }

    /// The functions a core module exports; empty for a component.
    pub fn core_exports(&self) -> &[CoreExport] {
        &self.core_exports
    }

    /// The component pre-linked with the host's imports; `None` for a core
    /// module.
    ///
    /// A host with its own `bindgen!` world instantiates it from here, in a
    /// store from [`Plugin::new_store`]; see `examples/i18n_greeter.rs`.
    pub fn instance_pre(&self) -> Option<&InstancePre<PluginState>> {
        match &self.code {
            Wasm::Component((_, pre)) => Some(pre),
            Wasm::Module(_) => None,
        }
    }

    /// A new `Store` for one instance of this plugin, granting only what
    /// the plugin was granted and enforcing its limits.
    ///
    /// The deadline of the first call counts from here; call
    /// [`Plugin::begin_call`] before each later call.
    pub fn new_store(&self) -> Store<PluginState> {
        let mut store = Store::new(&self.engine, PluginState::new(self.context.clone()));
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(crate::plugin::call::trap::hostcall_fuel(&self.context.limits));
        let handles = usize::try_from(self.context.limits.handles).unwrap_or(usize::MAX);
        store.set_max_component_handles(handles);
        deadline::watch(&mut store);
        self.begin_call(&mut store);
        store
    }

    /// Starts the deadline, fuel and log accounting of one call in `store`.
    pub fn begin_call(&self, store: &mut Store<PluginState>) {
        store.data_mut().begin_call(Direct, Moment::now(), self.context.deadline);
        deadline::arm(store, &self.context.limits);
    }

    /// Calls the plugin's `handle` export with `input`.
    ///
    /// # Errors
    ///
    /// [`Error::Plugin`] when the plugin returns an error,
    /// [`Error::WrongWorld`] when it does not target the `plugin` world,
    /// [`Error::Busy`] or [`Error::Stopped`] when it takes no call now, an
    /// error naming the trap or limit when it fails, and
    /// [`Error::InitFailed`] when a fresh instance fails to initialise.
    pub fn handle<'a>(&'a self, input: &'a str) -> impl Future<Output = Result<String>> + 'a {
        self.handle_in(Source::POOL, input)
    }

    /// Takes one instance for a batch of calls: the calls made through the
    /// [`Lease`] skip the pool, and no other caller uses the instance until
    /// the lease is dropped. [`Plugin::stop`] waits for it.
    ///
    /// ```no_run
    /// # async fn run(counter: &witplug_host::Plugin) -> witplug_host::Result<()> {
    /// let mut lease = counter.lease().await?;
    /// for _ in 0..1000 {
    ///     lease.handle("tick").await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] or [`Error::Stopped`], as for a call.
    pub async fn lease(&self) -> Result<Lease<'_>> {
        Ok(Lease::new(self.checkout(None, false, Moment::now()).await?))
    }

    /// Delivers a message to the plugin's `on-message` export, as if it came
    /// from the bus.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] when the plugin was not granted to receive `topic`;
    /// otherwise as for [`Plugin::handle`].
    pub async fn on_message(&self, topic: &str, payload: &[u8]) -> Result<()> {
        if !self.context.grants.may_receive(topic) {
            return Err(Error::Denied {
                plugin: self.name().to_owned(),
                capability: format!("subscribe:{topic}"),
            });
        }
        self.deliver(topic, payload, 0).await
    }

    /// Delivers a bus message that has been published `hops` times.
    pub(crate) async fn deliver(&self, topic: &str, payload: &[u8], hops: u32) -> Result<()> {
        // Patient: one delivery task per plugin waits without the pool's
        // queue and wait bounds.
        let call = CallContext { hops, ..CallContext::default() };
        self.on_message_in(Source::Pool { patient: true }, call, topic, payload).await
    }

    /// Runs a tool this plugin provides, for another plugin's `call-tool`.
    async fn serve_tool(&self, call: CallContext, name: &str, input: &str) -> Result<String> {
        self.check_tool_input(name, input).await?;
        self.run_tool_in(Source::POOL, call, name, input).await
    }

    /// Refuses a tool's input over the plugin's `max-input`, or one its
    /// input schema does not admit.
    pub(crate) async fn check_tool_input(&self, name: &str, input: &str) -> Result<()> {
        // What the provider could not pass the host itself, it is not
        // made to take in: refused before it runs, never trapping it.
        let limit = self.context.limits.max_input;
        if input.len() as u64 > limit {
            return Err(Error::Plugin {
                plugin: self.name().to_owned(),
                error: PluginError::LimitExceeded(format!(
                    "the input of tool `{}` is {} bytes, over its provider's max-input of {limit}",
                    crate::text::sanitize(name, crate::text::NAME),
                    input.len()
                )),
            });
        }
        if let Some((_, spec)) = self.tools.iter().find(|(tool, _)| tool == name)
            && let Err(refused) = spec.check(name, input, self.context.limits.deadline).await
        {
            return Err(Error::Plugin { plugin: self.name().to_owned(), error: refused.into() });
        }
        Ok(())
    }

    /// Initialises the plugin: an instance runs `init` with the plugin's
    /// configuration. A stopped plugin takes calls again afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::InitFailed`] (the plugin is then [`Lifecycle::Failed`]), or
    /// the trap or limit `init` hit.
    pub async fn init(&self) -> Result<()> {
        self.phase.restart();
        self.fill(1).await
    }

    /// Creates idle, initialised instances until the pool holds `count` (at
    /// most its size), so no later call waits for an instantiation.
    ///
    /// # Errors
    ///
    /// As for [`Plugin::init`].
    pub async fn warm(&self, count: usize) -> Result<()> {
        self.fill(count).await
    }

    /// How many initialised instances wait for calls.
    pub fn idle_instances(&self) -> usize {
        self.pool.idle()
    }

    /// Stops the plugin: refuses new calls, waits for the calls in flight
    /// (and leases), runs `shutdown` on each instance and drops them. Calls
    /// are refused until [`Plugin::init`]. A `shutdown` that hangs is
    /// stopped by the deadline. (In a `fresh` pool, instances are dropped
    /// after each call without `shutdown`.)
    ///
    /// # Errors
    ///
    /// The trap or limit a `shutdown` hit; the plugin is stopped anyway.
    pub async fn stop(&self) -> Result<()> {
        self.phase.stop();
        let result = self.drain().await;
        self.events().send(|| Event::Stopped { plugin: self.context.name.clone() });
        result
    }

    fn events(&self) -> &Events {
        &self.context.services.events
    }

    /// Counts messages the bus dropped because this plugin's queue was full.
    pub(crate) fn messages_dropped(&self, count: u64) {
        self.shared.dropped(count);
        self.events().send(|| Event::MessagesDropped { plugin: self.context.name.clone(), count });
    }

    pub(crate) fn wrong_world(&self) -> Error {
        Error::WrongWorld { plugin: self.name().to_owned(), world: "plugin" }
    }
}

impl ToolProvider for Plugin {
    fn provider(&self) -> &Name {
        &self.context.name
    }

    fn run_tool<'a>(
        &'a self,
        call: CallContext,
        name: &'a str,
        input: &'a str,
    ) -> ProviderFuture<'a> {
        Box::pin(self.serve_tool(call, name, input))
    }

    fn run_tool_with<'a>(
        &'a self,
        call: CallContext,
        name: &'a str,
        input: &'a str,
    ) -> ProviderFuture<'a, crate::mcp::ToolResult> {
        Box::pin(self.serve_tool_with(call, name, input))
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name())
            .field("path", &self.path)
            .field("info", &self.info)
            .field("lifecycle", &self.lifecycle())
            .finish_non_exhaustive()
    }
}
