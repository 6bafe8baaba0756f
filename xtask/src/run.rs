//! `cargo xtask demo` and `cargo xtask test`: build the plugins, then run.

use anyhow::{Context, Result, bail};

use crate::build_plugins::{self, Options};
use crate::{cargo, workspace_root};

/// Builds the plugins and runs the demo host over `plugins/`.
pub fn demo(args: &[String]) -> Result<()> {
    build_plugins::run(&Options::all())?;
    let plugins = workspace_root().join("plugins");
    let mut command = cargo();
    command
        .args(["run", "--quiet", "--package", "witplug-host", "--example", "demo", "--"])
        .arg(&plugins)
        .args(args);
    run_step("the demo", command)
}

/// Builds the plugins and runs every test of the workspace's host side.
pub fn test(args: &[String]) -> Result<()> {
    build_plugins::run(&Options::all())?;
    let mut command = cargo();
    command.arg("test").args(args);
    run_step("the tests", command)
}

fn run_step(what: &str, mut command: std::process::Command) -> Result<()> {
    let status = command
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed");
    }
    Ok(())
}
