//! The one error type of the build.

use std::path::PathBuf;

/// What can go wrong building plugins. Every message is one line naming the
/// plugin, file or command concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Cargo could not be run, or could not read the crate.
    #[error("{0}")]
    Cargo(String),
    /// The crate or workspace has no `cdylib` package.
    #[error(
        "{}: no plugin crate here (a plugin is a package with `[lib] crate-type = [\"cdylib\"]`)",
        manifest.display()
    )]
    NoPlugins {
        /// The manifest given.
        manifest: PathBuf,
    },
    /// No plugin of the name asked for.
    #[error("no plugin named `{name}` (found: {})", found.join(", "))]
    NoSuchPlugin {
        /// The name asked for.
        name: String,
        /// The plugins there are.
        found: Vec<String>,
    },
    /// The `wasm32-wasip1` target is missing and could not be installed.
    #[error("{0}")]
    Target(String),
    /// Cargo or a guest language's toolchain failed to compile a plugin;
    /// its messages went to stderr.
    #[error("plugin `{plugin}` failed to compile (the compiler's messages are above)")]
    Compile {
        /// The plugin.
        plugin: String,
    },
    /// A plugin name that is not kebab-case.
    #[error(
        "plugin name `{name}` must be kebab-case: lowercase letters, digits and `-`, starting with a letter"
    )]
    Name {
        /// The name given.
        name: String,
    },
    /// The folder a new plugin would be created in exists already.
    #[error("{} already exists", path.display())]
    Exists {
        /// The folder.
        path: PathBuf,
    },
    /// A guest language's toolchain is missing and could not be installed;
    /// the message says what to install.
    #[error("{0}")]
    Toolchain(String),
    /// A folder given as a Python or JavaScript plugin holds neither
    /// `app.py` nor `app.js`.
    #[error("{}: not a plugin folder (a Python plugin holds `app.py`, a JavaScript one `app.js`)", dir.display())]
    NotAPlugin {
        /// The folder.
        dir: PathBuf,
    },
    /// A compiled plugin could not become a valid component.
    #[error("plugin `{plugin}`: {reason}")]
    Component {
        /// The plugin.
        plugin: String,
        /// Why, as one line.
        reason: String,
    },
}

/// A result whose error is the build's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
