//! One call's path through a plugin: take a slot, make sure it holds an
//! instance, run the export within the call's limits, record the call, and
//! put the slot back. A warm call takes no lock and allocates nothing of
//! its own.

use std::time::Instant;

use wasmtime::component::Val;

use super::pool::Live;
use super::{CoreExport, Export, Plugin};
use crate::call::CallContext;
use crate::deadline;
use crate::events::{Event, Outcome};
use crate::metrics::{Sample, Writer};
use crate::name::Name;
use crate::{Error, Result};

/// A slot of a plugin's pool, held by one caller until dropped.
pub(crate) struct Checkout<'a> {
    plugin: &'a Plugin,
    index: usize,
    live: Option<Box<Live>>,
    /// Set while an export runs: an instance whose call was abandoned (the
    /// caller dropped the future) is in an unknown state and not reused.
    in_call: bool,
}

/// What a call used, for the metrics.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    fuel: u64,
    memory: u64,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        let live = if self.in_call { None } else { self.live.take() };
        self.plugin.pool.put(self.index, live);
    }
}

impl Plugin {
    /// A slot for a call, if one is free now: the path of a warm call, with
    /// no lock and no wait.
    pub(crate) fn try_checkout(&self) -> Option<Checkout<'_>> {
        if self.phase.is_stopped() {
            return None;
        }
        let slot = self.pool.try_take()?;
        Some(Checkout { plugin: self, index: slot.index, live: slot.live, in_call: false })
    }

    /// Takes a slot for a call to `export` that started at `started`;
    /// records the call when it is refused (a lease, with no export, is not
    /// a call).
    pub(crate) async fn checkout(
        &self,
        export: Option<&Name>,
        patient: bool,
        started: Instant,
    ) -> Result<Checkout<'_>> {
        let taken = async {
            self.refuse_if_stopped()?;
            let slot = self.pool.take(patient, &self.context.pool, &self.context.name).await?;
            let checkout =
                Checkout { plugin: self, index: slot.index, live: slot.live, in_call: false };
            // Stopped while this caller waited: `stop` is draining the pool.
            self.refuse_if_stopped()?;
            Ok(checkout)
        };
        let taken = taken.await;
        if let (Err(err), Some(export)) = (&taken, export) {
            self.record(None, export, started, failure(err), Usage::default());
        }
        taken
    }

    pub(crate) fn refuse_if_stopped(&self) -> Result<()> {
        if self.phase.is_stopped() {
            return Err(Error::Stopped { plugin: self.name().to_owned() });
        }
        Ok(())
    }

    /// Records a finished call in the holder's slot counters (or the shared
    /// ones, for a call refused before it held a slot) and, if anyone
    /// listens, in the event stream.
    fn record(
        &self,
        slot: Option<usize>,
        export: &Name,
        started: Instant,
        outcome: Outcome,
        usage: Usage,
    ) {
        let duration = started.elapsed();
        let sample = Sample {
            duration,
            outcome,
            fuel: usage.fuel,
            memory: usage.memory,
            // The label itself, not its text: a pointer comparison.
            delivered: outcome == Outcome::Ok && std::ptr::eq(export, &self.labels.on_message),
        };
        match slot {
            Some(index) => self.pool.counters(index).record(&sample, Writer::Holder),
            None => self.shared.record(&sample, Writer::Shared),
        }
        if outcome == Outcome::Ok {
            self.phase.succeeded();
        }
        self.events().send(|| Event::CallFinished {
            plugin: self.context.name.clone(),
            export: export.clone(),
            duration,
            outcome,
        });
    }

    fn restarted(&self, error: &Error) {
        self.shared.restart();
        let plugin = &self.context.name;
        tracing::warn!(target: "witplug::host", plugin = plugin.as_str(), "instance dropped: {error}");
        let events = self.events();
        events.send(|| Event::Trapped { plugin: plugin.clone(), reason: error.to_string() });
        events.send(|| Event::Restarted { plugin: plugin.clone() });
    }
}

/// How a call that failed with `err` ended.
fn failure(err: &Error) -> Outcome {
    if err.is_trap() { Outcome::Trap } else { Outcome::Error }
}

fn outcome<T>(result: &Result<T>) -> Outcome {
    result.as_ref().map_or_else(failure, |_| Outcome::Ok)
}

