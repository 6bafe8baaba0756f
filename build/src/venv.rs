//! Pinned Python tools from PyPI, each in a virtual environment of its
//! own: the one installer of the CLI's toolchain (componentize-py) and the
//! xtask's test tools (nats-server, the MCP and Prometheus clients).
//!
//! A file lock beside the folder (`NAME.lock`) keeps two processes (two
//! test runs, a build beside a test) from installing into it at once: the
//! second waits, then finds the tool installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::toolchain::{quiet, run, succeeds};
use crate::{Error, Result};

/// Installs `requirement` (`pkg==1.2.3`) into the virtual environment
/// `venv` unless `ready` says it is there and works; returns `venv`.
/// pip's progress shows on a terminal, and is quiet in a pipe.
///
/// # Errors
///
/// [`Error::Toolchain`] when there is no Python 3 with its `venv` module
/// (saying what to install), when pip fails, or when the tool does not
/// work once installed; [`Error::Io`] for the folder and its lock.
pub fn install(venv: &Path, requirement: &str, ready: impl Fn(&Path) -> bool) -> Result<PathBuf> {
    if ready(venv) {
        return Ok(venv.to_owned());
    }
    let parent = venv.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|source| Error::Io { path: parent.to_owned(), source })?;
    let lock_path = venv.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|source| Error::Io { path: lock_path.clone(), source })?;
    lock.lock().map_err(|source| Error::Io { path: lock_path.clone(), source })?;
    // Another process may have installed it while this one waited.
    if ready(venv) {
        return Ok(venv.to_owned());
    }
    let python = which_python().ok_or_else(|| {
        Error::Toolchain(format!(
            "installing {requirement} needs Python 3 with its venv module: install python3 \
             (on Debian and Ubuntu: apt install python3 python3-venv)"
        ))
    })?;
    eprintln!("installing {requirement} (PyPI) into {}", venv.display());
    let _ = std::fs::remove_dir_all(venv);
    run(Command::new(&python).args(["-m", "venv"]).arg(venv), "python3 -m venv")?;
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--disable-pip-version-check"])
            .args(quiet("--quiet"))
            .arg(requirement),
        &format!("pip install {requirement}"),
    )?;
    if !ready(venv) {
        return Err(Error::Toolchain(format!(
            "pip installed {requirement} into {}, but it does not work",
            venv.display()
        )));
    }
    Ok(venv.to_owned())
}

/// Whether the Python of `venv` has `package` at `version` installed.
pub fn has(venv: &Path, package: &str, version: &str) -> bool {
    let probe =
        format!("import importlib.metadata as m; assert m.version('{package}') == '{version}'");
    succeeds(Command::new(venv.join("bin/python")).args(["-c", &probe]))
}

fn which_python() -> Option<PathBuf> {
    ["python3", "python"]
        .into_iter()
        .map(PathBuf::from)
        .find(|python| succeeds(Command::new(python).args(["-c", "import venv, ensurepip"])))
}
