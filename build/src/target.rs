//! Makes sure the Rust target that plugins compile to is installed.

use std::path::PathBuf;
use std::process::Command;

use crate::{Error, Result};

/// The target every plugin is compiled for before it becomes a component.
pub const WASM_TARGET: &str = "wasm32-wasip1";

/// Installs the `wasm32-wasip1` target with rustup when it is missing.
///
/// # Errors
///
/// When the target is missing and cannot be installed; the message says
/// what to run.
pub fn ensure_wasm_target() -> Result<()> {
    if target_installed()? {
        return Ok(());
    }
    let has_rustup =
        Command::new("rustup").arg("--version").output().is_ok_and(|o| o.status.success());
    if !has_rustup {
        return Err(Error::Target(format!(
            "the {WASM_TARGET} target is not installed and rustup was not found: \
             install the {WASM_TARGET} standard library for your Rust toolchain \
             (with rustup: `rustup target add {WASM_TARGET}`)"
        )));
    }
    eprintln!("installing the {WASM_TARGET} target: rustup target add {WASM_TARGET}");
    let installed = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .is_ok_and(|status| status.success());
    if !installed || !target_installed()? {
        return Err(Error::Target(format!(
            "could not install the {WASM_TARGET} target: run `rustup target add {WASM_TARGET}`"
        )));
    }
    Ok(())
}

fn target_installed() -> Result<bool> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc).args(["--print", "sysroot"]).output().map_err(|err| {
        Error::Target(format!("running `rustc --print sysroot`: {err}: is Rust installed?"))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::Target(format!("`rustc --print sysroot` failed: {}", stderr.trim())));
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(sysroot.join("lib/rustlib").join(WASM_TARGET).join("lib").is_dir())
}
