//! `cargo xtask build-plugins`: plugin crates in, validated components out.
//!
//! Each plugin crate is compiled for `wasm32-wasip1` (the workspace's
//! `plugin` profile: optimised for size, with LTO), then
//! wit-component wraps the core module, with the WASI preview1 reactor
//! adapter (plugins have no `main`), into a component that is validated and
//! written to `plugins/<name>.wasm`. A plugin whose component is newer than
//! all of its inputs is left alone.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

use crate::toolchain::{WASM_TARGET, ensure_wasm_target};
use crate::{cargo, flag_value, workspace_root};

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

/// Builds the plugins `options` selects.
pub fn run(options: &Options) -> Result<()> {
    let plugins = discover(&options.dir)?;
    let selected = select(plugins, &options.only, &options.dir)?;
    ensure_wasm_target()?;
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;

    let shared = shared_inputs_mtime()?;
    let (mut built, mut fresh) = (0, 0);
    for plugin in &selected {
        let output = options.out.join(format!("{}.wasm", plugin.name));
        if is_up_to_date(plugin, &output, shared)? {
            let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
            println!("  {:<18} {:>9}  up to date", plugin.name, human_size(size as usize));
            fresh += 1;
            continue;
        }
        let start = Instant::now();
        let module = compile(plugin)?;
        let component = componentize(&plugin.name, &module)?;
        write_atomically(&output, &component)?;
        println!(
            "  {:<18} {:>9}  {:>6.1}s  {}",
            plugin.name,
            human_size(component.len()),
            start.elapsed().as_secs_f64(),
            output.display()
        );
        built += 1;
    }
    copy_wat_plugins(&options.dir, &options.out)?;
    println!("build-plugins: {built} built, {fresh} up to date, in {}", options.out.display());
    Ok(())
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
                human_size(std::fs::metadata(&target)?.len() as usize)
            );
        }
    }
    Ok(())
}

fn plugin_stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A plugin crate found on disk.
#[derive(Debug)]
pub struct PluginCrate {
    name: String,
    dir: PathBuf,
}

#[derive(Deserialize)]
struct Manifest {
    package: Package,
}

#[derive(Deserialize)]
struct Package {
    name: String,
}

/// Every folder directly under `dir` that holds a `Cargo.toml`, by name.
fn discover(dir: &Path) -> Result<Vec<PluginCrate>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading the plugin crates folder {}", dir.display()))?;
    let mut plugins = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let manifest_path = path.join("Cargo.toml");
        if !manifest_path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?;
        let manifest: Manifest = toml::from_str(&text)
            .with_context(|| format!("parsing {}", manifest_path.display()))?;
        plugins.push(PluginCrate { name: manifest.package.name, dir: path });
    }
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(plugins)
}

fn select(plugins: Vec<PluginCrate>, only: &[String], dir: &Path) -> Result<Vec<PluginCrate>> {
    if let Some(unknown) = only.iter().find(|name| !plugins.iter().any(|p| &p.name == *name)) {
        let known: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
        bail!("no plugin named `{unknown}` under {} (found: {})", dir.display(), known.join(", "));
    }
    Ok(plugins.into_iter().filter(|p| only.is_empty() || only.contains(&p.name)).collect())
}

/// The newest modification time of what every plugin is built from.
fn shared_inputs_mtime() -> Result<SystemTime> {
    let root = workspace_root();
    let inputs = ["wit", "guest-sdk", "Cargo.lock", "Cargo.toml", "xtask/src"];
    let mut newest = SystemTime::UNIX_EPOCH;
    for input in inputs {
        newest = newest.max(newest_mtime(&root.join(input))?);
    }
    Ok(newest)
}

fn is_up_to_date(plugin: &PluginCrate, output: &Path, shared: SystemTime) -> Result<bool> {
    let Ok(built) = std::fs::metadata(output).and_then(|m| m.modified()) else {
        return Ok(false);
    };
    Ok(built >= shared && built >= newest_mtime(&plugin.dir)?)
}

/// The newest modification time of `path` and, for a folder, of everything
/// below it but `target/` folders.
fn newest_mtime(path: &Path) -> Result<SystemTime> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SystemTime::UNIX_EPOCH);
        }
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let mut newest = metadata.modified()?;
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_name() != "target" {
                newest = newest.max(newest_mtime(&entry.path())?);
            }
        }
    }
    Ok(newest)
}

/// Compiles one plugin crate to a core wasm module and returns its bytes.
fn compile(plugin: &PluginCrate) -> Result<Vec<u8>> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    // Workspace plugins use the workspace's `plugin` profile; a plugin crate
    // of its own (from `new-plugin --dir`) builds in release.
    let in_workspace =
        plugin.dir.parent() == Some(workspace_root().join("example-plugins").as_path());
    let profile = if in_workspace { "plugin" } else { "release" };
    let status = cargo()
        .args([
            "build",
            "--profile",
            profile,
            "--quiet",
            "--target",
            WASM_TARGET,
            "--manifest-path",
        ])
        .arg(plugin.dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("plugin `{}` failed to compile (the compiler's messages are above)", plugin.name);
    }
    let module = target_dir
        .join(WASM_TARGET)
        .join(profile)
        .join(format!("{}.wasm", plugin.name.replace('-', "_")));
    std::fs::read(&module).with_context(|| {
        format!(
            "reading {}: is `{}` a `cdylib` crate ([lib] crate-type = [\"cdylib\"])?",
            module.display(),
            plugin.name
        )
    })
}

/// Wraps a core module into a validated component.
fn componentize(name: &str, module: &[u8]) -> Result<Vec<u8>> {
    let component = wit_component::ComponentEncoder::default()
        .module(module)
        .with_context(|| format!("plugin `{name}`: reading the world embedded by witplug-sdk"))?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
        .context("loading the WASI preview1 reactor adapter")?
        .validate(true)
        .encode()
        .with_context(|| format!("plugin `{name}`: making a component"))?;
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&component)
        .with_context(|| format!("plugin `{name}`: the component does not validate"))?;
    Ok(component)
}

/// Writes through a temporary file, so a reader never sees half a component.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("wasm.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn human_size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
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

    #[test]
    fn finds_the_example_plugins_and_refuses_unknown_names() {
        let dir = workspace_root().join("example-plugins");
        let plugins = discover(&dir).unwrap();
        assert!(plugins.iter().any(|p| p.name == "counter"));
        let err = select(plugins, &["nope".to_owned()], &dir).unwrap_err();
        assert!(err.to_string().starts_with("no plugin named `nope`"), "{err}");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(3 << 20), "3.0 MiB");
    }
}
