//! A loaded plugin: its compiled component, its live instance, and calls
//! into it, typed or dynamic.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::Mutex;
use wasmtime::component::wasm_wave::{self, wasm::DisplayType};
use wasmtime::component::{
    Component, ComponentExportIndex, Instance, InstancePre, Val, types::ComponentFunc,
    types::ComponentItem,
};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use crate::bindings::exports::witplug::plugin::guest::PluginInfo as WitInfo;
use crate::bindings::{Plugin as GuestBindings, PluginIndices};
use crate::engine::TICK;
use crate::error::one_line;
use crate::limits::LimitHit;
use crate::state::{PluginContext, PluginState};
use crate::{Error, Result};

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

/// An exported function of a plugin, as a dynamic call names it.
#[derive(Debug, Clone)]
pub struct Export {
    /// The name to call it by: `greet` for a function the world exports
    /// directly, `witplug:plugin/guest@0.1.0#handle` for one in an
    /// exported interface. A bare `handle` also finds the latter when only
    /// one interface exports a `handle`.
    pub name: String,
    /// Its WIT signature, e.g. `func(name: string) -> string`.
    pub signature: String,
    ty: ComponentFunc,
    index: ComponentExportIndex,
}

/// A plugin loaded from a component file.
///
/// Each plugin has one instance, created on first use and kept between
/// calls, so the plugin's state persists. Calls into one plugin run one at a
/// time, each within the plugin's [`Limits`](crate::Limits). A trap or a
/// limit drops the instance: the call that failed returns the reason, the
/// next call gets a fresh instance built from the pre-linked component, and
/// [`Plugin::restarts`] counts it.
pub struct Plugin {
    context: Arc<PluginContext>,
    path: PathBuf,
    size: u64,
    info: PluginInfo,
    engine: Engine,
    component: Component,
    pre: InstancePre<PluginState>,
    guest: Option<PluginIndices>,
    exports: Vec<Export>,
    live: Mutex<Option<Live>>,
    restarts: AtomicU64,
}

/// A running instance and the Store that owns it.
struct Live {
    store: Store<PluginState>,
    instance: Instance,
    guest: Option<GuestBindings>,
}

