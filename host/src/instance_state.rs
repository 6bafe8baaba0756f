//! What a plugin's `Store` holds: its identity, grants and limits, its WASI
//! context, the accounting of the call it serves, and the host services its
//! imports reach.

pub(crate) mod held;
pub(crate) mod limiter;
pub(crate) mod stderr;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bus::MessageBus;
use crate::clock::{Moment, Span};
use crate::config::grants::{Grants, OpenDir};
use crate::config::http_origins::Origins;
use crate::config::limits::Limits;
use crate::config::manifest::PoolConfig;
use crate::instance_state::held::Held;
use crate::instance_state::limiter::Limiter;
use crate::instance_state::stderr::StderrTail;
use crate::kv::Buckets;
use crate::name::Name;
use crate::observe::events::{Event, Events};
use crate::observe::metrics::KvCounters;
use crate::text::{self, sanitize};
use crate::tools::ToolRegistry;
use crate::tools::call_chain::{CallContext, Origin};

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
    pub(crate) origins: Origins,
    pub(crate) table: ResourceTable,
    /// The sockets and header maps it holds in the host.
    pub(crate) held: Held,
    /// Bytes of values its compare-and-swap handles hold in the host,
    /// charged to `host-memory`.
    pub(crate) cas_bytes: u64,
}

/// What every instance of one plugin shares.
#[derive(Debug)]
pub(crate) struct PluginContext {
    pub name: Name,
    pub config: BTreeMap<String, String>,
    /// `config` as `wasi:config/store` serves it.
    pub wasi_config: WasiConfig,
    pub grants: Grants,
    /// The granted folders, opened at load.
    pub dirs: Vec<OpenDir>,
    pub limits: Limits,
    /// `limits.deadline` in the clock's units.
    pub deadline: Span,
    pub pool: PoolConfig,
    pub provides: Vec<String>,
    pub services: Arc<Services>,
    /// Uses of something not granted, refused.
    pub denied: AtomicU64,
    /// The second in which `denials_in_window` counts refusals made
    /// outside a call.
    pub denial_window: AtomicU64,
    pub denials_in_window: AtomicU64,
    /// Its key-value reads, writes and bytes stored.
    pub kv: KvCounters,
}

/// One plugin's configuration as `wasi:config/store` serves it.
#[derive(Default)]
pub(crate) struct WasiConfig(pub(crate) WasiConfigVariables);

impl WasiConfig {
    /// The configuration `values`, as `get-config` sees them.
    pub fn new<'a>(values: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        Self(values.into_iter().map(|(key, value)| (key.as_str(), value.as_str())).collect())
    }
}

impl fmt::Debug for WasiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WasiConfig(..)")
    }
}

impl PluginContext {
    /// Refuses `capability` (`tool:shell`, `connect:10.0.0.1:22`...): counts
    /// it, tells the host's listeners and, when `logged`, logs it. Gives back
    /// the capability as it was told (made safe: a plugin chooses it).
    pub(crate) fn deny(&self, capability: &str, logged: bool) -> String {
        let capability = sanitize(capability, text::NAME);
        if logged {
            tracing::warn!(target: "witplug::host", plugin = self.name.as_str(), "denied {capability}");
        }
        self.denied.fetch_add(1, Ordering::Relaxed);
        self.services
            .events
            .send(|| Event::Denied { plugin: self.name.clone(), capability: capability.clone() });
        capability
    }

    /// Refuses `capability` where no call's log budget is at hand (a socket
    /// address wasmtime-wasi checks): at most `log-lines` such refusals are
    /// logged per second, the rest only counted.
    pub(crate) fn deny_outside_call(&self, capability: &str) {
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let window = self.denial_window.swap(second, Ordering::Relaxed);
        if window != second {
            self.denials_in_window.store(0, Ordering::Relaxed);
        }
        let logged = self.denials_in_window.fetch_add(1, Ordering::Relaxed) < self.limits.log_lines;
        self.deny(capability, logged);
    }
}

/// What every plugin of one host shares.
#[derive(Debug)]
pub(crate) struct Services {
    pub tools: ToolRegistry,
    pub bus: Arc<dyn MessageBus>,
    pub events: Events,
    pub keyvalue: Buckets,
    /// Where plugins' `resource-updated` goes.
    pub resources: crate::mcp::ResourceUpdates,
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
    /// Refusals logged so far; they have a budget of `log-lines` of their
    /// own, so that refusals never use up the plugin's log lines.
    pub denials_logged: u64,
    /// The message of a Rust panic, as the guest SDK reported it.
    pub panic: Option<String>,
    /// How much the instance had written to stderr when the call began.
    pub stderr_mark: u64,
    /// Where the call comes from.
    pub context: CallContext,
    /// What the call asked of the agent's client so far.
    pub asks: Asks,
}

/// What one call asked of the agent's client (contract 0.3's `client`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Asks {
    /// Progress reports, sent or dropped.
    pub progress: u64,
    /// The last progress sent: each must be greater.
    pub last_progress: Option<f64>,
    /// Sampling and elicitation requests.
    pub requests: u64,
    /// Resource updates announced.
    pub updates: u64,
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
                denials_logged: 0,
                panic: None,
                stderr_mark: 0,
                context: CallContext::default(),
                asks: Asks::default(),
            },
            wasi: plugin.grants.wasi(&plugin.dirs, denied_by(&plugin), stderr.clone()),
            stderr,
            http: {
                let mut http = WasiHttpCtx::new();
                let map = crate::instance_state::held::header_map_size(plugin.limits.host_memory);
                http.set_field_size_limit(usize::try_from(map).unwrap_or(usize::MAX));
                http
            },
            origins: Origins::new(&plugin.grants.http, &plugin.limits, denied_by(&plugin)),
            table: {
                let mut table = ResourceTable::new();
                table
                    .set_max_capacity(usize::try_from(plugin.limits.handles).unwrap_or(usize::MAX));
                table
            },
            held: Held::default(),
            cas_bytes: 0,
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
        self.call.denials_logged = 0;
        self.call.panic = None;
        self.call.stderr_mark = self.stderr.mark();
        origin.replace(&mut self.call.context);
        self.call.asks = Asks::default();
        self.limiter.memory_refused = false;
        self.limiter.table_refused = false;
        deadline
    }

    /// Refuses `capability` during a call: the refusal counts toward the
    /// call's log budget, so a loop of refused uses cannot flood the log
    /// (past the budget they are counted and told, not logged).
    pub(crate) fn deny(&mut self, capability: &str) -> String {
        self.call.denials_logged += 1;
        let logged = self.call.denials_logged <= self.plugin.limits.log_lines;
        self.plugin.deny(capability, logged)
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
            plugin.deny_outside_call(&capability);
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        self.origins.until = self.call.deadline;
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