impl<'a> Checkout<'a> {
    pub fn plugin(&self) -> &'a Plugin {
        self.plugin
    }

    /// Runs `body` on this slot's instance (created first if the slot is
    /// empty) within the call's limits; maps its result with `then`; and
    /// records the call, all before the slot can be put back. A trap or a
    /// limit throws the instance away.
    pub async fn run<T, U>(
        &mut self,
        export: &Name,
        call: CallContext,
        started: Instant,
        body: impl AsyncFnOnce(&mut Live) -> wasmtime::Result<T>,
        then: impl FnOnce(T) -> Result<U>,
    ) -> Result<U> {
        let plugin = self.plugin;
        let live = match &mut self.live {
            Some(live) => live,
            empty => match plugin.instantiate(self.index).await {
                Ok(live) => empty.insert(live),
                Err(err) => {
                    plugin.record(
                        Some(self.index),
                        export,
                        started,
                        failure(&err),
                        Usage::default(),
                    );
                    return Err(err);
                }
            },
        };
        let limits = &plugin.context.limits;
        let until = started + limits.deadline;
        live.store.data_mut().begin_call(call, until);
        deadline::arm(&mut live.store, limits);
        self.in_call = true;
        let result = deadline::backstop(until, body(live)).await;
        self.in_call = false;
        let (result, usage) = self.settle(result);
        let result = result.and_then(then);
        plugin.record(Some(self.index), export, started, outcome(&result), usage);
        result
    }

    /// Ends a call on the instance: a good one stays in the slot (unless the
    /// pool is fresh), a failed one is thrown away and the failure named.
    fn settle<T>(&mut self, result: wasmtime::Result<T>) -> (Result<T>, Usage) {
        let plugin = self.plugin;
        let Some(live) = self.live.as_ref() else {
            return (result.map_err(|err| plugin.classify(&err, None)), Usage::default());
        };
        let fuel = match plugin.context.limits.fuel {
            Some(given) => given.saturating_sub(live.store.get_fuel().unwrap_or(given)),
            None => 0,
        };
        let usage = Usage { fuel, memory: live.store.data().limiter.peak_memory };
        match result {
            Ok(value) => {
                if plugin.context.pool.fresh {
                    self.live = None;
                }
                (Ok(value), usage)
            }
            Err(err) => {
                let error = plugin.classify(&err, Some(live.store.data()));
                self.live = None;
                plugin.restarted(&error);
                (Err(error), usage)
            }
        }
    }
}

/// The bindings of a `plugin`-world instance (the callers checked the
/// world), and its store.
fn guest(
    live: &mut Live,
) -> (
    &crate::bindings::exports::witplug::plugin::guest::Guest,
    &mut wasmtime::Store<crate::store::PluginState>,
) {
    let guest = live.guest.as_ref().expect("plugin-world instances have guest bindings");
    (guest.witplug_plugin_guest(), &mut live.store)
}

/// The calls a checkout makes: one per kind of export.
impl Checkout<'_> {
    pub async fn handle(&mut self, started: Instant, input: &str) -> Result<String> {
        let plugin = self.plugin;
        self.run(
            &plugin.labels.handle,
            CallContext::default(),
            started,
            async |live| {
                let (guest, store) = guest(live);
                guest.call_handle(store, input).await
            },
            |result| plugin.returned(result).and_then(|output| plugin.check_output(output)),
        )
        .await
    }

    pub async fn on_message(
        &mut self,
        started: Instant,
        call: CallContext,
        topic: &str,
        payload: &[u8],
    ) -> Result<()> {
        let plugin = self.plugin;
        self.run(
            &plugin.labels.on_message,
            call,
            started,
            async |live| {
                let (guest, store) = guest(live);
                guest.call_on_message(store, topic, payload).await
            },
            |result| plugin.returned(result),
        )
        .await
    }

    pub async fn run_tool(
        &mut self,
        started: Instant,
        call: CallContext,
        name: &str,
        input: &str,
    ) -> Result<String> {
        let plugin = self.plugin;
        self.run(
            &plugin.labels.run_tool,
            call,
            started,
            async |live| {
                let (guest, store) = guest(live);
                guest.call_run_tool(store, name, input).await
            },
            |result| plugin.returned(result).and_then(|output| plugin.check_output(output)),
        )
        .await
    }

    /// Calls a component export with arguments already checked against its
    /// type.
    pub async fn call(
        &mut self,
        started: Instant,
        export: &Export,
        args: &[Val],
    ) -> Result<Vec<Val>> {
        let plugin = self.plugin;
        let results = export.ty.results().len();
        self.run(
            &export.label,
            CallContext::default(),
            started,
            async |live| {
                let crate::load::Wasm::Component(instance) = &live.instance else {
                    return Err(wasmtime::format_err!("a core module has no component exports"));
                };
                let Some(func) = instance.get_func(&mut live.store, export.index) else {
                    return Err(wasmtime::format_err!("the export is missing from the instance"));
                };
                let mut values = vec![Val::Bool(false); results];
                func.call_async(&mut live.store, args, &mut values).await?;
                Ok(values)
            },
            |values| {
                plugin
                    .check_output(values.iter().map(super::exports::value_size).sum::<usize>())?;
                Ok(values)
            },
        )
        .await
    }

    /// Calls a core module's export with arguments already checked against
    /// its type.
    pub async fn call_core(
        &mut self,
        started: Instant,
        export: &CoreExport,
        args: &[wasmtime::Val],
    ) -> Result<Vec<wasmtime::Val>> {
        let results = export.ty.results().len();
        self.run(
            &export.label,
            CallContext::default(),
            started,
            async |live| {
                let crate::load::Wasm::Module(instance) = &live.instance else {
                    return Err(wasmtime::format_err!("a component has no core exports"));
                };
                let func = instance
                    .get_func(&mut live.store, &export.name)
                    .ok_or_else(|| wasmtime::format_err!("`{}` is not a function", export.name))?;
                let mut values = vec![wasmtime::Val::I32(0); results];
                func.call_async(&mut live.store, args, &mut values).await?;
                Ok(values)
            },
            Ok,
        )
        .await
    }
}
