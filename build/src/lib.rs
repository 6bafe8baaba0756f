//! Create and build witplug plugin crates: [`new_plugin`] starts one that
//! builds as it stands, [`build`] turns crates into WebAssembly components.
//!
//! This is the code behind both `witplug build` (for plugin authors, in
//! any crate or workspace) and `cargo xtask build-plugins` (for this
//! repository's examples): one implementation.
//!
//! Every `cdylib` package of the crate or workspace at
//! [`Options::manifest_path`] is a plugin. Each is compiled with cargo for
//! `wasm32-wasip1` (the target is installed with rustup when missing), then
//! wit-component wraps the core module, with the WASI preview1 reactor
//! adapter (plugins have no `main`), into a component that is validated and
//! written to `<out>/<name>.wasm`. A plugin whose component is newer than
//! all of its inputs is left alone.
//!
//! ```no_run
//! use witplug_build::{Options, build};
//!
//! let options = Options::new("my-plugin/Cargo.toml", "plugins");
//! let report = build(&options, |plugin| println!("{plugin}"))?;
//! println!("{} built, {} up to date", report.built(), report.fresh());
//! # Ok::<(), witplug_build::Error>(())
//! ```

#![deny(missing_docs)]

mod cargo;
mod component;
mod contract;
mod error;
mod new;
mod scripts;
mod target;
mod toolchain;
pub mod venv;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

pub use error::{Error, Result};
pub use new::{NewPlugin, Sdk, World, new_plugin};
pub use scripts::{ScriptOptions, build_scripts};
pub use target::{WASM_TARGET, ensure_wasm_target};
pub use toolchain::{COMPONENTIZE_JS, COMPONENTIZE_PY, Language};

pub(crate) use component::validate;

/// What to build, and where to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The `Cargo.toml` of a plugin crate, or of a workspace of them.
    pub manifest_path: PathBuf,
    /// Where components are written, as `<name>.wasm`.
    pub out: PathBuf,
    /// The cargo profile: `dev` (default), `release`, or any the workspace
    /// defines.
    pub profile: String,
    /// Only these plugins (by package name); all when empty.
    pub only: Vec<String>,
    /// Files or folders that every plugin is built from besides its own
    /// crate (the contract, a local SDK): a change to any rebuilds all.
    pub inputs: Vec<PathBuf>,
}

impl Options {
    /// Every plugin of the crate or workspace at `manifest_path`, in the
    /// `dev` profile, into `out`.
    pub fn new(manifest_path: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            manifest_path: manifest_path.into(),
            out: out.into(),
            profile: "dev".to_owned(),
            only: Vec::new(),
            inputs: Vec::new(),
        }
    }

    /// Builds in the cargo profile `profile` (`release`, say).
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = profile.into();
        self
    }

    /// Builds only the plugin `name` (may be given several times).
    pub fn only(mut self, name: impl Into<String>) -> Self {
        self.only.push(name.into());
        self
    }

    /// A file or folder every plugin is built from besides its own crate.
    pub fn input(mut self, path: impl Into<PathBuf>) -> Self {
        self.inputs.push(path.into());
        self
    }
}

/// One plugin, built or found up to date.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Built {
    /// The plugin's package name, which is the component's file name.
    pub name: String,
    /// The component written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// How long compiling and componentizing took; `None` when it was up
    /// to date.
    pub took: Option<Duration>,
}

impl fmt::Display for Built {
    /// One line: name, size, and time or `up to date`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = human_size(self.size);
        match self.took {
            Some(took) => write!(
                f,
                "  {:<18} {size:>9}  {:>6.1}s  {}",
                self.name,
                took.as_secs_f64(),
                self.path.display()
            ),
            None => write!(f, "  {:<18} {size:>9}  up to date", self.name),
        }
    }
}

/// What a [`build`] did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Report {
    /// Every selected plugin, in name order.
    pub plugins: Vec<Built>,
}

