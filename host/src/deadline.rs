//! Deadlines: the epoch ticker that interrupts running wasm, the callback
//! that decides at each tick whether a call has run out of time, and the
//! backstop that stops a call waiting too long in the host.
//!
//! Arming a call reads no clock: its deadline counts from the instant the
//! call already read for its metrics, and the clock is read again only at
//! an epoch tick, every [`TICK`], while wasm runs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, UpdateDeadline};

use crate::limiter::LimitHit;
use crate::limits::Limits;
use crate::store::PluginState;

/// How often each engine's epoch advances: the granularity of deadlines, and
/// how often a long-running plugin yields to the async runtime.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Advances `engine`'s epoch every [`TICK`] until the engine is dropped.
pub(crate) fn start_ticker(engine: &Engine) -> wasmtime::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new().name("witplug-epoch".to_owned()).spawn(move || {
        loop {
            std::thread::sleep(TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        }
    })?;
    Ok(())
}

/// Makes every epoch tick check the current call's deadline: past it, the
/// call traps with [`LimitHit::Deadline`]; before it, the call yields to
/// the runtime and runs on.
pub(crate) fn watch(store: &mut Store<PluginState>) {
    store.epoch_deadline_callback(|store| {
        if Instant::now() >= store.data().call.deadline {
            return Err(wasmtime::Error::new(LimitHit::Deadline));
        }
        Ok(UpdateDeadline::Yield(1))
    });
}

/// Arms the interruption and the fuel of one call in `store`.
pub(crate) fn arm(store: &mut Store<PluginState>, limits: &Limits) {
    store.set_epoch_deadline(1);
    if let Some(fuel) = limits.fuel {
        // Fails only when the engine does not meter fuel, which the
        // engine key rules out.
        let _ = store.set_fuel(fuel);
    }
}

/// Runs `call` with a wall-clock backstop at `deadline` (and two ticks of
/// grace): epoch interruption stops wasm that runs too long, and this stops
/// a call that waits too long in the host (an async tool that never
/// answers, a WASI sleep). The timer is only set once the call first waits,
/// so a call that never waits pays nothing for it, and the call is polled
/// where it lies, never moved.
pub(crate) fn backstop<F: Future>(deadline: Instant, call: F) -> Backstop<F> {
    Backstop { call, timer: None, until: tokio::time::Instant::from_std(deadline) + 2 * TICK }
}

pin_project_lite::pin_project! {
    /// The future of [`backstop`].
    pub(crate) struct Backstop<F> {
        #[pin]
        call: F,
        #[pin]
        timer: Option<tokio::time::Sleep>,
        until: tokio::time::Instant,
    }
}

impl<T, F: Future<Output = wasmtime::Result<T>>> Future for Backstop<F> {
    type Output = wasmtime::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.call.poll(cx) {
            return Poll::Ready(result);
        }
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep_until(*this.until)));
        }
        match this.timer.as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(wasmtime::Error::new(LimitHit::Deadline))),
            _ => Poll::Pending,
        }
    }
}
