//! Plugins in Python and JavaScript: a folder holding `app.py` or `app.js`,
//! built against a WIT world by the language's component toolchain
//! (componentize-py, componentize-js), pinned and installed on first use.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::toolchain::{self, Language};
use crate::{Built, Error, Report, Result, newest_mtime, validate, write_atomically};

/// Which Python or JavaScript plugins to build, and where to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScriptOptions {
    /// The plugin folders; each is named after its folder.
    pub dirs: Vec<PathBuf>,
    /// Where components are written, as `<name>.wasm`.
    pub out: PathBuf,
    /// The witplug contract (a WIT folder): the world of a plugin without
    /// a `wit/` of its own, and a dependency of one with; `None`: the
    /// contract this crate carries.
    pub wit: Option<PathBuf>,
    /// The world the plugins target; unless set, `plugin` for the witplug
    /// contract, and the one world of a plugin's own `wit/`.
    pub world: Option<String>,
    /// Where the toolchains are installed (one folder per pinned version).
    pub tools: PathBuf,
    /// Folders of WIT packages (a `.wit` file or a folder per package)
    /// that a plugin's own world may use besides the witplug contract, as
    /// if they were in its `wit/deps/`: the WASI packages, say.
    pub deps: Vec<PathBuf>,
}

impl ScriptOptions {
    /// The plugins in folders `dirs`, into `out`, for the world `plugin`
    /// of the witplug contract, with toolchains installed under `tools`.
    pub fn new(
        dirs: impl IntoIterator<Item = impl Into<PathBuf>>,
        out: impl Into<PathBuf>,
        tools: impl Into<PathBuf>,
    ) -> Self {
        Self {
            dirs: dirs.into_iter().map(Into::into).collect(),
            out: out.into(),
            wit: None,
            world: None,
            tools: tools.into(),
            deps: Vec::new(),
        }
    }

    /// Builds against the witplug contract in the WIT folder `wit`.
    pub fn wit(mut self, wit: impl Into<PathBuf>) -> Self {
        self.wit = Some(wit.into());
        self
    }

    /// Targets the world `world`.
    pub fn world(mut self, world: impl Into<String>) -> Self {
        self.world = Some(world.into());
        self
    }

    /// Offers the WIT packages in folder `deps` to plugins with a world of
    /// their own.
    pub fn deps(mut self, deps: impl Into<PathBuf>) -> Self {
        self.deps.push(deps.into());
        self
    }
}

/// Builds the Python and JavaScript plugins `options` names, calling
/// `progress` with each as soon as it is built or found up to date. A
/// component newer than its folder and its WIT is left alone; a toolchain
/// is installed only when a plugin of its language needs building.
///
/// # Errors
///
/// [`Error::NotAPlugin`] for a folder with neither `app.py` nor `app.js`,
/// [`Error::Toolchain`] when a toolchain is missing and cannot be
/// installed, [`Error::Compile`] naming the plugin its toolchain failed on
/// (its messages go to stderr), [`Error::Component`] when the result is not
/// a valid component, and [`Error::Io`].
pub fn build_scripts(options: &ScriptOptions, mut progress: impl FnMut(&Built)) -> Result<Report> {
    std::fs::create_dir_all(&options.out)
        .map_err(|source| Error::Io { path: options.out.clone(), source })?;
    let mut dirs = options.dirs.clone();
    dirs.sort();
    let mut report = Report::default();
    for dir in &dirs {
        let language = Language::of(dir).ok_or_else(|| Error::NotAPlugin { dir: dir.clone() })?;
        let name = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .ok_or_else(|| Error::NotAPlugin { dir: dir.clone() })?;
        let contract = match &options.wit {
            Some(wit) => wit.clone(),
            None => crate::contract::write(&options.tools)?,
        };
        let own = dir.join("wit");
        let path = options.out.join(format!("{name}.wasm"));
        let mut inputs = newest_mtime(dir)?.max(newest_mtime(&contract)?);
        for deps in &options.deps {
            inputs = inputs.max(newest_mtime(deps)?);
        }
        let fresh =
            std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|built| built >= inputs);
        let built = if fresh {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            Built { name, path, size, took: None }
        } else {
            let started = Instant::now();
            let program = toolchain::ensure(language, &options.tools)?;
            // The toolchain works for seconds with nothing to show: on a
            // terminal, say what it is doing; in a pipe, say nothing.
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprintln!("  {name:<18} building with {}...", language.toolchain());
            }
            let mut scratch = None;
            let (wit, world) = if own.is_dir() {
                // A world of the plugin's own: its WIT, with the contract
                // and the offered packages as dependencies.
                let private = scratch.insert(PrivateDir::new(&name)?);
                let staged = private.path().join("wit");
                // The standard packages the host links come last: a
                // package of the plugin's own or offered wins.
                let mut offered = options.deps.clone();
                offered.push(crate::contract::write_mcp(&options.tools)?);
                offered.push(crate::contract::write_standard(&options.tools)?);
                stage(&own, &contract, &offered, &staged)?;
                (staged, options.world.as_deref())
            } else {
                (contract, Some(options.world.as_deref().unwrap_or("plugin")))
            };
            let component = componentize(language, &program, &name, dir, &wit, world)?;
            drop(scratch);
            validate(&name, &component)?;
            write_atomically(&path, &component)?;
            let size = component.len() as u64;
            Built { name, path, size, took: Some(started.elapsed()) }
        };
        progress(&built);
        report.plugins.push(built);
    }
    Ok(report)
}

