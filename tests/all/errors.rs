//! One error taxonomy: every variant of [`Error`] has one [`ErrorKind`],
//! and every front end's verdict comes from it — the CLI's exit code, the
//! reason an MCP client reads, whether it is a trap, and a call's outcome
//! in events and metrics. The table below is the contract; a front end
//! that judged a failure for itself would disagree with a row.

use std::path::PathBuf;
use std::time::Duration;

use witplug_host::config::Budget;
use witplug_host::observe::Outcome;
use witplug_host::{Error, ErrorKind, PluginError};

/// A sample of every variant, with the kind it must have.
fn every_variant() -> Vec<(Error, ErrorKind)> {
    let path = || PathBuf::from("plugins/x.wasm");
    let plugin = || "x".to_owned();
    let reason = || "why".to_owned();
    use ErrorKind::*;
    vec![
        (Error::Plugin { plugin: plugin(), error: PluginError::Failed(reason()) }, Plugin),
        (Error::Tool { tool: "t".into(), error: PluginError::Denied(reason()) }, Plugin),
        (Error::InitFailed { plugin: plugin(), error: PluginError::Failed(reason()) }, Plugin),
        (
            Error::InvalidResult {
                plugin: plugin(),
                what: "a tool result".into(),
                reason: reason(),
            },
            Plugin,
        ),
        (Error::Timeout { plugin: plugin(), deadline: Duration::from_secs(1) }, Limit),
        (Error::FuelExhausted { plugin: plugin(), fuel: 1 }, Limit),
        (Error::MemoryLimit { plugin: plugin(), limit: 1 }, Limit),
        (Error::TableLimit { plugin: plugin(), limit: 1 }, Limit),
        (Error::InstanceLimit { plugin: plugin(), limit: 1 }, Limit),
        (Error::StackOverflow { plugin: plugin(), limit: 1 }, Limit),
        (Error::OutputTooLarge { plugin: plugin(), size: 2, limit: 1 }, Limit),
        (Error::DataLimit { plugin: plugin(), limit: 1 }, Limit),
        (Error::LogLimit { plugin: plugin(), limit: 1 }, Limit),
        (Error::BudgetExceeded { plugin: plugin(), budget: Budget::Handles, limit: 1 }, Limit),
        (Error::Trap { plugin: plugin(), message: reason() }, Trap),
        (Error::MemoryOutOfBounds { plugin: plugin(), address: 9, len: 1, size: 8 }, Trap),
        (Error::NoMemory { plugin: plugin() }, Trap),
        (Error::Denied { plugin: plugin(), capability: "subscribe:a".into() }, Denied),
        (Error::Unapproved { path: path(), reason: reason() }, Denied),
        (Error::NoSuchPlugin { name: "y".into(), available: vec![] }, NotFound),
        (Error::NoSuchTool { name: "y".into() }, NotFound),
        (Error::NoSuchExport { plugin: plugin(), export: "y".into(), available: vec![] }, NotFound),
        (Error::Busy { plugin: plugin(), reason: reason() }, Busy),
        (Error::Stopped { plugin: plugin() }, Stopped),
        (Error::BadArguments { plugin: plugin(), export: "e".into(), reason: reason() }, Usage),
        (Error::UnsupportedType { plugin: plugin(), export: "e".into(), reason: reason() }, Usage),
        (Error::WrongWorld { plugin: plugin(), world: "plugin" }, Usage),
        (Error::Io { path: path(), source: std::io::Error::other("gone") }, Host),
        (Error::NotWasm { path: path() }, Host),
        (Error::CoreModule { path: path() }, Host),
        (Error::InvalidComponent { path: path(), reason: reason() }, Host),
        (Error::InvalidModule { path: path(), reason: reason() }, Host),
        (Error::MissingImport { path: path(), import: "a:b/c".into(), reason: reason() }, Host),
        (Error::UnsupportedContract { path: path(), reason: reason() }, Host),
        (Error::ToolDescriptions { path: path(), reason: reason() }, Host),
        (Error::Manifest { path: path(), reason: reason() }, Host),
        (Error::DuplicatePlugin { name: plugin(), path: path() }, Host),
        (Error::NotAFile { path: path(), kind: "a FIFO" }, Host),
        (Error::TooLarge { path: path(), size: 2, limit: 1 }, Host),
        (Error::HashMismatch { path: path(), expected: "a".into(), actual: "b".into() }, Host),
        (Error::Conflict { path: path(), reason: reason() }, Host),
        (Error::HostResource { plugin: plugin(), reason: reason() }, Host),
        (Error::Setup(reason()), Host),
        (Error::Nats { url: "nats://127.0.0.1:1".into(), reason: reason() }, Host),
    ]
}

