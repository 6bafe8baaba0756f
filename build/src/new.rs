//! `witplug new`: a plugin crate that builds as it stands.

use std::path::{Path, PathBuf};

use crate::{Error, Language, Result};

/// Where a new plugin crate gets `witplug-sdk` from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sdk {
    /// From crates.io, by version requirement (default: this crate's own
    /// version).
    Version(String),
    /// From a local checkout of the SDK crate.
    Path(PathBuf),
    /// From a git repository.
    Git(String),
    /// From the enclosing workspace (`witplug-sdk.workspace = true`).
    Workspace,
}

impl Default for Sdk {
    fn default() -> Self {
        Self::Version(env!("CARGO_PKG_VERSION").to_owned())
    }
}

/// The worlds a new plugin can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum World {
    /// The default `plugin` world: `init`, `handle`, `on-message`,
    /// `run-tool`, `shutdown`. (A plugin of a host-defined world starts
    /// from it and replaces its export with `witplug_sdk::world!`.)
    #[default]
    Plugin,
}

/// What to create.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewPlugin {
    /// The crate's name, kebab-case: also the plugin's name.
    pub name: String,
    /// The world it exports.
    pub world: World,
    /// The folder the crate's folder is created in.
    pub dir: PathBuf,
    /// Where `witplug-sdk` comes from.
    pub sdk: Sdk,
    /// The language: `None` for a Rust crate, else a Python (`app.py`) or
    /// JavaScript (`app.js`) plugin folder.
    pub language: Option<Language>,
}

impl NewPlugin {
    /// A plugin of the `plugin` world named `name`, created in `dir`, with
    /// the SDK from crates.io.
    pub fn new(name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            world: World::Plugin,
            dir: dir.into(),
            sdk: Sdk::default(),
            language: None,
        }
    }

    /// Targets `world`.
    pub fn world(mut self, world: World) -> Self {
        self.world = world;
        self
    }

    /// Takes the SDK from `sdk`.
    pub fn sdk(mut self, sdk: Sdk) -> Self {
        self.sdk = sdk;
        self
    }

    /// Writes the plugin in `language` (Python or JavaScript) instead of
    /// Rust.
    pub fn language(mut self, language: Language) -> Self {
        self.language = Some(language);
        self
    }
}

/// Creates the crate at `<dir>/<name>` and returns its folder.
///
/// # Errors
///
/// [`Error::Name`] for a name that is not kebab-case, [`Error::Exists`]
/// when the folder exists, [`Error::Io`] when it cannot be written.
pub fn new_plugin(plugin: &NewPlugin) -> Result<PathBuf> {
    check_name(&plugin.name)?;
    let dir = plugin.dir.join(&plugin.name);
    if dir.exists() {
        return Err(Error::Exists { path: dir });
    }
    let write = |path: PathBuf, text: String| {
        std::fs::write(&path, text).map_err(|source| Error::Io { path, source })
    };
    if let Some(language) = plugin.language {
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        write(dir.join(language.entry()), script(&plugin.name, language))?;
        return Ok(dir);
    }
    std::fs::create_dir_all(dir.join("src"))
        .map_err(|source| Error::Io { path: dir.clone(), source })?;
    write(dir.join("Cargo.toml"), manifest(plugin)?)?;
    write(dir.join("src/lib.rs"), source(plugin))?;
    if plugin.sdk != Sdk::Workspace {
        write(dir.join(".gitignore"), "/target\n/plugins\n".to_owned())?;
    }
    Ok(dir)
}

fn check_name(name: &str) -> Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if valid { Ok(()) } else { Err(Error::Name { name: name.to_owned() }) }
}

fn manifest(plugin: &NewPlugin) -> Result<String> {
    let sdk = match &plugin.sdk {
        Sdk::Version(version) => format!("witplug-sdk = {version:?}"),
        Sdk::Path(path) => format!("witplug-sdk = {{ path = {:?} }}", path_str(path)?),
        Sdk::Git(url) => format!("witplug-sdk = {{ git = {url:?} }}"),
        Sdk::Workspace => "witplug-sdk.workspace = true".to_owned(),
    };
    // A crate of its own is a workspace of its own, even inside another
    // project's folder.
    let standalone = if plugin.sdk == Sdk::Workspace {
        ""
    } else {
        "\n# A plugin crate is its own workspace.\n[workspace]\n\n\
         # Small, fast components in release builds.\n\
         [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\nstrip = \"debuginfo\"\n"
    };
    Ok(format!(
        "[package]\n\
         name = \"{name}\"\n\
         description = \"TODO: one line saying what {name} does\"\n\
         version = \"0.1.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\
         \n\
         # A witplug plugin is a `cdylib`: `witplug build` makes it a component.\n\
         [lib]\n\
         crate-type = [\"cdylib\"]\n\
         \n\
         [dependencies]\n\
         {sdk}\n{standalone}",
        name = plugin.name
    ))
}

