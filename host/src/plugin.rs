//! A loaded plugin: its compiled component, its instances, its lifecycle,
//! and calls into it, typed or dynamic.

mod core;
mod exports;
mod pool;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use wasmtime::component::{Component, InstancePre, Val};
use wasmtime::{Engine, Store, UpdateDeadline};

use crate::bindings::PluginIndices;
use crate::bindings::exports::witplug::plugin::guest::PluginInfo as WitInfo;
use crate::events::{Event, Outcome};
use crate::limits::LimitHit;
use crate::metrics::{Metrics, Recorder};
use crate::state::{CallContext, PluginContext, PluginState};
use crate::{Error, PluginError, Result};

pub use exports::Export;
pub use pool::PoolConfig;
pub(crate) use pool::{Pool, Running, Usage};

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The plugin's own name for itself (its crate name for SDK plugins).
    pub name: String,
    /// Its version; empty for worlds without an `info` export.
    pub version: String,
    /// One line saying what it does; empty for worlds without `info`.
    pub description: String,
}

/// Where a plugin is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lifecycle {
    /// Compiled and linked; no instance yet.
    Loaded,
    /// An instance ran `init` with its configuration; no call yet.
    Initialised,
    /// Idle between calls.
    Ready,
    /// Serving at least one call now.
    Running,
    /// Stopped: `shutdown` ran on its instances; calls are refused until it
    /// is initialised again.
    Stopped,
    /// `init` failed, for this reason; every call tries `init` again.
    Failed {
        /// The error, as one line.
        reason: String,
    },
}

/// What a plugin was compiled from, pre-linked with the host's imports.
pub(crate) enum Code {
    /// A component of any world.
    Component { component: Component, pre: InstancePre<PluginState> },
    /// A core wasm module (or WAT), using the core ABI.
    Module { pre: wasmtime::InstancePre<PluginState> },
}

/// A function a core module exports, with its wasm type.
#[derive(Debug, Clone)]
pub struct CoreExport {
    /// Its export name.
    pub name: String,
    /// Its type, e.g. `(func (param i32) (result i32))`.
    pub ty: wasmtime::FuncType,
}

/// The part of the lifecycle that calls in flight do not decide.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Loaded,
    Initialised,
    Ready,
    Stopped,
    Failed(String),
}

/// A plugin loaded from a component file.
///
/// A plugin serves calls from a pool of instances ([`PoolConfig`], one by
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
    guest: Option<PluginIndices>,
    exports: Vec<Export>,
    core_exports: Vec<CoreExport>,
    pool: Pool,
    phase: Mutex<Phase>,
    in_flight: AtomicUsize,
    recorder: Mutex<Recorder>,
}

impl Plugin {
    pub(crate) async fn new(
        context: Arc<PluginContext>,
        path: PathBuf,
        size: u64,
        code: Code,
    ) -> Result<Self> {
        let (engine, guest, exports, core_exports) = match &code {
            Code::Component { component, pre } => {
                let engine = pre.engine().clone();
                let exports = exports::list_exports(&engine, component);
                (engine, PluginIndices::new(pre).ok(), exports, Vec::new())
            }
            Code::Module { pre } => {
                let engine = pre.module().engine().clone();
                let core_exports = pre
                    .module()
                    .exports()
                    .filter_map(|export| {
                        let ty = export.ty().func()?.clone();
                        Some(CoreExport { name: export.name().to_owned(), ty })
                    })
                    .collect();
                (engine, None, Vec::new(), core_exports)
            }
        };
        let mut plugin = Self {
            info: PluginInfo {
                name: context.name.clone(),
                version: String::new(),
                description: String::new(),
            },
            pool: Pool::new(&context.pool),
            context,
            path,
            size,
            engine,
            code,
            guest,
            exports,
            core_exports,
            phase: Mutex::new(Phase::Loaded),
            in_flight: AtomicUsize::new(0),
            recorder: Mutex::default(),
        };
        if plugin.guest.is_some() {
            plugin.info = plugin.read_info().await?;
        }
        Ok(plugin)
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
        match &*self.phase() {
            Phase::Stopped => Lifecycle::Stopped,
            Phase::Failed(reason) => Lifecycle::Failed { reason: reason.clone() },
            _ if self.in_flight.load(Ordering::Relaxed) > 0 => Lifecycle::Running,
            Phase::Loaded => Lifecycle::Loaded,
            Phase::Initialised => Lifecycle::Initialised,
            Phase::Ready => Lifecycle::Ready,
        }
    }

