//! Deadlines: the epoch ticker that interrupts running wasm, the callback
//! that decides at each tick whether a call has run out of time, and the
//! backstop that stops a call waiting too long in the host.
//!
//! Starting a call reads no clock and touches no epoch: its deadline counts
//! from the moment the call already read for its metrics, the epoch
//! deadline is left where the last tick put it, and the clock is read again
//! only at an epoch tick, every [`TICK`], while wasm runs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use wasmtime::{Store, UpdateDeadline};

use crate::clock::{Moment, Span};
use crate::compile::engine::TICK;
use crate::config::limits::Limits;
use crate::instance_state::PluginState;
use crate::instance_state::limiter::LimitHit;

/// Makes every epoch tick check the current call's deadline: past it, the
/// call traps with [`LimitHit::Deadline`]; before it, the call runs on,
/// and yields to the runtime first if it has run for a tick already.
///
/// The epoch deadline is never re-armed between calls: it always stands
/// at the tick after the last one the store saw. So a tick that passed
/// while the instance sat idle is seen at the next call's first check,
/// which then finds the call young and carries on without yielding.
pub(crate) fn watch(store: &mut Store<PluginState>) {
    store.set_epoch_deadline(1);
    let tick = Span::of(TICK);
    store.epoch_deadline_callback(move |store| {
        let call = &store.data().call;
        let now = Moment::now();
        if now >= call.deadline {
            return Err(wasmtime::Error::new(LimitHit::Deadline));
        }
        if now < call.started.after(tick) {
            return Ok(UpdateDeadline::Continue(1));
        }
        Ok(UpdateDeadline::Yield(1))
    });
}

/// Arms the fuel of one call in `store` (the epoch deadline needs no
/// arming: see [`watch`]).
#[inline]
pub(crate) fn arm(store: &mut Store<PluginState>, limits: &Limits) {
    if let Some(fuel) = limits.fuel {
        // Fails only when the engine does not meter fuel, which the
        // engine key rules out.
        let _ = store.set_fuel(fuel);
    }
}

/// Runs `call` with a wall-clock backstop at `deadline` (and two ticks of
/// grace): epoch interruption stops wasm that runs too long, and this stops
/// a call that waits too long in the host (an async tool that never
/// answers, a WASI sleep). The timer is made, boxed, only when the call
/// first waits: a call that never waits carries just an empty pointer for
/// it, and one that waits pays one allocation. The call is polled where it
/// lies, never moved.
pub(crate) fn backstop<F: Future>(deadline: Moment, call: F) -> Backstop<F> {
    Backstop { call, timer: None, until: deadline }
}

pin_project_lite::pin_project! {
    /// The future of [`backstop`].
    pub(crate) struct Backstop<F> {
        #[pin]
        call: F,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
        until: Moment,
    }
}

impl<T, F: Future<Output = wasmtime::Result<T>>> Future for Backstop<F> {
    type Output = wasmtime::Result<T>;

    /// Inlined into the call's own future: the call's result is then
    /// handed on once, not once more through this wrapper.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.call.poll(cx) {
            return Poll::Ready(result);
        }
        waiting(this.timer, *this.until, cx)
    }
}

/// The backstop of a call that waits: the timer, made at the first wait.
/// Out of line, so that the code of a call that never waits stays short.
#[cold]
#[inline(never)]
fn waiting<T>(
    timer: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    until: Moment,
    cx: &mut Context<'_>,
) -> Poll<wasmtime::Result<T>> {
    let timer =
        timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(until.remaining() + 2 * TICK)));
    match timer.as_mut().poll(cx) {
        Poll::Ready(()) => Poll::Ready(Err(wasmtime::Error::new(LimitHit::Deadline))),
        Poll::Pending => Poll::Pending,
    }
}
