//! Asking cargo: which packages of a crate or workspace are plugins, and
//! compiling one of them to a core wasm module.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::target::WASM_TARGET;
use crate::{Error, Result};

/// A crate or workspace, as the build needs it.
#[derive(Debug)]
pub(crate) struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    /// Its `cdylib` packages, by name.
    pub plugins: Vec<PluginCrate>,
    /// The folders of local crates the plugins depend on by path (a local
    /// witplug-sdk, say), outside the plugins themselves.
    pub path_dependencies: Vec<PathBuf>,
}

/// A plugin crate: a package with a `cdylib` library.
#[derive(Debug)]
pub(crate) struct PluginCrate {
    pub name: String,
    /// The library's name, which names the compiled module.
    pub lib: String,
    pub dir: PathBuf,
    pub manifest: PathBuf,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    workspace_root: PathBuf,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<Target>,
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    crate_types: Vec<String>,
}

#[derive(Deserialize)]
struct Dependency {
    path: Option<PathBuf>,
}

/// The `cargo` to run: the one running us, when cargo runs us.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Reads the crate or workspace at `manifest` with `cargo metadata`.
pub(crate) fn metadata(manifest: &Path) -> Result<Workspace> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(manifest)
        .output()
        .map_err(|err| Error::Cargo(format!("running cargo: {err}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("failed").trim();
        let reason = reason.strip_prefix("error: ").unwrap_or(reason);
        return Err(Error::Cargo(format!("{}: {reason}", manifest.display())));
    }
    let metadata: Metadata = serde_json::from_slice(&output.stdout)
        .map_err(|err| Error::Cargo(format!("reading `cargo metadata`: {err}")))?;
    // The manifest of one package in a workspace means that package alone;
    // the workspace's own manifest means all of its plugins.
    let canonical = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let given = canonical(manifest);
    let whole = given == canonical(&metadata.workspace_root.join("Cargo.toml"));
    let mut plugins = Vec::new();
    let mut path_dependencies = Vec::new();
    for package in &metadata.packages {
        if !whole && canonical(&package.manifest_path) != given {
            continue;
        }
        let Some(lib) =
            package.targets.iter().find(|t| t.crate_types.iter().any(|c| c == "cdylib"))
        else {
            continue;
        };
        let dir = package.manifest_path.parent().unwrap_or(Path::new(".")).to_path_buf();
        path_dependencies.extend(package.dependencies.iter().filter_map(|d| d.path.clone()));
        plugins.push(PluginCrate {
            name: package.name.clone(),
            lib: lib.name.replace('-', "_"),
            dir,
            manifest: package.manifest_path.clone(),
        });
    }
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    path_dependencies.sort();
    path_dependencies.dedup();
    path_dependencies.retain(|dep| !plugins.iter().any(|p| &p.dir == dep));
    Ok(Workspace {
        root: metadata.workspace_root,
        target_dir: metadata.target_directory,
        plugins,
        path_dependencies,
    })
}

/// Compiles one plugin for `wasm32-wasip1` and returns its core module.
pub(crate) fn compile(
    plugin: &PluginCrate,
    workspace: &Workspace,
    profile: &str,
) -> Result<Vec<u8>> {
    // Cargo's own progress on a terminal; quiet in a pipe.
    let quiet = crate::toolchain::quiet("--quiet");
    let status = cargo()
        .args(["build", "--profile", profile, "--target", WASM_TARGET])
        .args(quiet)
        .arg("--manifest-path")
        .arg(&plugin.manifest)
        .arg("--target-dir")
        .arg(&workspace.target_dir)
        .status()
        .map_err(|err| Error::Cargo(format!("running cargo: {err}")))?;
    if !status.success() {
        return Err(Error::Compile { plugin: plugin.name.clone() });
    }
    let profile_dir = match profile {
        "dev" | "test" => "debug",
        "release" | "bench" => "release",
        other => other,
    };
    let module = workspace
        .target_dir
        .join(WASM_TARGET)
        .join(profile_dir)
        .join(format!("{}.wasm", plugin.lib));
    std::fs::read(&module).map_err(|source| Error::Io { path: module, source })
}