impl Plugin {
    pub(crate) async fn new(
        context: Arc<PluginContext>,
        path: PathBuf,
        size: u64,
        component: Component,
        pre: InstancePre<PluginState>,
    ) -> Result<Self> {
        let engine = pre.engine().clone();
        let guest = PluginIndices::new(&pre).ok();
        let exports = list_exports(&engine, &component);
        let mut plugin = Self {
            info: PluginInfo {
                name: context.name.clone(),
                version: String::new(),
                description: String::new(),
            },
            context,
            path,
            size,
            engine,
            component,
            pre,
            guest,
            exports,
            live: Mutex::new(None),
            restarts: AtomicU64::new(0),
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

    /// How many times its instance was thrown away after a trap or a limit.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// The limits it runs under.
    pub fn limits(&self) -> &crate::Limits {
        &self.context.limits
    }

    /// What it was granted.
    pub fn grants(&self) -> &crate::Grants {
        &self.context.grants
    }

    /// Every function the plugin exports, for dynamic calls.
    pub fn exports(&self) -> &[Export] {
        &self.exports
    }

    /// The compiled component.
    pub fn component(&self) -> &Component {
        &self.component
    }

    /// The component pre-linked with the host's imports.
    ///
    /// A host with its own `bindgen!` world instantiates it from here, in a
    /// store from [`Plugin::new_store`]; see `examples/i18n_greeter.rs`.
    pub fn instance_pre(&self) -> &InstancePre<PluginState> {
        &self.pre
    }

    /// A new `Store` for one instance of this plugin, granting only what
    /// the plugin was granted and enforcing its limits.
    ///
    /// The deadline of the first call counts from here; call
    /// [`Plugin::begin_call`] before each later call.
    pub fn new_store(&self) -> Store<PluginState> {
        let mut store = Store::new(&self.engine, PluginState::new(self.context.clone()));
        store.limiter(|state| &mut state.limiter);
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

    /// Starts the deadline, fuel and log accounting of one call in `store`.
    pub fn begin_call(&self, store: &mut Store<PluginState>) {
        store.data_mut().begin_call();
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
    /// [`Error::Trap`] when it traps, and [`Error::InitFailed`] when a fresh
    /// instance fails to initialise.
    pub async fn handle(&self, input: &str) -> Result<String> {
        let mut slot = self.live.lock().await;
        let live = self.live_instance(&mut slot).await?;
        let guest = live.guest.as_ref().ok_or_else(|| self.wrong_world())?;
        self.begin_call(&mut live.store);
        let call = guest.witplug_plugin_guest().call_handle(&mut live.store, input);
        let result = self.within_deadline(call).await;
        let output = self.settle(&mut slot, result)?.map_err(|error| self.returned(error))?;
        self.check_output(output.len())?;
        Ok(output)
    }

    /// Delivers a message to the plugin's `on-message` export.
    ///
    /// # Errors
    ///
    /// As for [`Plugin::handle`].
    pub async fn on_message(&self, topic: &str, payload: &[u8]) -> Result<()> {
        if !self.context.grants.may_receive(topic) {
            return Err(Error::Denied {
                plugin: self.name().to_owned(),
                capability: format!("subscribe:{topic}"),
            });
        }
        let mut slot = self.live.lock().await;
        let live = self.live_instance(&mut slot).await?;
        let guest = live.guest.as_ref().ok_or_else(|| self.wrong_world())?;
        self.begin_call(&mut live.store);
        let call = guest.witplug_plugin_guest().call_on_message(&mut live.store, topic, payload);
        let result = self.within_deadline(call).await;
        self.settle(&mut slot, result)?.map_err(|error| self.returned(error))
    }

    /// Calls the plugin's `shutdown` export, if it has a live instance, and
    /// drops the instance.
    ///
    /// # Errors
    ///
    /// [`Error::Trap`] when `shutdown` traps.
    pub async fn shutdown(&self) -> Result<()> {
        let mut slot = self.live.lock().await;
        let Some(mut live) = slot.take() else { return Ok(()) };
        let Some(guest) = live.guest.take() else { return Ok(()) };
        self.begin_call(&mut live.store);
        let result =
            self.within_deadline(guest.witplug_plugin_guest().call_shutdown(&mut live.store)).await;
        result.map_err(|err| self.classify(&err, Some(live.store.data())))
    }

    /// Calls any export by name with component-model values.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchExport`] listing what exists,
    /// [`Error::BadArguments`] when `args` do not fit, [`Error::Trap`].
    pub async fn call(&self, export: &str, args: &[Val]) -> Result<Vec<Val>> {
        let export = self.export(export)?;
        if args.len() != export.ty.params().len() {
            return Err(self.bad_arguments(export, arity_message(export, args.len())));
        }
        for ((name, ty), arg) in export.ty.params().zip(args) {
            if !fits(arg, &ty) {
                let expected = DisplayType(&ty);
                return Err(
                    self.bad_arguments(export, format!("argument `{name}` is not a {expected}"))
                );
            }
        }
        self.call_checked(export, args).await
    }

    /// Calls `export` with arguments already checked against its type.
    async fn call_checked(&self, export: &Export, args: &[Val]) -> Result<Vec<Val>> {
        let mut results = vec![Val::Bool(false); export.ty.results().len()];
        let mut slot = self.live.lock().await;
        let live = self.live_instance(&mut slot).await?;
        let Some(func) = live.instance.get_func(&mut live.store, export.index) else {
            return Err(self.no_such_export(&export.name));
        };
        self.begin_call(&mut live.store);
        let result =
            self.within_deadline(func.call_async(&mut live.store, args, &mut results)).await;
        self.settle(&mut slot, result)?;
        self.check_output(results.iter().map(value_size).sum())?;
        Ok(results)
    }

    /// Calls any export by name with arguments and results in WAVE, the
    /// text form of component values: `"JP"`, `42`, `[1, 2]`, `some(x)`.
    ///
    /// # Errors
    ///
    /// As for [`Plugin::call`]; an argument that is not valid WAVE for its
    /// parameter's type is [`Error::BadArguments`] naming it.
    pub async fn call_wave(&self, export: &str, args: &[impl AsRef<str>]) -> Result<Vec<String>> {
        let found = self.export(export)?;
        let values = self.parse_args(found, args)?;
        let results = self.call_checked(found, &values).await?;
        results
            .iter()
            .map(|value| {
                wasm_wave::to_string(value)
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
            return Err(self.bad_arguments(export, arity_message(export, args.len())));
        }
        export
            .ty
            .params()
            .zip(args)
            .map(|((name, ty), arg)| {
                wasm_wave::from_str::<Val>(&ty, arg.as_ref())
                    .map_err(|err| self.bad_arguments(export, format!("argument `{name}`: {err}")))
            })
            .collect()
    }

    /// Finds an export by full name, by `interface#function`, or by a bare
    /// function name that only one exported interface has.
    fn export(&self, name: &str) -> Result<&Export> {
        let exact = self.exports.iter().find(|e| e.name == name);
        let by_suffix = || {
            let mut found = self.exports.iter().filter(|e| export_matches(&e.name, name));
            match (found.next(), found.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        };
        exact.or_else(by_suffix).ok_or_else(|| self.no_such_export(name))
    }

    /// The live instance, created (and initialised) when there is none.
    async fn live_instance<'a>(&self, slot: &'a mut Option<Live>) -> Result<&'a mut Live> {
        if slot.is_none() {
            *slot = Some(self.instantiate().await?);
        }
        Ok(slot.as_mut().expect("the slot was just filled"))
    }

    /// A fresh instance, initialised: instantiation and `init` run within
    /// one call's limits.
    async fn instantiate(&self) -> Result<Live> {
        let mut store = self.new_store();
        let instance = self.instantiate_pre(&mut store).await?;
        let guest = match &self.guest {
            Some(indices) => Some(
                indices
                    .load(&mut store, &instance)
                    .map_err(|err| self.classify(&err, Some(store.data())))?,
            ),
            None => None,
        };
        if let Some(guest) = &guest {
            let init = guest.witplug_plugin_guest().call_init(&mut store);
            self.within_deadline(init)
                .await
                .map_err(|err| self.classify(&err, Some(store.data())))?
                .map_err(|error| Error::InitFailed { plugin: self.name().to_owned(), error })?;
        }
        Ok(Live { store, instance, guest })
    }

    async fn instantiate_pre(&self, store: &mut Store<PluginState>) -> Result<Instance> {
        let result = self.within_deadline(self.pre.instantiate_async(&mut *store)).await;
        result.map_err(|err| self.classify(&err, Some(store.data())))
    }

    /// Calls `info` on a throwaway instance: it must not need `init`.
    async fn read_info(&self) -> Result<PluginInfo> {
        let mut store = self.new_store();
        let indices = self.guest.as_ref().ok_or_else(|| self.wrong_world())?;
        let instance = self.instantiate_pre(&mut store).await?;
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

    /// Runs `call` with the plugin's deadline as a backstop: epoch
    /// interruption stops wasm that runs too long, and this stops a call
    /// stuck in the host (an async tool that never answers).
    async fn within_deadline<T>(
        &self,
        call: impl Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        let backstop = self.context.limits.deadline + 2 * TICK;
        match tokio::time::timeout(backstop, call).await {
            Ok(result) => result,
            Err(_) => Err(wasmtime::Error::new(LimitHit::Deadline)),
        }
    }

    /// Passes a call's result through; on a trap or a limit, throws the
    /// instance away (the next call builds a fresh one) and says why.
    fn settle<T>(&self, slot: &mut Option<Live>, result: wasmtime::Result<T>) -> Result<T> {
        result.map_err(|err| {
            let live = slot.take();
            self.restarts.fetch_add(1, Ordering::Relaxed);
            let error = self.classify(&err, live.as_ref().map(|live| live.store.data()));
            tracing::warn!(target: "witplug::host", plugin = self.name(), "instance dropped: {error}");
            error
        })
    }

    /// Turns a failed call into the error that says which limit was hit, or
    /// which trap happened.
    fn classify(&self, err: &wasmtime::Error, state: Option<&PluginState>) -> Error {
        let plugin = self.name().to_owned();
        let limits = &self.context.limits;
        match err.downcast_ref::<LimitHit>() {
            Some(LimitHit::Deadline) => {
                return Error::Timeout { plugin, deadline: limits.deadline };
            }
            Some(LimitHit::LogLines) => return Error::LogLimit { plugin, limit: limits.log_lines },
            None => {}
        }
        let trap = err.downcast_ref::<Trap>();
        match trap {
            Some(Trap::StackOverflow) => {
                return Error::StackOverflow { plugin, limit: limits.stack };
            }
            Some(Trap::OutOfFuel) => {
                return Error::FuelExhausted { plugin, fuel: limits.fuel.unwrap_or(0) };
            }
            Some(Trap::Interrupt) => return Error::Timeout { plugin, deadline: limits.deadline },
            _ => {}
        }
        if let Some(state) = state {
            if state.limiter.memory_refused {
                return Error::MemoryLimit { plugin, limit: limits.memory };
            }
            if state.limiter.table_refused {
                return Error::TableLimit { plugin, limit: limits.table_elements };
            }
            if let Some(panic) = &state.call.panic {
                let panic = panic.split_whitespace().collect::<Vec<_>>().join(" ");
                return Error::Trap { plugin, message: format!("panicked: {panic}") };
            }
        }
        let message = match trap {
            Some(trap) => trap.to_string(),
            None => one_line(err),
        };
        if message.contains("instance count too high") {
            return Error::InstanceLimit { plugin, limit: limits.instances };
        }
        Error::Trap { plugin, message }
    }

    fn check_output(&self, size: usize) -> Result<()> {
        let limit = self.context.limits.max_output;
        if size as u64 > limit {
            return Err(Error::OutputTooLarge {
                plugin: self.name().to_owned(),
                size: size as u64,
                limit,
            });
        }
        Ok(())
    }

    fn returned(&self, error: crate::PluginError) -> Error {
        Error::Plugin { plugin: self.name().to_owned(), error }
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

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name())
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Every function a component exports, directly or in an exported interface.
fn list_exports(engine: &Engine, component: &Component) -> Vec<Export> {
    let mut exports = Vec::new();
    for (name, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(ty) => {
                if let Some(index) = component.get_export_index(None, name) {
                    exports.push(Export::new(name.to_owned(), ty, index));
                }
            }
            ComponentItem::ComponentInstance(instance) => {
                let Some(parent) = component.get_export_index(None, name) else { continue };
                for (func_name, func_item) in instance.exports(engine) {
                    let ComponentItem::ComponentFunc(ty) = func_item.ty else { continue };
                    if let Some(index) = component.get_export_index(Some(&parent), func_name) {
                        exports.push(Export::new(format!("{name}#{func_name}"), ty, index));
                    }
                }
            }
            _ => {}
        }
    }
    exports
}

impl Export {
    fn new(name: String, ty: ComponentFunc, index: ComponentExportIndex) -> Self {
        let params: Vec<String> =
            ty.params().map(|(name, ty)| format!("{name}: {}", DisplayType(&ty))).collect();
        let results: Vec<String> = ty.results().map(|ty| DisplayType(&ty).to_string()).collect();
        let signature = match results.as_slice() {
            [] => format!("func({})", params.join(", ")),
            [one] => format!("func({}) -> {one}", params.join(", ")),
            many => format!("func({}) -> ({})", params.join(", "), many.join(", ")),
        };
        Self { name, signature, ty, index }
    }
}

/// Whether `wanted` names the export `full` (`ns:pkg/iface@1.0#func`) by
/// its function (`func`) or by interface and function (`iface#func`).
fn export_matches(full: &str, wanted: &str) -> bool {
    let Some((interface, func)) = full.split_once('#') else { return false };
    if wanted == func {
        return true;
    }
    let short = interface.rsplit('/').next().unwrap_or(interface);
    let short = short.split('@').next().unwrap_or(short);
    wanted.split_once('#').is_some_and(|(i, f)| f == func && (i == short || i == interface))
}

/// Roughly how many bytes `value` holds: what strings and lists carry.
fn value_size(value: &Val) -> usize {
    match value {
        Val::String(s) => s.len(),
        Val::List(items) | Val::Tuple(items) => items.iter().map(value_size).sum(),
        Val::Record(fields) => fields.iter().map(|(_, v)| value_size(v)).sum(),
        Val::Variant(_, Some(v))
        | Val::Option(Some(v))
        | Val::Result(Ok(Some(v)) | Err(Some(v))) => value_size(v),
        _ => 8,
    }
}

/// Whether `value` is a value of type `ty`: it is when its WAVE text parses
/// as that type. Values WAVE cannot print (resources) are left to wasmtime.
fn fits(value: &Val, ty: &wasmtime::component::Type) -> bool {
    match wasm_wave::to_string(value) {
        Ok(text) => wasm_wave::from_str::<Val>(ty, &text).is_ok(),
        Err(_) => true,
    }
}

fn arity_message(export: &Export, got: usize) -> String {
    let expected = export.ty.params().len();
    let plural = if expected == 1 { "" } else { "s" };
    format!("expects {expected} argument{plural} {}, got {got}", export.signature)
}

#[cfg(test)]
mod tests {
    use super::export_matches;

    #[test]
    fn exports_are_found_by_short_names() {
        let full = "witplug:plugin/guest@0.1.0#handle";
        assert!(export_matches(full, "handle"));
        assert!(export_matches(full, "guest#handle"));
        assert!(export_matches(full, "witplug:plugin/guest@0.1.0#handle"));
        assert!(!export_matches(full, "other#handle"));
        assert!(!export_matches(full, "init"));
        assert!(!export_matches("greet", "greet"));
    }
}
