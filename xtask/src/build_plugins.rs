//! `cargo xtask build-plugins`: the example plugin crates in, validated
//! components out, through `witplug-build` (the code of `witplug build`),
//! in the workspace's `plugin` profile (optimised for size, with LTO).
//! Python (`app.py`) and JavaScript (`app.js`) plugin folders are built by
//! componentize-py and componentize-js, and WAT plugins are copied beside
//! the components.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{flag_value, workspace_root};

/// What `build-plugins` was asked to do.
#[derive(Debug)]
pub struct Options {
    /// Only these plugins (by package name); all when empty.
    pub only: Vec<String>,
    /// Where components are written.
    pub out: PathBuf,
    /// Where plugin crates are looked for.
    pub dir: PathBuf,
}

impl Options {
    /// The defaults: every plugin under `example-plugins/`, into `plugins/`.
    pub fn all() -> Self {
        let root = workspace_root();
        Self { only: Vec::new(), out: root.join("plugins"), dir: root.join("example-plugins") }
    }

    pub fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::all();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-p" | "--package" => options.only.push(flag_value(arg, args.next())?),
                "--out" => options.out = flag_value(arg, args.next())?.into(),
                "--dir" => options.dir = flag_value(arg, args.next())?.into(),
                other => bail!(
                    "build-plugins: unexpected argument `{other}` \
                     (usage: build-plugins [-p NAME]... [--out DIR] [--dir DIR])"
                ),
            }
        }
        Ok(options)
    }
}

/// Builds the plugins `options` selects, with the same code as `witplug
/// build` (crate `witplug-build`): Rust crates with cargo, Python and
/// JavaScript plugins with their pinned toolchains (installed under
/// `target/tools/` on first use).
pub fn run(options: &Options) -> Result<()> {
    let root = workspace_root();
    let grouped = options.dir == root.join("example-plugins");
    let scripts = script_plugins(&options.dir, grouped, &options.only)?;
    let crates: Vec<&String> =
        options.only.iter().filter(|name| !scripts.iter().any(|dir| dir.ends_with(name))).collect();
    let mut built = 0;
    let mut fresh = 0;
    let mut tally = |report: witplug_build::Report| {
        built += report.built();
        fresh += report.fresh();
    };
    let print = |plugin: &witplug_build::Built| println!("{plugin}");
    if !options.only.is_empty() && crates.is_empty() {
        // Only Python or JavaScript plugins were asked for.
    } else if options.dir == root.join("example-plugins") {
        // The workspace's plugins, in its size-optimised `plugin` profile;
        // the contract and the build code count as inputs of every one.
        let mut build = witplug_build::Options::new(root.join("Cargo.toml"), &options.out)
            .profile("plugin")
            .input(root.join("wit"))
            .input(root.join("build/src"));
        for name in crates {
            build = build.only(name);
        }
        tally(witplug_build::build(&build, print)?);
    } else {
        // Crates of their own (from `new-plugin --dir`), in release.
        for manifest in crate_manifests(&options.dir)? {
            let build = witplug_build::Options::new(manifest, &options.out).profile("release");
            tally(witplug_build::build(&build, print)?);
        }
    }
    if !scripts.is_empty() {
        let build = witplug_build::ScriptOptions::new(scripts, &options.out, tools_dir())
            .wit(root.join("wit/v0.2.0"))
            .deps(wasi_wit()?)
            .deps(root.join("wit/deps"));
        tally(witplug_build::build_scripts(&build, print)?);
    }
    copy_wat_plugins(&options.dir, &options.out)?;
    println!("build-plugins: {built} built, {fresh} up to date, in {}", options.out.display());
    Ok(())
}

/// The WASI 0.2 WIT packages, for plugins with a world of their own that
/// imports some (py-fetch): those wasmtime-wasi-http, which the host links,
/// carries in its source.
fn wasi_wit() -> Result<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        packages: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
        manifest_path: PathBuf,
    }
    let output = crate::cargo()
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(workspace_root().join("Cargo.toml"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed");
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
    let package = metadata
        .packages
        .iter()
        .find(|package| package.name == "wasmtime-wasi-http")
        .context("cargo metadata lists no wasmtime-wasi-http")?;
    let deps = package.manifest_path.with_file_name("wit").join("deps");
    if !deps.is_dir() {
        bail!("{} is missing: where are the WASI WIT packages?", deps.display());
    }
    Ok(deps)
}

/// Where the xtask installs the tools it needs.
pub fn tools_dir() -> PathBuf {
    workspace_root().join("target/tools")
}

/// The Python and JavaScript plugin folders directly under `dir`, or, in
/// the workspace's `example-plugins` (`grouped`), under its `python/` and
/// `javascript/` groups; those named in `only` when it names any.
fn script_plugins(dir: &Path, grouped: bool, only: &[String]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in subfolders(dir)? {
        if witplug_build::Language::of(&path).is_some() {
            found.push(path);
        } else if grouped && (path.ends_with("python") || path.ends_with("javascript")) {
            found.extend(
                subfolders(&path)?
                    .into_iter()
                    .filter(|inner| witplug_build::Language::of(inner).is_some()),
            );
        }
    }
    found.retain(|path| only.is_empty() || only.iter().any(|name| path.ends_with(name)));
    found.sort();
    Ok(found)
}

/// The entries of `dir`, as paths.
fn subfolders(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading the plugins folder {}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// The `Cargo.toml` of every folder directly under `dir`.
fn crate_manifests(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading the plugin crates folder {}", dir.display()))?;
    let mut manifests = Vec::new();
    for entry in entries {
        let manifest = entry?.path().join("Cargo.toml");
        if manifest.is_file() {
            manifests.push(manifest);
        }
    }
    manifests.sort();
    Ok(manifests)
}

/// Copies the WAT plugins of `<dir>/wat/` beside the components: the host
/// loads WAT text as it is.
fn copy_wat_plugins(dir: &Path, out: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir.join("wat")) else { return Ok(()) };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "wat") {
            let target = out.join(path.file_name().expect("a file has a name"));
            std::fs::copy(&path, &target)
                .with_context(|| format!("copying {} to {}", path.display(), target.display()))?;
            println!(
                "  {:<18} {:>9}  (WAT, copied)",
                plugin_stem(&path),
                witplug_build::human_size(std::fs::metadata(&target)?.len())
            );
        }
    }
    Ok(())
}

fn plugin_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let args: Vec<String> = ["-p", "counter", "--out", "/tmp/x", "-p", "echo"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let options = Options::parse(&args).unwrap();
        assert_eq!(options.only, ["counter", "echo"]);
        assert_eq!(options.out, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn rejects_unknown_arguments_and_missing_values() {
        let err = Options::parse(&["--bogus".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("unexpected argument `--bogus`"), "{err}");
        let err = Options::parse(&["--out".to_owned()]).unwrap_err();
        assert_eq!(err.to_string(), "`--out` needs a value");
    }
}
