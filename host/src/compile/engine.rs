//! Engines: one per distinct engine-wide setting (wasm stack size, fuel
//! metering), each with its linker and its epoch ticker.
//!
//! Most hosts need a single engine: plugins only get another one when their
//! manifest asks for a stack size or fuel metering that wasmtime configures
//! per engine rather than per store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy};

use crate::config::limits::Limits;
use crate::error::one_line;
use crate::instance_state::PluginState;
use crate::{Error, Result};

/// The engine-wide settings a plugin's limits imply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EngineKey {
    stack: u64,
    fuel: bool,
}

impl EngineKey {
    pub fn for_limits(limits: &Limits) -> Self {
        Self { stack: limits.stack, fuel: limits.fuel.is_some() }
    }
}

/// An engine and the linkers holding every import a plugin may use.
pub(crate) struct Runtime {
    pub engine: Engine,
    /// For components: WASI and `witplug:plugin/host`.
    pub linker: Linker<PluginState>,
    /// For core modules: the core ABI.
    pub core_linker: wasmtime::Linker<PluginState>,
}

/// The engines of one host, created on first use.
#[derive(Default)]
pub(crate) struct Engines {
    runtimes: Mutex<HashMap<EngineKey, Arc<Runtime>>>,
}

impl Engines {
    /// The runtime for `key`, created with its ticker when first asked for.
    pub fn get(&self, key: EngineKey) -> Result<Arc<Runtime>> {
        let mut runtimes = self.runtimes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(runtime) = runtimes.get(&key) {
            return Ok(runtime.clone());
        }
        let runtime = Arc::new(build(key).map_err(|err| Error::Setup(one_line(&err)))?);
        runtimes.insert(key, runtime.clone());
        Ok(runtime)
    }
}

/// The wasmtime configuration of plugins under the given limits.
///
/// Instances are allocated on demand, each by itself: no engine-wide pool
/// whose totals (instances, memories, tables, fiber stacks) one plugin's
/// pool, or a thousand plugins, could use up for all the others. Each
/// instance is still held to its own [`Limits`] by the store's limiter,
/// and its memory starts from a copy-on-write image as in a pool.
///
/// It is public so that a host can compare witplug against wasmtime used by
/// hand with the same settings, as `cargo xtask bench` does.
pub fn engine_config(limits: &Limits) -> Config {
    let key = EngineKey::for_limits(limits);
    let mut config = Config::new();
    config.wasm_component_model(true);
    // No plugin world uses component-model async; without it a call is
    // cheaper.
    config.concurrency_support(false);
    config.epoch_interruption(true);
    config.consume_fuel(key.fuel);
    let stack = usize::try_from(key.stack).unwrap_or(usize::MAX);
    config.max_wasm_stack(stack);
    // Host calls run on the same fiber stack as wasm: leave them room.
    config.async_stack_size(stack.saturating_add(1 << 20));
    config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    config
}

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

fn build(key: EngineKey) -> wasmtime::Result<Runtime> {
    let limits = Limits { stack: key.stack, fuel: key.fuel.then_some(1), ..Limits::default() };
    let engine = Engine::new(&engine_config(&limits))?;
    start_ticker(&engine)?;

    let mut linker = Linker::new(&engine);
    crate::imports::add_to_linker(&mut linker)?;
    let mut core_linker = wasmtime::Linker::new(&engine);
    crate::imports::core_abi::add_to_linker(&mut core_linker)?;
    Ok(Runtime { engine, linker, core_linker })
}
