//! The instances of one plugin: a bounded pool, a bounded queue of callers
//! waiting for it, and what happens to an instance that fails.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use wasmtime::component::Instance;
use wasmtime::{Store, Trap};

use super::{Code, Phase, Plugin};
use crate::bindings::Plugin as GuestBindings;
use crate::engine::TICK;
use crate::error::one_line;
use crate::events::Event;
use crate::limits::LimitHit;
use crate::state::{CallContext, PluginState};
use crate::{Error, Result};

/// How many instances a plugin runs at once, and how callers wait for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Instances that serve calls in parallel (default 1: calls take turns
    /// and the plugin's state is shared by all of them).
    pub size: usize,
    /// Callers that may wait for an instance (default 64); past that a call
    /// is refused at once with [`Error::Busy`].
    pub queue: usize,
    /// How long a caller waits for an instance (default 5 s) before
    /// [`Error::Busy`].
    pub wait: Duration,
    /// Whether every call gets a fresh instance, dropped afterwards (default
    /// false): no state survives a call, at the cost of an instantiation.
    pub fresh: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self { size: 1, queue: 64, wait: Duration::from_secs(5), fresh: false }
    }
}

/// The idle instances and the permits that bound the busy ones.
pub(crate) struct Pool {
    idle: Mutex<Vec<Live>>,
    permits: Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

impl Pool {
    pub fn new(config: &PoolConfig) -> Self {
        Self {
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(config.size),
            waiting: Default::default(),
        }
    }

    pub fn idle_count(&self) -> usize {
        self.idle().len()
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Live>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running instance and the `Store` that owns it.
pub(crate) struct Live {
    pub store: Store<PluginState>,
    pub instance: Running,
    pub guest: Option<GuestBindings>,
}

/// An instance of a component or of a core module.
pub(crate) enum Running {
    Component(Instance),
    Module(wasmtime::Instance),
}

/// What a call used, for the metrics.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Usage {
    pub fuel: u64,
    pub memory: u64,
}

/// Counts a caller out of the pool's queue when its wait ends, however.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An instance lent to one call, with the permit that bounds the pool.
pub(crate) struct Checkout<'a> {
    plugin: &'a Plugin,
    live: Option<Live>,
    _permit: SemaphorePermit<'a>,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        // An instance still here was abandoned mid-call (the caller dropped
        // the future): its state is unknown, so it is not reused.
        self.live.take();
        self.plugin.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Plugin {
    /// Runs `body` on an instance from the pool, within the call's limits;
    /// maps its result with `then`; and records the call, all before the
    /// instance is released. A trap or limit throws the instance away.
    pub(crate) async fn run<T, U>(
        &self,
        export: &str,
        call: CallContext,
        body: impl AsyncFnOnce(&mut Live) -> wasmtime::Result<T>,
        then: impl FnOnce(T) -> Result<U>,
    ) -> Result<U> {
        let started = std::time::Instant::now();
        let patient = call.patient;
        let mut checkout = match self.checkout(call, patient).await {
            Ok(checkout) => checkout,
            Err(err) => {
                let failed: Result<U> = Err(err);
                self.finish(export, started, &failed, Usage::default());
                return failed;
            }
        };
        let live = checkout.live.as_mut().expect("a checkout holds an instance until settled");
        let result = self.within_deadline(body(live)).await;
        let (result, usage) = self.settle(&mut checkout, result);
        let result = result.and_then(then);
        self.finish(export, started, &result, usage);
        // Only now is the instance free for the next call.
        drop(checkout);
        result
    }

    async fn checkout(&self, call: CallContext, patient: bool) -> Result<Checkout<'_>> {
        self.refuse_if_stopped()?;
        let permit = self.acquire(patient).await?;
        // Stopped while this caller waited: `stop` is draining the pool.
        self.refuse_if_stopped()?;
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut checkout = Checkout { plugin: self, live: None, _permit: permit };
        let idle = self.pool.idle().pop();
        let mut live = match idle {
            Some(live) => live,
            None => self.instantiate().await?,
        };
        live.store.data_mut().begin_call(call);
        self.arm(&mut live.store);
        checkout.live = Some(live);
        Ok(checkout)
    }