/// What each front end makes of a kind.
fn verdicts(kind: ErrorKind) -> (u8, &'static str, bool, Outcome) {
    use ErrorKind::*;
    match kind {
        Plugin => (1, "plugin error", false, Outcome::Error),
        Usage => (2, "usage", false, Outcome::Error),
        Limit => (3, "limit", true, Outcome::Trap),
        Trap => (3, "trap", true, Outcome::Trap),
        Denied => (3, "denied", false, Outcome::Error),
        NotFound => (4, "not found", false, Outcome::Error),
        Host => (5, "host failure", false, Outcome::Error),
        Busy => (6, "busy", false, Outcome::Error),
        Stopped => (6, "stopped", false, Outcome::Error),
        other => panic!("a kind without a row: {other:?}"),
    }
}

#[test]
fn every_variant_has_one_kind_and_every_front_end_reads_it_the_same() {
    let samples = every_variant();
    for kind in ErrorKind::ALL {
        assert!(samples.iter().any(|(_, k)| *k == kind), "no variant of kind {kind:?}");
    }
    for (err, expected) in &samples {
        let kind = err.kind();
        assert_eq!(kind, *expected, "{err:?}");
        let (code, words, trap, outcome) = verdicts(kind);
        assert_eq!(kind.exit_code(), code, "{err:?}: the CLI's exit code");
        assert_eq!(kind.as_str(), words, "{err:?}");
        assert_eq!(err.is_trap(), trap, "{err:?}: is_trap");
        assert_eq!(Outcome::of(kind), outcome, "{err:?}: the event's outcome");
        let text = witplug_mcp::failure_text(err);
        match err {
            // A plugin's or a tool's own error value, in its own words.
            Error::Plugin { error, .. } | Error::Tool { error, .. } => {
                assert_eq!(text, witplug_host::describe(error));
            }
            _ => assert_eq!(text, format!("{words}: {err}"), "MCP's reason"),
        }
        assert!(!text.contains('\n'), "{text}");
    }
}

/// The three disagreements the front ends had before the taxonomy, each
/// now one verdict.
#[test]
fn the_old_disagreements_are_gone() {
    let output = Error::OutputTooLarge { plugin: "x".into(), size: 2, limit: 1 };
    // The CLI said trap, MCP said limit, `is_trap` said no.
    assert_eq!(
        (output.kind(), output.kind().exit_code(), output.is_trap()),
        (ErrorKind::Limit, 3, true)
    );
    assert!(witplug_mcp::failure_text(&output).starts_with("limit: "));
    // Traps for the CLI, host failures for MCP.
    let denied = Error::Denied { plugin: "x".into(), capability: "subscribe:a".into() };
    assert!(witplug_mcp::failure_text(&denied).starts_with("denied: "));
    let oob = Error::MemoryOutOfBounds { plugin: "x".into(), address: 9, len: 1, size: 8 };
    assert!(witplug_mcp::failure_text(&oob).starts_with("trap: "));
    assert_eq!((denied.kind().exit_code(), oob.kind().exit_code()), (3, 3));
    // Not found for the CLI, a host failure for MCP.
    let export = Error::NoSuchExport { plugin: "x".into(), export: "y".into(), available: vec![] };
    assert!(witplug_mcp::failure_text(&export).starts_with("not found: "));
    assert_eq!(export.kind().exit_code(), 4);
}
