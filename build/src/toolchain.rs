//! The component toolchains of other guest languages, pinned and installed
//! on first use into a folder of their own: `componentize-py` from PyPI
//! (in a Python virtual environment) and `componentize-js` from npm.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// The pinned `componentize-py` release (PyPI).
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// The pinned `@bytecodealliance/componentize-js` release (npm).
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// A guest language whose plugins a third-party toolchain builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Language {
    /// `app.py`, built by componentize-py.
    Python,
    /// `app.js`, built by componentize-js.
    JavaScript,
}

impl Language {
    /// The language of the plugin in folder `dir`: Python when it holds
    /// `app.py`, JavaScript when it holds `app.js`.
    pub fn of(dir: &Path) -> Option<Self> {
        if dir.join("app.py").is_file() {
            Some(Self::Python)
        } else if dir.join("app.js").is_file() {
            Some(Self::JavaScript)
        } else {
            None
        }
    }

    /// The file the plugin starts from.
    pub fn entry(self) -> &'static str {
        match self {
            Self::Python => "app.py",
            Self::JavaScript => "app.js",
        }
    }

    /// The language's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Python => "Python",
            Self::JavaScript => "JavaScript",
        }
    }
}

impl Language {
    /// The pinned toolchain that builds the language's plugins, with its
    /// version: `componentize-py 0.25.1`.
    pub fn toolchain(self) -> String {
        match self {
            Self::Python => format!("componentize-py {COMPONENTIZE_PY}"),
            Self::JavaScript => format!("componentize-js {COMPONENTIZE_JS}"),
        }
    }
}

/// The program that builds `language`'s plugins, installed under `tools`
/// first when it is missing there.
///
/// # Errors
///
/// [`Error::Toolchain`] when the language's own runtime (`python3` with its
/// `venv` module, or `node` and `npm`) is missing, saying what to install,
/// or when installing fails.
pub fn ensure(language: Language, tools: &Path) -> Result<PathBuf> {
    match language {
        Language::Python => ensure_componentize_py(tools),
        Language::JavaScript => ensure_componentize_js(tools),
    }
}

fn ensure_componentize_py(tools: &Path) -> Result<PathBuf> {
    let venv = tools.join(format!("componentize-py-{COMPONENTIZE_PY}"));
    let program = venv.join("bin/componentize-py");
    let requirement = format!("componentize-py=={COMPONENTIZE_PY}");
    let installed = |venv: &Path| crate::venv::has(venv, "componentize-py", COMPONENTIZE_PY);
    crate::venv::install(&venv, &requirement, installed)?;
    if !succeeds(Command::new(&program).arg("--help")) {
        return Err(Error::Toolchain(format!(
            "{} was installed but does not run",
            program.display()
        )));
    }
    Ok(program)
}

fn ensure_componentize_js(tools: &Path) -> Result<PathBuf> {
    let prefix = tools.join(format!("componentize-js-{COMPONENTIZE_JS}"));
    let program = prefix.join("node_modules/.bin/componentize-js");
    let marker = prefix.join(".installed");
    if marker.is_file() && program.is_file() {
        return Ok(program);
    }
    for (tool, what) in [("node", "Node.js"), ("npm", "npm")] {
        if !succeeds(Command::new(tool).arg("--version")) {
            return Err(Error::Toolchain(format!(
                "building JavaScript plugins needs {what}: install Node.js 18 or later with npm \
                 (`{tool} --version` must work)"
            )));
        }
    }
    eprintln!(
        "installing componentize-js {COMPONENTIZE_JS} (npm @bytecodealliance/componentize-js) \
         into {}",
        prefix.display()
    );
    let _ = std::fs::remove_dir_all(&prefix);
    std::fs::create_dir_all(&prefix)
        .map_err(|source| Error::Io { path: prefix.clone(), source })?;
    run(
        Command::new("npm")
            .args(["install", "--save-exact", "--no-audit", "--no-fund"])
            .args(quiet("--silent"))
            .arg("--prefix")
            .arg(&prefix)
            .arg(format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS}")),
        &format!("npm install @bytecodealliance/componentize-js@{COMPONENTIZE_JS}"),
    )?;
    finish(&program, &marker)
}

/// Checks the installed program runs, then marks the install complete (an
/// install cut short is redone next time).
fn finish(program: &Path, marker: &Path) -> Result<PathBuf> {
    if !succeeds(Command::new(program).arg("--help")) {
        return Err(Error::Toolchain(format!(
            "{} was installed but does not run",
            program.display()
        )));
    }
    std::fs::write(marker, b"").map_err(|source| Error::Io { path: marker.to_owned(), source })?;
    Ok(program.to_owned())
}

/// `flag` when stderr is not a terminal: an install shows pip's and npm's
/// progress to a person watching, and stays quiet in a pipe or a log.
pub(crate) fn quiet(flag: &'static str) -> Option<&'static str> {
    (!std::io::IsTerminal::is_terminal(&std::io::stderr())).then_some(flag)
}

pub(crate) fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

pub(crate) fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .map_err(|err| Error::Toolchain(format!("could not start `{what}`: {err}")))?;
    if !status.success() {
        return Err(Error::Toolchain(format!("`{what}` failed ({status})")));
    }
    Ok(())
}