impl Report {
    /// How many plugins were compiled.
    pub fn built(&self) -> usize {
        self.plugins.iter().filter(|p| p.took.is_some()).count()
    }

    /// How many were up to date.
    pub fn fresh(&self) -> usize {
        self.plugins.len() - self.built()
    }
}

/// Builds the plugins `options` selects, calling `progress` with each one
/// as soon as it is built or found up to date.
///
/// # Errors
///
/// [`Error::NoPlugins`] or [`Error::NoSuchPlugin`] when nothing matches,
/// [`Error::Target`] when `wasm32-wasip1` is missing and cannot be
/// installed, [`Error::Compile`] naming the plugin cargo failed on,
/// [`Error::Component`] when its module cannot become a valid component,
/// and [`Error::Cargo`] or [`Error::Io`] for the rest.
pub fn build(options: &Options, mut progress: impl FnMut(&Built)) -> Result<Report> {
    let workspace = cargo::metadata(&options.manifest_path)?;
    let selected = select(&workspace, &options.only, &options.manifest_path)?;
    ensure_wasm_target()?;
    std::fs::create_dir_all(&options.out)
        .map_err(|source| Error::Io { path: options.out.clone(), source })?;
    let mut shared = newest_mtime(&workspace.root.join("Cargo.lock"))?;
    for input in options.inputs.iter().chain(&workspace.path_dependencies) {
        shared = shared.max(newest_mtime(input)?);
    }
    let key = build_key(&options.profile);
    let mut report = Report::default();
    for plugin in selected {
        let path = options.out.join(format!("{}.wasm", plugin.name));
        let built = if is_up_to_date(plugin, &path, shared, &key)? {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            Built { name: plugin.name.clone(), path, size, took: None }
        } else {
            let started = Instant::now();
            let module = cargo::compile(plugin, &workspace, &options.profile)?;
            let mut component = component::encode(&plugin.name, &module)?;
            component::stamp(&mut component, &key);
            write_atomically(&path, &component)?;
            let size = component.len() as u64;
            Built { name: plugin.name.clone(), path, size, took: Some(started.elapsed()) }
        };
        progress(&built);
        report.plugins.push(built);
    }
    Ok(report)
}

fn select<'a>(
    workspace: &'a cargo::Workspace,
    only: &[String],
    manifest: &Path,
) -> Result<Vec<&'a cargo::PluginCrate>> {
    if workspace.plugins.is_empty() {
        return Err(Error::NoPlugins { manifest: manifest.to_owned() });
    }
    if let Some(unknown) =
        only.iter().find(|name| !workspace.plugins.iter().any(|p| &p.name == *name))
    {
        return Err(Error::NoSuchPlugin {
            name: unknown.clone(),
            found: workspace.plugins.iter().map(|p| p.name.clone()).collect(),
        });
    }
    Ok(workspace.plugins.iter().filter(|p| only.is_empty() || only.contains(&p.name)).collect())
}

/// Whether `output` was built from the plugin's sources as they are, with
/// the same profile, compiler and flags (`key`).
fn is_up_to_date(
    plugin: &cargo::PluginCrate,
    output: &Path,
    shared: SystemTime,
    key: &str,
) -> Result<bool> {
    let Ok(built) = std::fs::metadata(output).and_then(|m| m.modified()) else {
        return Ok(false);
    };
    if built < shared || built < newest_mtime(&plugin.dir)? {
        return Ok(false);
    }
    let bytes =
        std::fs::read(output).map_err(|source| Error::Io { path: output.to_owned(), source })?;
    Ok(component::built_with(&bytes).as_deref() == Some(key))
}

/// How a build is made, beyond its sources: the cargo profile, the
/// compiler's version and the flags it is given.
fn build_key(profile: &str) -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_default();
    let flags = ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS"]
        .map(|name| std::env::var(name).unwrap_or_default())
        .join(" ");
    format!("profile={profile}; {version}; flags={}", flags.trim())
}

