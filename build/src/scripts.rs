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
    /// The WIT folder to build against when a plugin has no `wit/` folder
    /// of its own; `None`: the witplug contract this crate carries.
    pub wit: Option<PathBuf>,
    /// The world the plugins target: `plugin` unless set.
    pub world: String,
    /// Where the toolchains are installed (one folder per pinned version).
    pub tools: PathBuf,
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
            world: "plugin".to_owned(),
            tools: tools.into(),
        }
    }

    /// Builds against the WIT folder `wit` (when a plugin has none).
    pub fn wit(mut self, wit: impl Into<PathBuf>) -> Self {
        self.wit = Some(wit.into());
        self
    }

    /// Targets the world `world`.
    pub fn world(mut self, world: impl Into<String>) -> Self {
        self.world = world.into();
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
        let wit = match (dir.join("wit"), &options.wit) {
            (own, _) if own.is_dir() => own,
            (_, Some(wit)) => wit.clone(),
            (_, None) => crate::contract::write(&options.tools)?,
        };
        let path = options.out.join(format!("{name}.wasm"));
        let inputs = newest_mtime(dir)?.max(newest_mtime(&wit)?);
        let fresh =
            std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|built| built >= inputs);
        let built = if fresh {
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            Built { name, path, size, took: None }
        } else {
            let started = Instant::now();
            let program = toolchain::ensure(language, &options.tools)?;
            let component = componentize(language, &program, &name, dir, &wit, &options.world)?;
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

/// Runs the toolchain on the plugin in `dir`, returning the component.
fn componentize(
    language: Language,
    program: &Path,
    name: &str,
    dir: &Path,
    wit: &Path,
    world: &str,
) -> Result<Vec<u8>> {
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let scratch = std::env::temp_dir().join(format!("witplug-{name}-{}.wasm", std::process::id()));
    let mut command = Command::new(program);
    command.current_dir(dir);
    match language {
        Language::Python => {
            command.arg("-d").arg(absolute(wit)).args(["-w", world, "componentize", "app"]);
            command.args(["-p", "."]).arg("-o").arg(&scratch);
        }
        Language::JavaScript => {
            command.arg(language.entry()).arg("--wit").arg(absolute(wit));
            command.args(["--world-name", world]).arg("-o").arg(&scratch);
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
