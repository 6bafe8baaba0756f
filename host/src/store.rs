//! What a plugin's `Store` holds: its identity, grants and limits, its WASI
//! context, the accounting of the call it serves, and the host services its
//! imports reach.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bus::MessageBus;
use crate::call::{CallContext, Origin};
use crate::clock::{Moment, Span};
use crate::events::{Event, Events};
use crate::grants::Grants;
use crate::limiter::Limiter;
use crate::limits::Limits;
use crate::manifest::PoolConfig;
use crate::name::Name;
use crate::origins::Origins;
use crate::stderr::StderrTail;
use crate::tools::ToolRegistry;

/// The data of one plugin instance's `Store`.
///
/// Built by [`Plugin::new_store`](crate::Plugin::new_store); a host that
/// instantiates a plugin through its own `bindgen!` world uses it as `T`.
pub struct PluginState {
    pub(crate) plugin: Arc<PluginContext>,
    pub(crate) limiter: Limiter,
    pub(crate) call: CallState,
    pub(crate) stderr: StderrTail,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    origins: Origins,
    table: ResourceTable,
}

/// What every instance of one plugin shares.
#[derive(Debug)]
pub(crate) struct PluginContext {
    pub name: Name,
    pub config: BTreeMap<String, String>,
    pub grants: Grants,
    pub limits: Limits,
    /// `limits.deadline` in the clock's units.
    pub deadline: Span,
    pub pool: PoolConfig,
    pub provides: Vec<String>,
    pub services: Arc<Services>,
    /// Uses of something not granted, refused.
    pub denied: AtomicU64,
}

impl PluginContext {
    /// Refuses `capability` (`tool:shell`, `connect:10.0.0.1:22`...): logs
    /// it, counts it and tells the host's listeners.
    pub(crate) fn deny(&self, capability: &str) {
        tracing::warn!(target: "witplug::host", plugin = self.name.as_str(), "denied {capability}");
        self.denied.fetch_add(1, Ordering::Relaxed);
        self.services.events.send(|| Event::Denied {
            plugin: self.name.clone(),
            capability: capability.to_owned(),
        });
    }
}

/// What every plugin of one host shares.
#[derive(Debug)]
pub(crate) struct Services {
    pub tools: ToolRegistry,
    pub bus: Arc<dyn MessageBus>,
    pub events: Events,
}

/// What the host tracks during one call.
#[derive(Debug)]
pub(crate) struct CallState {
    /// When the call began.
    pub started: Moment,
    /// When the call must have finished.
    pub deadline: Moment,
    /// Log lines written so far.
    pub log_lines: u64,
    /// The message of a Rust panic, as the guest SDK reported it.
    pub panic: Option<String>,
    /// How much the instance had written to stderr when the call began.
    pub stderr_mark: u64,
    /// Where the call comes from.
    pub context: CallContext,
}

impl PluginState {
    pub(crate) fn new(plugin: Arc<PluginContext>) -> Self {
        let stderr = StderrTail::new(plugin.grants.stderr);
        let now = Moment::now();
        Self {
            limiter: Limiter::new(&plugin.limits),
            call: CallState {
                started: now,
                deadline: now.after(plugin.deadline),
                log_lines: 0,
                panic: None,
                stderr_mark: 0,
                context: CallContext::default(),
            },
            wasi: plugin.grants.wasi(denied_by(&plugin), stderr.clone()),
            stderr,
            http: WasiHttpCtx::new(),
            origins: Origins::new(
                &plugin.grants.http,
                plugin.limits.max_input,
                plugin.limits.max_output,
                denied_by(&plugin),
            ),
            table: ResourceTable::new(),
            plugin,
        }
    }

    /// Starts the accounting of a call that began at `started` and may
    /// run for `limit`, coming from `origin`; gives back its deadline.
    #[inline(always)]
    pub(crate) fn begin_call(
        &mut self,
        origin: impl Origin,
        started: Moment,
        limit: Span,
    ) -> Moment {
        let deadline = started.after(limit);
        self.call.started = started;
        self.call.deadline = deadline;
        self.call.log_lines = 0;
        self.call.panic = None;
        self.call.stderr_mark = self.stderr.mark();
        origin.replace(&mut self.call.context);
        self.limiter.memory_refused = false;
        self.limiter.table_refused = false;
        deadline
    }

    /// The name of the plugin this instance belongs to.
    pub fn plugin_name(&self) -> &str {
        &self.plugin.name
    }
}

/// Reports a network use the grants refused, as a denied call is. (Weak:
/// the WASI context lives in the store, which the context must not keep.)
fn denied_by(plugin: &Arc<PluginContext>) -> impl Fn(String) + Send + Sync + 'static {
    let plugin = Arc::downgrade(plugin);
    move |capability: String| {
        if let Some(plugin) = plugin.upgrade() {
            plugin.deny(&capability);
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.origins }
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl std::fmt::Debug for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginState").field("plugin", &self.plugin.name).finish_non_exhaustive()
    }
}