/// The newest modification time of `path` and, for a folder, of everything
/// below it but build output (`target/`, `__pycache__/`, `node_modules/`).
pub(crate) fn newest_mtime(path: &Path) -> Result<SystemTime> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SystemTime::UNIX_EPOCH);
        }
        Err(err) => return Err(io(err)),
    };
    let mut newest = metadata.modified().map_err(io)?;
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            if !["target", "__pycache__", "node_modules"].iter().any(|skip| name == *skip) {
                newest = newest.max(newest_mtime(&entry.path())?);
            }
        }
    }
    Ok(newest)
}

/// Writes through a temporary file, so a reader never sees half a component.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("wasm.tmp");
    std::fs::write(&tmp, bytes).map_err(|source| Error::Io { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io { path: path.to_owned(), source })
}

/// A size as people read it: bytes under 1 KiB, else KiB, MiB or GiB with
/// one decimal. The one size formatter of witplug's tools (`witplug build`,
/// `list` and `cache`, `cargo xtask build-plugins`); limits in
/// configuration keep their exact units (`witplug_host::config::units`).
///
/// ```
/// assert_eq!(witplug_build::human_size(512), "512 B");
/// assert_eq!(witplug_build::human_size(72_301), "70.6 KiB");
/// assert_eq!(witplug_build::human_size(18_343_529), "17.5 MiB");
/// ```
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    match UNITS.iter().find(|(size, _)| bytes >= *size) {
        Some((size, unit)) => format!("{:.1} {unit}", bytes as f64 / *size as f64),
        None => format!("{bytes} B"),
    }
}

/// An error as one line: its message, then each cause its message does not
/// already say, joined with `: `, whitespace (newlines included) collapsed.
/// The one error line of witplug's tools (the CLI, `witplug build`, the
/// xtask).
///
/// ```
/// let line = witplug_build::one_line(["reading x.wasm", "denied\n(os error 13)"]);
/// assert_eq!(line, "reading x.wasm: denied (os error 13)");
/// ```
pub fn one_line<S: AsRef<str>>(chain: impl IntoIterator<Item = S>) -> String {
    let mut line = String::new();
    for cause in chain {
        let text = cause.as_ref().split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(2048), "2.0 KiB");
        assert_eq!(human_size(3 << 20), "3.0 MiB");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(5 << 30), "5.0 GiB");
        assert_eq!(one_line(["a: b", "b", "c\nd"]), "a: b: c d");
    }

    #[test]
    fn finds_the_example_plugins_and_refuses_unknown_names() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let workspace = cargo::metadata(&manifest).unwrap();
        assert!(workspace.plugins.iter().any(|p| p.name == "counter"));
        assert!(!workspace.plugins.iter().any(|p| p.name == "witplug-sdk"));
        let err = select(&workspace, &["nope".to_owned()], &manifest).unwrap_err();
        assert!(err.to_string().starts_with("no plugin named `nope`"), "{err}");
    }
}

#[cfg(test)]
mod freshness {
    use super::*;

    #[test]
    fn a_component_of_another_profile_compiler_or_flags_is_not_up_to_date() {
        let dir = std::env::temp_dir().join(format!("witplug-build-fresh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        let plugin = cargo::PluginCrate {
            name: "p".into(),
            lib: "p".into(),
            dir: dir.join("src"),
            manifest: dir.join("Cargo.toml"),
        };
        let output = dir.join("p.wasm");
        let shared = SystemTime::UNIX_EPOCH;
        assert!(!is_up_to_date(&plugin, &output, shared, "k").unwrap(), "none built yet");
        let mut component = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        component::stamp(&mut component, &build_key("release"));
        std::fs::write(&output, &component).unwrap();
        assert!(is_up_to_date(&plugin, &output, shared, &build_key("release")).unwrap());
        assert!(!is_up_to_date(&plugin, &output, shared, &build_key("dev")).unwrap());
        assert!(
            !is_up_to_date(&plugin, &output, shared, "profile=release; rustc 0.1; flags=").unwrap()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
