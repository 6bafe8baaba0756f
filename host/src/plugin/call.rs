//! The call: [`Plugin::run`] takes a slot (`checkout`), makes sure it
//! holds an instance, runs the export within the call's limits (its
//! deadline: `deadline`), shapes the result (the plugin's own error, the
//! output limit), names a failure (`trap`) and records the call, all in
//! one future; then the calls of each kind of export (`handle`,
//! `on-message`, a tool, a dynamic call, a core export) as that future.
//! A warm call takes no lock and allocates nothing of its own.

pub(crate) mod deadline;
pub(crate) mod trap;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::component::Val;

use super::checkout::{Checkout, Source, Usage};
use super::pool::Live;
use super::{CoreExport, Export, Plugin};
use crate::clock::Moment;
use crate::instance_state::PluginState;
use crate::name::Name;
use crate::observe::events::{Event, Outcome};
use crate::observe::metrics::{Sample, Writer};
use crate::tools::call_chain::{CallContext, Direct, Origin};
use crate::{Error, PluginError, Result};

impl Plugin {
    /// Names the failure of a call: the trap, or the limit it hit.
    pub(crate) fn classify(&self, err: &wasmtime::Error, state: Option<&PluginState>) -> Error {
        crate::plugin::call::trap::classify(self.name(), &self.context.limits, err, state)
    }

    #[inline]
    pub(crate) fn require_guest(&self) -> Result<()> {
        if self.guest.is_some() { Ok(()) } else { Err(self.wrong_world()) }
    }

    /// Turns the plugin's own error value into [`Error::Plugin`].
    pub(crate) fn returned<T>(&self, result: Result<T, PluginError>) -> Result<T> {
        result.or_else(|error| {
            let message = crate::error::describe(&error);
            self.check_output(message.len())?;
            Err(Error::Plugin { plugin: self.name().to_owned(), error })
        })
    }

    #[inline]
    pub(crate) fn check_output<T: OutputSize>(&self, output: T) -> Result<T> {
        let size = output.output_size() as u64;
        let limit = self.context.limits.max_output;
        if size > limit {
            return Err(Error::OutputTooLarge { plugin: self.name().to_owned(), size, limit });
        }
        Ok(output)
    }
}

/// How many bytes a call's result carries, for the output limit.
pub(crate) trait OutputSize {
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

impl Plugin {
    /// Records a failed call: [`Plugin::record`], out of line.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_failure(
        &self,
        slot: Option<usize>,
        export: &Name,
        started: Moment,
        err: &Error,
        usage: Usage,
    ) {
        self.record(slot, export, started, failure(err), usage);
    }

