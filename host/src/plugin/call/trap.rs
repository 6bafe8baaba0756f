//! Turning a failed call into the [`Error`] that says which limit was hit,
//! or which trap happened.

use wasmtime::Trap;
use wasmtime::component::ResourceTableError;

use crate::config::limits::{Budget, Limits};
use crate::error::{Error, collapse_whitespace, one_line};
use crate::instance_state::PluginState;
use crate::instance_state::limiter::LimitHit;

/// Names the failure `err` of a call into `plugin`; `state` is the store's
/// data when the store is still at hand, which tells a refused memory
/// growth or a Rust panic from a plain trap.
pub(crate) fn classify(
    plugin: &str,
    limits: &Limits,
    err: &wasmtime::Error,
    state: Option<&PluginState>,
) -> Error {
    let plugin = plugin.to_owned();
    match err.downcast_ref::<LimitHit>() {
        Some(LimitHit::Deadline) => return Error::Timeout { plugin, deadline: limits.deadline },
        Some(LimitHit::LogLines) => return Error::LogLimit { plugin, limit: limits.log_lines },
        Some(LimitHit::Budget(budget)) => return budget_exceeded(plugin, limits, *budget),
        None => {}
    }
    if matches!(err.downcast_ref::<ResourceTableError>(), Some(ResourceTableError::Full)) {
        return budget_exceeded(plugin, limits, Budget::Handles);
    }
    let trap = err.downcast_ref::<Trap>();
    match trap {
        Some(Trap::StackOverflow) => return Error::StackOverflow { plugin, limit: limits.stack },
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
            let panic = collapse_whitespace(panic);
            return Error::Trap { plugin, message: format!("panicked: {panic}") };
        }
    }
    let mut message = match trap {
        Some(trap) => trap.to_string(),
        None => one_line(err),
    };
    // wasmtime reports these as plain errors; their text is all there is.
    // It is read before the plugin's stderr joins it, so that what a
    // plugin writes never decides the kind of its failure.
    if message.contains("store handle limit exceeded") {
        return budget_exceeded(plugin, limits, Budget::Handles);
    }
    if message.contains("count too high") {
        return Error::InstanceLimit { plugin, limit: limits.instances };
    }
    if message.contains("fuel allocated for hostcalls has been exhausted") {
        return Error::DataLimit { plugin, limit: hostcall_fuel(limits) as u64 };
    }
    // What the guest's runtime printed before it gave up: how a Python
    // or JavaScript plugin's uncaught exception reaches the host.
    if let Some(stderr) = state.and_then(|state| state.stderr.since(state.call.stderr_mark)) {
        message = format!("{message}; its stderr: {stderr}");
    }
    Error::Trap { plugin, message }
}

/// Names the failure `err` of an instantiation: a limit or a trap of the
/// plugin's (its start function, or what its host calls did), or the
/// host's own failure (memory, a memory image or a descriptor the kernel
/// refused), which is no fault of the plugin's.
pub(crate) fn instantiation_failed(
    plugin: &str,
    limits: &Limits,
    err: &wasmtime::Error,
    state: &PluginState,
) -> Error {
    match classify(plugin, limits, err, Some(state)) {
        Error::Trap { plugin, .. } if err.downcast_ref::<Trap>().is_none() && host_refused(err) => {
            // wasmtime's words alone: nothing the plugin wrote.
            Error::HostResource { plugin, reason: one_line(err) }
        }
        other => other,
    }
}

/// Whether the operating system refused the host something: an I/O error
/// in the chain, or wasmtime's words for a mapping or image it could not
/// make.
fn host_refused(err: &wasmtime::Error) -> bool {
    const REFUSALS: [&str; 6] = [
        "memfd",
        "mmap",
        "Cannot allocate memory",
        "Too many open files",
        "Device or resource busy",
        "Resource temporarily unavailable",
    ];
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some() || {
            let text = cause.to_string();
            REFUSALS.iter().any(|refusal| text.contains(refusal))
        }
    })
}

fn budget_exceeded(plugin: String, limits: &Limits, budget: Budget) -> Error {
    Error::BudgetExceeded { plugin, budget, limit: budget.limit(limits) }
}

/// How many bytes wasmtime may copy out of the plugin in one host call
/// or result: enough to measure anything up to 8 times the plugin's
/// input and output limits, so the host can name the size it refuses.
pub(crate) fn hostcall_fuel(limits: &Limits) -> usize {
    let bytes = limits.max_input.max(limits.max_output).saturating_mul(8);
    usize::try_from(bytes).unwrap_or(usize::MAX)
}
