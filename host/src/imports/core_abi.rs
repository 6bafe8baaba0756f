//! The host functions for core wasm plugins: the same four as the
//! `witplug:plugin/host` interface, under import module `witplug`, passing
//! strings and bytes as pointer and length into the plugin's exported
//! `memory`.
//!
//! ```wat
//! (import "witplug" "log" (func $log (param i32 i32 i32)))
//! ;; level: 0 trace, 1 debug, 2 info, 3 warn, 4 error
//!
//! (import "witplug" "get-config" (func (param i32 i32 i32 i32) (result i32)))
//! ;; (key, key-len, out, out-cap) -> length of the value, or -1 if unset;
//! ;; writes at most out-cap bytes
//!
//! (import "witplug" "send-message" (func (param i32 i32 i32 i32) (result i32)))
//! ;; (topic, topic-len, payload, payload-len) -> 0, or an error code
//!
//! (import "witplug" "call-tool" (func (param i32 i32 i32 i32 i32 i32) (result i32)))
//! ;; (name, name-len, input, input-len, out, out-cap) -> length of the
//! ;; output (at most out-cap bytes written), or minus an error code
//! ```
//!
//! Error codes: 1 denied, 2 not found, 3 limit exceeded, 4 failed,
//! 5 invalid input. A pointer outside the memory traps the plugin.

use wasmtime::{Caller, Extern, Linker};

use crate::contract::v0_2::witplug::plugin::host::Host;
use crate::contract::v0_2::witplug::plugin::types::{Error as WitError, Level};
use crate::instance_state::PluginState;

/// The import module name of the core ABI.
pub const MODULE: &str = "witplug";

/// Defines the core ABI's functions in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    linker.func_wrap_async(
        MODULE,
        "log",
        |mut caller: Caller<'_, PluginState>, (level, ptr, len): (i32, i32, i32)| {
            Box::new(async move {
                let message = read_string(&mut caller, ptr, len)?;
                let level = match level {
                    0 => Level::Trace,
                    1 => Level::Debug,
                    2 => Level::Info,
                    3 => Level::Warn,
                    _ => Level::Error,
                };
                caller.data_mut().log(level, message).await
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "get-config",
        |mut caller: Caller<'_, PluginState>, (key, key_len, out, cap): (i32, i32, i32, i32)| {
            Box::new(async move {
                let key = read_string(&mut caller, key, key_len)?;
                match caller.data_mut().get_config(key).await? {
                    Some(value) => write_bytes(&mut caller, out, cap, value.as_bytes()),
                    None => Ok(-1),
                }
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "send-message",
        |mut caller: Caller<'_, PluginState>,
         (topic, topic_len, payload, payload_len): (i32, i32, i32, i32)| {
            Box::new(async move {
                let topic = read_string(&mut caller, topic, topic_len)?;
                let payload = read_bytes(&mut caller, payload, payload_len)?;
                Ok(match caller.data_mut().send_message(topic, payload).await? {
                    Ok(()) => 0,
                    Err(error) => code(&error),
                })
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "call-tool",
        |mut caller: Caller<'_, PluginState>,
         (name, name_len, input, input_len, out, cap): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let name = read_string(&mut caller, name, name_len)?;
                let input = read_string(&mut caller, input, input_len)?;
                match caller.data_mut().call_tool(name, input).await? {
                    Ok(output) => write_bytes(&mut caller, out, cap, output.as_bytes()),
                    Err(error) => Ok(-code(&error)),
                }
            })
        },
    )?;
    Ok(())
}

/// The core ABI's code for a WIT error.
fn code(error: &WitError) -> i32 {
    match error {
        WitError::Denied(_) => 1,
        WitError::NotFound(_) => 2,
        WitError::LimitExceeded(_) => 3,
        WitError::Failed(_) => 4,
        WitError::InvalidInput(_) => 5,
    }
}

fn memory(caller: &mut Caller<'_, PluginState>) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => wasmtime::bail!("a core plugin that calls the host must export its `memory`"),
    }
}

/// Where `ptr..ptr + len` lies in memory, or a trap when it is out of it.
fn span(memory_len: usize, ptr: i32, len: i32) -> wasmtime::Result<std::ops::Range<usize>> {
    let start =
        u32::try_from(ptr).map_err(|_| wasmtime::format_err!("negative pointer {ptr}"))? as usize;
    let len =
        u32::try_from(len).map_err(|_| wasmtime::format_err!("negative length {len}"))? as usize;
    match start.checked_add(len) {
        Some(end) if end <= memory_len => Ok(start..end),
        _ => wasmtime::bail!(
            "{len} bytes at {start} are past the end of memory ({memory_len} bytes)"
        ),
    }
}

fn read_bytes(
    caller: &mut Caller<'_, PluginState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let memory = memory(caller)?;
    let data = memory.data(&*caller);
    let range = span(data.len(), ptr, len)?;
    let limit = usize::try_from(caller.data().plugin.limits.max_input).unwrap_or(usize::MAX);
    if range.len() > limit.saturating_mul(8) {
        wasmtime::bail!("{len} bytes is more than the host takes in one call");
    }
    Ok(data[range].to_vec())
}

fn read_string(
    caller: &mut Caller<'_, PluginState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<String> {
    String::from_utf8(read_bytes(caller, ptr, len)?)
        .map_err(|_| wasmtime::format_err!("{len} bytes at {ptr} are not UTF-8"))
}

/// Writes as much of `bytes` as fits in `cap` at `out`; returns their full
/// length, so the plugin can tell it was cut and ask again with more room.
fn write_bytes(
    caller: &mut Caller<'_, PluginState>,
    out: i32,
    cap: i32,
    bytes: &[u8],
) -> wasmtime::Result<i32> {
    let memory = memory(caller)?;
    let data = memory.data_mut(&mut *caller);
    let room = span(data.len(), out, cap)?;
    let written = bytes.len().min(room.len());
    data[room.start..room.start + written].copy_from_slice(&bytes[..written]);
    i32::try_from(bytes.len()).map_err(|_| wasmtime::format_err!("the value is too long"))
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn spans_stay_inside_memory() {
        assert_eq!(span(100, 10, 20).unwrap(), 10..30);
        assert_eq!(span(100, 100, 0).unwrap(), 100..100);
        assert!(span(100, 90, 20).is_err());
        assert!(span(100, -1, 1).is_err());
        assert!(span(100, 0, -1).is_err());
    }
}