fn source(plugin: &NewPlugin) -> String {
    let name = &plugin.name;
    let type_name: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
                .collect::<String>()
        })
        .collect();
    match plugin.world {
        World::Plugin => format!(
            "//! The `{name}` plugin: handles requests of the `plugin` world.\n\
             \n\
             use witplug_sdk::{{Plugin, Result, log}};\n\
             \n\
             #[derive(Default)]\n\
             struct {type_name} {{\n    \
                 calls: u64,\n\
             }}\n\
             \n\
             impl Plugin for {type_name} {{\n    \
                 fn handle(&mut self, input: &str) -> Result<String> {{\n        \
                     self.calls += 1;\n        \
                     log::info!(\"call {{}}: {{input}}\", self.calls);\n        \
                     Ok(input.to_owned())\n    \
                 }}\n\
             }}\n\
             \n\
             witplug_sdk::export_plugin!({type_name});\n"
        ),
    }
}

/// A Python or JavaScript plugin of the `plugin` world named `name`.
fn script(name: &str, language: Language) -> String {
    match language {
        Language::Python => format!(
            "\"\"\"The `{name}` plugin: handles requests of the `plugin` world.\"\"\"\n\
             \n\
             from componentize_py_types import Err\n\
             from wit_world import exports\n\
             from wit_world.imports import host, types\n\
             \n\
             calls = 0\n\
             \n\
             \n\
             class Guest(exports.Guest):\n    \
                 def info(self):\n        \
                     return types.PluginInfo(name=\"{name}\", version=\"0.1.0\", description=\"TODO\")\n\
             \n    \
                 def init(self):\n        \
                     pass\n\
             \n    \
                 def handle(self, input):\n        \
                     global calls\n        \
                     calls += 1\n        \
                     host.log(types.Level.INFO, f\"call {{calls}}: {{input}}\")\n        \
                     return input\n\
             \n    \
                 def on_message(self, topic, payload):\n        \
                     pass\n\
             \n    \
                 def describe_tools(self):\n        \
                     return []\n\
             \n    \
                 def run_tool(self, name, input):\n        \
                     raise Err(types.Error_NotFound(name))\n\
             \n    \
                 def shutdown(self):\n        \
                     pass\n"
        ),
        Language::JavaScript => format!(
            "// The `{name}` plugin: handles requests of the `plugin` world.\n\
             \n\
             import {{ log }} from 'witplug:plugin/host@0.2.0';\n\
             \n\
             let calls = 0;\n\
             \n\
             export const guest = {{\n  \
                 info() {{\n    \
                     return {{ name: '{name}', version: '0.1.0', description: 'TODO' }};\n  \
                 }},\n  \
                 init() {{}},\n  \
                 handle(input) {{\n    \
                     calls += 1;\n    \
                     log('info', `call ${{calls}}: ${{input}}`);\n    \
                     return input;\n  \
                 }},\n  \
                 onMessage(topic, payload) {{}},\n  \
                 describeTools() {{\n    \
                     return [];\n  \
                 }},\n  \
                 runTool(name, input) {{\n    \
                     throw {{ tag: 'not-found', val: name }};\n  \
                 }},\n  \
                 shutdown() {{}},\n\
             }};\n"
        ),
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| Error::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not valid UTF-8"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_and_javascript_plugins_say_their_name() {
        let python = script("hello-py", Language::Python);
        assert!(python.contains("class Guest(exports.Guest):"), "{python}");
        assert!(python.contains("name=\"hello-py\""), "{python}");
        let javascript = script("hello-js", Language::JavaScript);
        assert!(javascript.contains("export const guest = {"), "{javascript}");
        assert!(javascript.contains("name: 'hello-js'"), "{javascript}");
    }

    #[test]
    fn names_must_be_kebab_case() {
        assert!(check_name("my-plugin2").is_ok());
        for bad in ["My", "1abc", "a_b", "a-", ""] {
            assert!(check_name(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_crate_depends_on_the_sdk_as_asked_and_names_its_type() {
        let plugin = NewPlugin::new("word-count", "/x");
        let source = source(&plugin);
        assert!(source.contains("struct WordCount {"), "{source}");
        assert!(source.contains("export_plugin!(WordCount)"), "{source}");
        let version = manifest(&plugin).unwrap();
        assert!(version.contains(&format!("witplug-sdk = \"{}\"", env!("CARGO_PKG_VERSION"))));
        assert!(version.contains("[workspace]"), "{version}");
        let path = manifest(&plugin.clone().sdk(Sdk::Path("/sdk".into()))).unwrap();
        assert!(path.contains("witplug-sdk = { path = \"/sdk\" }"), "{path}");
        let inside = manifest(&plugin.sdk(Sdk::Workspace)).unwrap();
        assert!(inside.contains("witplug-sdk.workspace = true") && !inside.contains("[workspace]"));
    }
}