    /// Records a finished call in the holder's slot counters (or the shared
    /// ones, for a call refused before it held a slot) and, if anyone
    /// listens, in the event stream. Inlined: a warm call's success is
    /// recorded where it ends.
    #[inline(always)]
    fn record(
        &self,
        slot: Option<usize>,
        export: &Name,
        started: Moment,
        outcome: Outcome,
        usage: Usage,
    ) {
        let nanos = started.nanos_since();
        let sample = Sample {
            nanos,
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
            duration: Duration::from_nanos(nanos),
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

pin_project_lite::pin_project! {
    /// A future polled by a function of its own, never inlined: a warm call
    /// takes neither the wait for a slot nor an instantiation, and their
    /// code kept out of [`Plugin::run`]'s leaves the warm path's code
    /// short, so it stays in the instruction cache.
    struct OutOfLine<F> {
        #[pin]
        future: F,
    }
}

fn out_of_line<F: Future>(future: F) -> OutOfLine<F> {
    OutOfLine { future }
}

impl<F: Future> Future for OutOfLine<F> {
    type Output = F::Output;

    #[cold]
    #[inline(never)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

/// How a call that failed with `err` ended.
fn failure(err: &Error) -> Outcome {
    Outcome::of(err.kind())
}

impl<'p> Plugin {
    /// Runs one call: takes a slot from `source`, fills it with an
    /// instance if it is empty, runs `body` on the instance within the
    /// call's limits, maps its result with `then`, and records the call, all
    /// before the slot can be put back. A trap or a limit throws the
    /// instance away. `guest` calls need the `plugin` world's bindings.
    ///
    /// (An async block, not an `async fn`: an async fn's future moves its
    /// arguments into its locals at the first poll, where the block uses
    /// what it captured in place; some 20 instructions a call.)
    #[expect(clippy::manual_async_fn, reason = "see above: the block keeps its captures in place")]
    pub(crate) fn run<T, U>(
        &'p self,
        source: Source<'_, 'p>,
        export: &Name,
        guest: bool,
        origin: impl Origin,
        body: impl AsyncFnOnce(&mut Live) -> wasmtime::Result<T>,
        then: impl FnOnce(T) -> Result<U>,
    ) -> impl Future<Output = Result<U>> {
        async move {
            if guest {
                self.require_guest()?;
            }
            let started = Moment::now();
            let mut taken = None;
            let checkout = match source {
                Source::Leased(checkout) => {
                    // The lease's last call was abandoned mid-call (its future
                    // dropped): its instance is in an unknown state.
                    if checkout.in_call {
                        checkout.in_call = false;
                        checkout.live = None;
                    }
                    checkout
                }
                Source::Pool { patient } => {
                    let slot = match self.try_take() {
                        Some(slot) => slot,
                        None => out_of_line(self.take(Some(export), patient, started)).await?,
                    };
                    taken.insert(Checkout::new(self, slot))
                }
            };
            let live = match &mut checkout.live {
                Some(live) => live,
                empty => match out_of_line(self.instantiate(checkout.index)).await {
                    Ok(live) => empty.insert(live),
                    Err(err) => {
                        let slot = Some(checkout.index);
                        self.record_failure(slot, export, started, &err, Usage::default());
                        return Err(err);
                    }
                },
            };
            let limits = &self.context.limits;
            let until = live.store.data_mut().begin_call(origin, started, self.context.deadline);
            deadline::arm(&mut live.store, limits);
            checkout.in_call = true;
            // The result is matched where the call left it, and each way out
            // builds its own result after recording the call: a result moved
            // on through variables costs more than its fields (each move reads
            // back what was only just written).
            let slot = Some(checkout.index);
            let (err, usage) = match deadline::backstop(until, body(live)).await {
                Ok(value) => {
                    checkout.in_call = false;
                    let usage = checkout.usage(limits.fuel);
                    if self.context.pool.fresh {
                        checkout.live = None;
                    }
                    match then(value) {
                        Ok(output) => {
                            self.record(slot, export, started, Outcome::Ok, usage);
                            return Ok(output);
                        }
                        Err(err) => (err, usage),
                    }
                }
                Err(err) => {
                    checkout.in_call = false;
                    let usage = checkout.usage(limits.fuel);
                    (checkout.failed(&err), usage)
                }
            };
            self.record_failure(slot, export, started, &err, usage);
            Err(err)
        }
    }
}

impl<'a> Checkout<'a> {
    pub fn plugin(&self) -> &'a Plugin {
        self.plugin
    }

    /// What the call that just ended on this slot's instance used, of the
    /// fuel `given` it.
    #[inline]
    fn usage(&self, given: Option<u64>) -> Usage {
        let Some(live) = self.live.as_ref() else { return Usage::default() };
        let fuel = match given {
            Some(given) => given.saturating_sub(live.store.get_fuel().unwrap_or(given)),
            None => 0,
        };
        Usage { fuel, memory: live.store.data().limiter.peak_memory }
    }

    /// Names the failure of a call and throws its instance away (a trap or
    /// a limit leaves it in an unknown state).
    #[cold]
    #[inline(never)]
    fn failed(&mut self, err: &wasmtime::Error) -> Error {
        let plugin = self.plugin;
        let Some(live) = self.live.take() else { return plugin.classify(err, None) };
        let error = plugin.classify(err, Some(live.store.data()));
        drop(live);
        plugin.restarted(&error);
        error
    }
}

/// The bindings of a `plugin`-world instance (the callers checked the
/// world), and its store.
fn guest(
    live: &mut Live,
) -> (&crate::contract::Guest, &mut wasmtime::Store<crate::instance_state::PluginState>) {
    let guest = live.guest.as_ref().expect("plugin-world instances have guest bindings");
    (guest, &mut live.store)
}

/// The calls of each kind of export, on an instance from any source. Each
/// is [`Plugin::run`]'s own future, not a future wrapping it.
impl<'p> Plugin {
    pub(crate) fn handle_in(
        &'p self,
        source: Source<'_, 'p>,
        input: &str,
    ) -> impl Future<Output = Result<String>> {
        self.run(
            source,
            &self.labels.handle,
            true,
            Direct,
            async |live| {
                let (guest, store) = guest(live);
                guest.handle(store, input).await
            },
            |result| self.returned(result).and_then(|output| self.check_output(output)),
        )
    }

    pub(crate) fn on_message_in(
        &'p self,
        source: Source<'_, 'p>,
        call: CallContext,
        topic: &str,
        payload: &[u8],
    ) -> impl Future<Output = Result<()>> {
        self.run(
            source,
            &self.labels.on_message,
            true,
            call,
            async |live| {
                let (guest, store) = guest(live);
                guest.on_message(store, topic, payload).await
            },
            |result| self.returned(result),
        )
    }

    pub(crate) fn run_tool_in(
        &'p self,
        source: Source<'_, 'p>,
        call: CallContext,
        name: &str,
        input: &str,
    ) -> impl Future<Output = Result<String>> {
        self.run(
            source,
            &self.labels.run_tool,
            true,
            call,
            async |live| {
                let (guest, store) = guest(live);
                guest.run_tool(store, name, input).await
            },
            |result| self.returned(result).and_then(|output| self.check_output(output)),
        )
    }

    /// Calls a component export with arguments already checked against its
    /// type.
    pub(crate) fn call_in(
        &'p self,
        source: Source<'_, 'p>,
        export: &Export,
        args: &[Val],
    ) -> impl Future<Output = Result<Vec<Val>>> {
        let results = export.ty.results().len();
        self.run(
            source,
            &export.label,
            false,
            Direct,
            async move |live| {
                let crate::compile::code::Wasm::Component(instance) = &live.instance else {
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
                self.check_output(values.iter().map(super::exports::value_size).sum::<usize>())?;
                Ok(values)
            },
        )
    }

    /// Calls a core module's export with arguments already checked against
    /// its type.
    pub(crate) fn call_core_in(
        &'p self,
        source: Source<'_, 'p>,
        export: &CoreExport,
        args: &[wasmtime::Val],
    ) -> impl Future<Output = Result<Vec<wasmtime::Val>>> {
        let results = export.ty.results().len();
        self.run(
            source,
            &export.label,
            false,
            Direct,
            async move |live| {
                let crate::compile::code::Wasm::Module(instance) = &live.instance else {
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
    }
}