    /// How many times an instance was thrown away after a trap or a limit.
    pub fn restarts(&self) -> u64 {
        self.recorder().restarts()
    }

    /// Its calls, outcomes and times since it was loaded.
    pub fn metrics(&self) -> Metrics {
        self.recorder().snapshot().0
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

    /// Every function the plugin exports, for dynamic calls.
    pub fn exports(&self) -> &[Export] {
        &self.exports
    }

    /// The compiled component; `None` for a core module.
    pub fn component(&self) -> Option<&Component> {
        match &self.code {
            Code::Component { component, .. } => Some(component),
            Code::Module { .. } => None,
        }
    }

    /// Whether it is a core wasm module (or WAT) rather than a component.
    pub fn is_core_module(&self) -> bool {
        matches!(self.code, Code::Module { .. })
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
            Code::Component { pre, .. } => Some(pre),
            Code::Module { .. } => None,
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
        store.set_hostcall_fuel(self.hostcall_fuel());
        store.epoch_deadline_callback(|store| {
            if Instant::now() >= store.data().call.deadline {
                return Err(wasmtime::Error::new(LimitHit::Deadline));
            }
            // Still in time: let other tasks run, then check again next tick.
            Ok(UpdateDeadline::Yield(1))
        });
        self.begin_call(&mut store);
        store
    }

    /// How many bytes wasmtime may copy out of the plugin in one host call
    /// or result: enough to measure anything up to 8 times the plugin's
    /// input and output limits, so the host can name the size it refuses.
    fn hostcall_fuel(&self) -> usize {
        let limits = &self.context.limits;
        let bytes = limits.max_input.max(limits.max_output).saturating_mul(8);
        usize::try_from(bytes).unwrap_or(usize::MAX)
    }

    /// Starts the deadline, fuel and log accounting of one call in `store`.
    pub fn begin_call(&self, store: &mut Store<PluginState>) {
        store.data_mut().begin_call(CallContext::default());
        self.arm(store);
    }

    fn arm(&self, store: &mut Store<PluginState>) {
        store.set_epoch_deadline(1);
        if let Some(fuel) = self.context.limits.fuel {
            // Fails only when the engine does not meter fuel, which the
            // engine key rules out.
            let _ = store.set_fuel(fuel);
        }
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
    pub async fn handle(&self, input: &str) -> Result<String> {
        self.require_guest()?;
        self.run(
            "handle",
            CallContext::default(),
            async |live| {
                let guest = live.guest.as_ref().expect("guest plugins have guest bindings");
                guest.witplug_plugin_guest().call_handle(&mut live.store, input).await
            },
            |result| self.returned(result).and_then(|output| self.check_output(output)),
        )
        .await
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
        self.require_guest()?;
        let call = CallContext { hops, patient: true, ..CallContext::default() };
        self.run(
            "on-message",
            call,
            async |live| {
                let guest = live.guest.as_ref().expect("guest plugins have guest bindings");
                guest.witplug_plugin_guest().call_on_message(&mut live.store, topic, payload).await
            },
            |result| self.returned(result),
        )
        .await
    }

    /// Runs a tool this plugin provides, for another plugin's `call-tool`.
    pub(crate) async fn run_tool(
        &self,
        call: CallContext,
        name: &str,
        input: &str,
    ) -> Result<String> {
        self.require_guest()?;
        self.run(
            "run-tool",
            call,
            async |live| {
                let guest = live.guest.as_ref().expect("guest plugins have guest bindings");
                guest.witplug_plugin_guest().call_run_tool(&mut live.store, name, input).await
            },
            |result| self.returned(result).and_then(|output| self.check_output(output)),
        )
        .await
    }

    /// Initialises the plugin: an instance runs `init` with the plugin's
    /// configuration. A stopped plugin takes calls again afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::InitFailed`] (the plugin is then [`Lifecycle::Failed`]), or
    /// the trap or limit `init` hit.
    pub async fn init(&self) -> Result<()> {
        {
            let mut phase = self.phase();
            if *phase == Phase::Stopped {
                *phase = Phase::Loaded;
            }
        }
        self.warm_up().await
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
        self.pool.idle_count()
    }

    /// Stops the plugin: refuses new calls, waits for the calls in flight,
    /// runs `shutdown` on each instance and drops them. Calls are refused
    /// until [`Plugin::init`]. A `shutdown` that hangs is stopped by the
    /// deadline. (In a `fresh` pool, instances are dropped after each call
    /// without `shutdown`.)
    ///
    /// # Errors
    ///
    /// The trap or limit a `shutdown` hit; the plugin is stopped anyway.
    pub async fn stop(&self) -> Result<()> {
        self.set_phase(Phase::Stopped);
        let result = self.drain().await;
        self.context.services.events.send(Event::Stopped { plugin: self.name().to_owned() });
        result
    }

    /// Calls any export by name with component-model values.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchExport`] listing what exists,
    /// [`Error::BadArguments`] when `args` do not fit, or the trap or limit
    /// the call hit.
    pub async fn call(&self, export: &str, args: &[Val]) -> Result<Vec<Val>> {
        let export = self.export(export)?;
        if args.len() != export.ty.params().len() {
            return Err(self.bad_arguments(export, exports::arity_message(export, args.len())));
        }
        for ((name, ty), arg) in export.ty.params().zip(args) {
            if !exports::fits(arg, &ty) {
                let expected = wasmtime::component::wasm_wave::wasm::DisplayType(&ty);
                return Err(
                    self.bad_arguments(export, format!("argument `{name}` is not a {expected}"))
                );
            }
        }
        self.call_checked(export, args).await
    }

    /// Calls `export` with arguments already checked against its type.
    async fn call_checked(&self, export: &Export, args: &[Val]) -> Result<Vec<Val>> {
        let index = export.index;
        let results = export.ty.results().len();
        self.run(
            &export.name,
            CallContext::default(),
            async |live| {
                let Running::Component(instance) = &live.instance else {
                    return Err(wasmtime::format_err!("a core module has no component exports"));
                };
                let Some(func) = instance.get_func(&mut live.store, index) else {
                    return Err(wasmtime::format_err!("the export is missing from the instance"));
                };
                let mut values = vec![Val::Bool(false); results];
                func.call_async(&mut live.store, args, &mut values).await?;
                Ok(values)
            },
            |values| {
                self.check_output(values.iter().map(exports::value_size).sum::<usize>())?;
                Ok(values)
            },
        )
        .await
    }

    /// Calls any export by name with arguments and results in WAVE, the
    /// text form of component values: `"JP"`, `42`, `[1, 2]`, `some(x)`.
    ///
    /// # Errors
    ///
    /// As for [`Plugin::call`]; an argument that is not valid WAVE for its
    /// parameter's type is [`Error::BadArguments`] naming it.
    pub async fn call_wave(&self, export: &str, args: &[impl AsRef<str>]) -> Result<Vec<String>> {
        if self.is_core_module() {
            return self.call_core_wave(export, args).await;
        }
        let found = self.export(export)?;
        let values = self.parse_args(found, args)?;
        let results = self.call_checked(found, &values).await?;
        results
            .iter()
            .map(|value| {
                wasmtime::component::wasm_wave::to_string(value)
                    .map_err(|err| self.bad_arguments(found, format!("printing the result: {err}")))
            })
            .collect()
    }

    /// Parses WAVE arguments for `export` into values for [`Plugin::call`].
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchExport`], or [`Error::BadArguments`] naming the
    /// argument that does not parse as its parameter's type.
    pub fn parse_wave_args(&self, export: &str, args: &[impl AsRef<str>]) -> Result<Vec<Val>> {
        self.parse_args(self.export(export)?, args)
    }

    fn parse_args(&self, export: &Export, args: &[impl AsRef<str>]) -> Result<Vec<Val>> {
        if args.len() != export.ty.params().len() {
            return Err(self.bad_arguments(export, exports::arity_message(export, args.len())));
        }
        export
            .ty
            .params()
            .zip(args)
            .map(|((name, ty), arg)| {
                wasmtime::component::wasm_wave::from_str::<Val>(&ty, arg.as_ref())
                    .map_err(|err| self.bad_arguments(export, format!("argument `{name}`: {err}")))
            })
            .collect()
    }

    /// Finds an export by full name, by `interface#function`, or by a bare
    /// function name that only one exported interface has.
    fn export(&self, name: &str) -> Result<&Export> {
        let exact = self.exports.iter().find(|e| e.name == name);
        let by_suffix = || {
            let mut found = self.exports.iter().filter(|e| exports::export_matches(&e.name, name));
            match (found.next(), found.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        };
        exact.or_else(by_suffix).ok_or_else(|| self.no_such_export(name))
    }

    /// Calls `info` on a throwaway instance: it must not need `init`.
    async fn read_info(&self) -> Result<PluginInfo> {
        let mut store = self.new_store();
        let indices = self.guest.as_ref().ok_or_else(|| self.wrong_world())?;
        let Running::Component(instance) = self.instantiate_code(&mut store).await? else {
            return Err(self.wrong_world());
        };
        let info = match indices.load(&mut store, &instance) {
            Ok(guest) => {
                self.begin_call(&mut store);
                let call = guest.witplug_plugin_guest().call_info(&mut store);
                self.within_deadline(call).await
            }
            Err(err) => Err(err),
        };
        let WitInfo { name, version, description } =
            info.map_err(|err| self.classify(&err, Some(store.data())))?;
        Ok(PluginInfo { name, version, description })
    }

    /// Records a finished call in the metrics and the event stream.
    fn finish<T>(&self, export: &str, started: Instant, result: &Result<T>, usage: Usage) {
        let duration = started.elapsed();
        let outcome = match result {
            Ok(_) => Outcome::Ok,
            Err(err) if err.is_trap() => Outcome::Trap,
            Err(_) => Outcome::Error,
        };
        {
            let mut recorder = self.recorder();
            recorder.call(duration, outcome, usage.fuel, usage.memory);
            if outcome == Outcome::Ok && export == "on-message" {
                recorder.delivered();
            }
        }
        if outcome == Outcome::Ok {
            let mut phase = self.phase();
            if matches!(*phase, Phase::Initialised | Phase::Failed(_)) {
                *phase = Phase::Ready;
            }
        }
        self.context.services.events.send(Event::CallFinished {
            plugin: self.name().to_owned(),
            export: export.to_owned(),
            duration,
            outcome,
        });
    }

    /// Marks the plugin failed, unless it was stopped meanwhile.
    fn failed(&self, reason: String) {
        let mut phase = self.phase();
        if *phase != Phase::Stopped {
            *phase = Phase::Failed(reason);
        }
    }

    fn initialised(&self) {
        let mut phase = self.phase();
        if matches!(*phase, Phase::Loaded | Phase::Failed(_)) {
            *phase = Phase::Initialised;
            drop(phase);
            self.context
                .services
                .events
                .send(Event::Initialised { plugin: self.name().to_owned() });
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_phase(&self, phase: Phase) {
        *self.phase() = phase;
    }

    pub(crate) fn recorder(&self) -> MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn metrics_samples(&self) -> (Metrics, Vec<std::time::Duration>) {
        self.recorder().snapshot()
    }

    /// Counts messages the bus dropped because this plugin's queue was full.
    pub(crate) fn messages_dropped(&self, count: u64, events: &crate::events::Events) {
        self.recorder().dropped(count);
        events.send(Event::MessagesDropped { plugin: self.name().to_owned(), count });
    }

    fn require_guest(&self) -> Result<()> {
        if self.guest.is_some() { Ok(()) } else { Err(self.wrong_world()) }
    }

    /// Turns the plugin's own error value into [`Error::Plugin`].
    fn returned<T>(&self, result: Result<T, PluginError>) -> Result<T> {
        result.or_else(|error| {
            let message = crate::error::describe(&error);
            self.check_output(message.len())?;
            Err(Error::Plugin { plugin: self.name().to_owned(), error })
        })
    }

    fn check_output<T: OutputSize>(&self, output: T) -> Result<T> {
        let size = output.output_size() as u64;
        let limit = self.context.limits.max_output;
        if size > limit {
            return Err(Error::OutputTooLarge { plugin: self.name().to_owned(), size, limit });
        }
        Ok(output)
    }

    fn wrong_world(&self) -> Error {
        Error::WrongWorld { plugin: self.name().to_owned(), world: "plugin" }
    }

    fn no_such_export(&self, export: &str) -> Error {
        Error::NoSuchExport {
            plugin: self.name().to_owned(),
            export: export.to_owned(),
            available: self.exports.iter().map(|e| e.name.clone()).collect(),
        }
    }

    fn bad_arguments(&self, export: &Export, reason: String) -> Error {
        Error::BadArguments { plugin: self.name().to_owned(), export: export.name.clone(), reason }
    }
}

/// How many bytes a call's result carries, for the output limit.
trait OutputSize {
    fn output_size(&self) -> usize;
}

impl OutputSize for String {
    fn output_size(&self) -> usize {
        self.len()
    }
}

impl OutputSize for usize {
    fn output_size(&self) -> usize {
        *self
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