    fn refuse_if_stopped(&self) -> Result<()> {
        match *self.phase() {
            Phase::Stopped => Err(Error::Stopped { plugin: self.name().to_owned() }),
            _ => Ok(()),
        }
    }

    /// Waits for a free instance. A patient caller (message delivery, one
    /// per plugin) waits as long as it takes; others wait within the pool's
    /// queue and wait bounds.
    async fn acquire(&self, patient: bool) -> Result<SemaphorePermit<'_>> {
        if let Ok(permit) = self.pool.permits.try_acquire() {
            return Ok(permit);
        }
        let stopped = |_| Error::Stopped { plugin: self.name().to_owned() };
        if patient {
            return self.pool.permits.acquire().await.map_err(stopped);
        }
        let config = &self.context.pool;
        let busy = |reason| Error::Busy { plugin: self.name().to_owned(), reason };
        if self.pool.waiting.fetch_add(1, Ordering::SeqCst) >= config.queue {
            self.pool.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy(format!("{} callers are already waiting", config.queue)));
        }
        // Counted out again however this wait ends, even when the caller
        // gives up and drops the call.
        let _waiting = Waiting(&self.pool.waiting);
        match tokio::time::timeout(config.wait, self.pool.permits.acquire()).await {
            Ok(acquired) => acquired.map_err(stopped),
            Err(_elapsed) => Err(busy(format!(
                "all {} instances stayed busy for {:?}",
                config.size, config.wait
            ))),
        }
    }

    /// Ends a call: a good instance goes back to the pool (unless the pool
    /// is fresh or the plugin was stopped meanwhile), a failed one is thrown
    /// away and the failure is named.
    fn settle<T>(
        &self,
        checkout: &mut Checkout<'_>,
        result: wasmtime::Result<T>,
    ) -> (Result<T>, Usage) {
        let live = checkout.live.take().expect("a checkout holds an instance until settled");
        let usage = self.usage(&live.store);
        match result {
            Ok(value) => {
                if !self.context.pool.fresh {
                    self.pool.idle().push(live);
                }
                (Ok(value), usage)
            }
            Err(err) => {
                let error = self.classify(&err, Some(live.store.data()));
                drop(live);
                self.restarted(&error);
                (Err(error), usage)
            }
        }
    }

    fn usage(&self, store: &Store<PluginState>) -> Usage {
        let fuel = match self.context.limits.fuel {
            Some(given) => given.saturating_sub(store.get_fuel().unwrap_or(given)),
            None => 0,
        };
        Usage { fuel, memory: store.data().limiter.peak_memory }
    }

    fn restarted(&self, error: &Error) {
        let plugin = self.name().to_owned();
        self.recorder().restart();
        tracing::warn!(target: "witplug::host", plugin, "instance dropped: {error}");
        let events = &self.context.services.events;
        events.send(Event::Trapped { plugin: plugin.clone(), reason: error.to_string() });
        events.send(Event::Restarted { plugin });
    }

    /// Makes sure one instance is initialised and idle, and says whether
    /// `init` succeeded.
    pub(crate) async fn warm_up(&self) -> Result<()> {
        self.fill(1).await
    }

    /// Creates idle, initialised instances until the pool holds `count`
    /// (idle or busy, at most the pool's size), so no call waits for an
    /// instantiation.
    pub(crate) async fn fill(&self, count: usize) -> Result<()> {
        let target = count.min(self.context.pool.size);
        loop {
            self.refuse_if_stopped()?;
            // Holding a permit, no call can take or add an instance.
            let _permit = self.acquire(true).await?;
            let held = self.pool.idle().len() + self.in_flight.load(Ordering::Relaxed);
            if held >= target {
                return Ok(());
            }
            let live = self.instantiate().await?;
            self.pool.idle().push(live);
        }
    }

    /// Waits for every call in flight, then runs `shutdown` on every idle
    /// instance and drops it. A `shutdown` that hangs is stopped by the
    /// deadline. (The phase is already `Stopped`, so no call starts.)
    pub(crate) async fn drain(&self) -> Result<()> {
        let size = u32::try_from(self.context.pool.size).unwrap_or(u32::MAX);
        // Calls in flight and instantiations each end within their deadline.
        let _all = self.pool.permits.acquire_many(size).await;
        let instances = std::mem::take(&mut *self.pool.idle());
        let mut first_error = None;
        for mut live in instances {
            let Some(guest) = live.guest.take() else { continue };
            live.store.data_mut().begin_call(CallContext::default());
            self.arm(&mut live.store);
            let call = guest.witplug_plugin_guest().call_shutdown(&mut live.store);
            if let Err(err) = self.within_deadline(call).await {
                let error = self.classify(&err, Some(live.store.data()));
                tracing::warn!(target: "witplug::host", plugin = self.name(), "shutdown: {error}");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A fresh instance, initialised: instantiation and `init` run within
    /// one call's limits.
    pub(crate) async fn instantiate(&self) -> Result<Live> {
        let mut store = self.new_store();
        let instance = self.instantiate_code(&mut store).await?;
        let guest = match (&self.guest, &instance) {
            (Some(indices), Running::Component(instance)) => Some(
                indices
                    .load(&mut store, instance)
                    .map_err(|err| self.classify(&err, Some(store.data())))?,
            ),
            _ => None,
        };
        if let Some(guest) = &guest {
            let init = guest.witplug_plugin_guest().call_init(&mut store);
            let outcome = self
                .within_deadline(init)
                .await
                .map_err(|err| self.classify(&err, Some(store.data())))
                .and_then(|result| {
                    result.map_err(|error| Error::InitFailed {
                        plugin: self.name().to_owned(),
                        error,
                    })
                });
            if let Err(err) = outcome {
                self.failed(err.to_string());
                self.context.services.events.send(Event::InitFailed {
                    plugin: self.name().to_owned(),
                    reason: err.to_string(),
                });
                return Err(err);
            }
        }
        self.initialised();
        Ok(Live { store, instance, guest })
    }

    pub(crate) async fn instantiate_code(&self, store: &mut Store<PluginState>) -> Result<Running> {
        let result = match &self.code {
            Code::Component { pre, .. } => self
                .within_deadline(pre.instantiate_async(&mut *store))
                .await
                .map(Running::Component),
            Code::Module { pre } => {
                self.within_deadline(pre.instantiate_async(&mut *store)).await.map(Running::Module)
            }
        };
        result.map_err(|err| self.classify(&err, Some(store.data())))
    }

    /// Runs `call` with the plugin's deadline as a backstop: epoch
    /// interruption stops wasm that runs too long, and this stops a call
    /// that waits too long in the host (an async tool that never answers, a
    /// WASI sleep). The timer is only set once the call first waits, so a
    /// call that never waits pays nothing for it.
    pub(crate) async fn within_deadline<T>(
        &self,
        call: impl Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        let until = tokio::time::Instant::now() + self.context.limits.deadline + 2 * TICK;
        let mut call = std::pin::pin!(call);
        let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(result) = call.as_mut().poll(cx) {
                return std::task::Poll::Ready(result);
            }
            let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
            match timer.as_mut().poll(cx) {
                std::task::Poll::Ready(()) => {
                    std::task::Poll::Ready(Err(wasmtime::Error::new(LimitHit::Deadline)))
                }
                std::task::Poll::Pending => std::task::Poll::Pending,
            }
        })
        .await
    }

    /// Turns a failed call into the error that says which limit was hit, or
    /// which trap happened.
    pub(crate) fn classify(&self, err: &wasmtime::Error, state: Option<&PluginState>) -> Error {
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
                let panic = crate::error::collapse_whitespace(panic);
                return Error::Trap { plugin, message: format!("panicked: {panic}") };
            }
        }
        let message = match trap {
            Some(trap) => trap.to_string(),
            None => one_line(err),
        };
        // wasmtime reports these as plain errors; their text is all there is.
        if message.contains("count too high") {
            return Error::InstanceLimit { plugin, limit: limits.instances };
        }
        if message.contains("fuel allocated for hostcalls has been exhausted") {
            return Error::DataLimit { plugin, limit: self.hostcall_fuel() as u64 };
        }
        Error::Trap { plugin, message }
    }
}