/// Lays out in `staged` the WIT of a plugin with a world of its own: the
/// `.wit` files of `own`, its `deps/`, the witplug contract as the package
/// `witplug`, and each package of the `offered` folders, unless `own/deps`
/// already holds one of that name.
fn stage(own: &Path, contract: &Path, offered: &[PathBuf], staged: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    let _ = std::fs::remove_dir_all(staged);
    std::fs::create_dir_all(staged.join("deps")).map_err(io(staged))?;
    copy_wit(own, staged)?;
    let own_deps = own.join("deps");
    let mut packages = vec![(contract.to_owned(), "witplug".to_owned())];
    for folder in std::iter::once(&own_deps).chain(offered) {
        let Ok(entries) = std::fs::read_dir(folder) else { continue };
        for entry in entries {
            let path = entry.map_err(io(folder))?.path();
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            if let Some(stem) = stem.filter(|_| path.is_dir() || is_wit(&path)) {
                packages.push((path, stem));
            }
        }
    }
    for (package, name) in packages {
        let target = staged.join("deps").join(&name);
        if target.exists() {
            continue;
        }
        std::fs::create_dir_all(&target).map_err(io(&target))?;
        if package.is_dir() {
            copy_wit(&package, &target)?;
        } else {
            let file = target.join(package.file_name().unwrap_or_default());
            std::fs::copy(&package, &file).map_err(io(&file))?;
        }
    }
    Ok(())
}

fn is_wit(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "wit")
}

/// Copies the `.wit` files directly in `from` into `to`.
fn copy_wit(from: &Path, to: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(from).map_err(|source| Error::Io { path: from.to_owned(), source })?;
    for entry in entries {
        let path = entry.map_err(|source| Error::Io { path: from.to_owned(), source })?.path();
        if is_wit(&path) {
            let target = to.join(path.file_name().unwrap_or_default());
            std::fs::copy(&path, &target).map_err(|source| Error::Io { path: target, source })?;
        }
    }
    Ok(())
}

/// A folder of this process's own under the system's temporary folder,
/// for a build's scratch files: made anew (never one that was there), only
/// its owner may enter it (on Unix), and it is removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new(name: &str) -> Result<Self> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        for _ in 0..100 {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path =
                base.join(format!("witplug-build-{name}-{}-{nanos}-{n}", std::process::id()));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
        Err(Error::Toolchain(format!("no fresh scratch folder in {}", base.display())))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the toolchain on the plugin in `dir`, returning the component.
fn componentize(
    language: Language,
    program: &Path,
    name: &str,
    dir: &Path,
    wit: &Path,
    world: Option<&str>,
) -> Result<Vec<u8>> {
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let private = PrivateDir::new(name)?;
    let scratch = private.path().join("component.wasm");
    let mut command = Command::new(program);
    command.current_dir(dir);
    match language {
        Language::Python => {
            command.arg("-d").arg(absolute(wit));
            if let Some(world) = world {
                command.args(["-w", world]);
            }
            command.args(["componentize", "app"]);
            command.args(["-p", "."]).arg("-o").arg(&scratch);
        }
        Language::JavaScript => {
            command.arg(language.entry()).arg("--wit").arg(absolute(wit));
            if let Some(world) = world {
                command.args(["--world-name", world]);
            }
            command.arg("-o").arg(&scratch);
        }
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| Error::Toolchain(format!("could not run {}: {err}", program.display())))?;
    let component = std::fs::read(&scratch);
    let _ = std::fs::remove_file(&scratch);
    match component {
        Ok(component) if output.status.success() => Ok(component),
        _ => {
            // The toolchain's own messages say what is wrong with the code.
            eprint!("{}", String::from_utf8_lossy(&output.stdout));
            eprint!("{}", String::from_utf8_lossy(&output.stderr));
            Err(Error::Compile { plugin: name.to_owned() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_a_world_of_its_own_with_the_contract_and_the_offered_packages() {
        let root = std::env::temp_dir().join(format!("witplug-stage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (own, contract, offered) = (root.join("own"), root.join("contract"), root.join("wasi"));
        for dir in [own.join("deps/mine"), contract.clone(), offered.join("io")] {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(own.join("world.wit"), "package a:b;").unwrap();
        std::fs::write(own.join("notes.txt"), "not wit").unwrap();
        std::fs::write(own.join("deps/mine/x.wit"), "package m:x;").unwrap();
        std::fs::write(contract.join("host.wit"), "package witplug:plugin;").unwrap();
        std::fs::write(offered.join("http.wit"), "package wasi:http;").unwrap();
        std::fs::write(offered.join("io/io.wit"), "package wasi:io;").unwrap();
        std::fs::write(offered.join("mine.wit"), "shadowed by own deps").unwrap();

        let staged = root.join("staged");
        stage(&own, &contract, std::slice::from_ref(&offered), &staged).unwrap();
        let read = |path: &str| std::fs::read_to_string(staged.join(path)).unwrap();
        assert_eq!(read("world.wit"), "package a:b;");
        assert!(!staged.join("notes.txt").exists());
        assert_eq!(read("deps/witplug/host.wit"), "package witplug:plugin;");
        assert_eq!(read("deps/mine/x.wit"), "package m:x;");
        assert_eq!(read("deps/http/http.wit"), "package wasi:http;");
        assert_eq!(read("deps/io/io.wit"), "package wasi:io;");
        assert!(!staged.join("deps/mine/mine.wit").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_folder_without_app_py_or_app_js_is_not_a_plugin() {
        let out = std::env::temp_dir().join(format!("witplug-out-{}", std::process::id()));
        let options = ScriptOptions::new([std::env::temp_dir()], &out, "tools");
        let err = build_scripts(&options, |_| {}).unwrap_err();
        assert!(err.to_string().contains("not a plugin folder"), "{err}");
        let _ = std::fs::remove_dir_all(&out);
    }
}
