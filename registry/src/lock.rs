//! `witplug.lock`: what a host runs, pinned by digest, with the grants and
//! limits its operator approved. `witplug add`, `update` and `remove`
//! write it; `witplug install` reproduces it; a host starting beside it
//! runs each plugin it names only as the bytes it pins and within what it
//! approved.
//!
//! ```toml
//! version = 1
//!
//! [[plugin]]
//! name = "counter"
//! source = "registry.example/plugins/counter"
//! tag = "1.0.0"
//! digest = "sha256:…"       # the artifact's manifest
//! wasm = "sha256:…"         # its plugin layer
//! manifest = "sha256:…"     # its plugin-manifest layer, when it has one
//! signature = "sha256:…"    # the signature verified, when one was
//! signed-by = "ed25519:…"   # the key that made it
//! approved = """
//! [grants]
//! tools = ["upper"]
//! """
//! ```
//!
//! The file is read within a bound and checked whole: a field that is not
//! what it should be (a digest, a name, a reference) refuses the file,
//! naming the plugin and the field. It is written aside and renamed in.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::reference::{Reference, is_digest};
use crate::{Error, Result};

/// The largest lock file read.
const MAX_LOCK: u64 = 16 << 20;

/// The lock file's name, beside the host's configuration.
pub const LOCK_FILE: &str = "witplug.lock";

/// A lock file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The format's version: 1.
    pub version: u32,
    /// The plugins, by name.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<Locked>,
}

/// One plugin of a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Locked {
    /// The plugin's name in the plugins folder.
    pub name: String,
    /// `registry/repository`.
    pub source: String,
    /// The tag it was added or updated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The artifact's manifest digest.
    pub digest: String,
    /// The plugin layer's digest.
    pub wasm: String,
    /// The plugin-manifest layer's digest, when the artifact carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The digest of the signature verified (in the content store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The key that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// The grants, limits, pool and tools the operator approved, as a
    /// plugin manifest writes them.
    #[serde(default)]
    pub approved: String,
}

impl Locked {
    /// Its source at its digest.
    pub fn reference(&self) -> Result<Reference> {
        let mut reference = Reference::parse(&format!("{}@{}", self.source, self.digest))?;
        reference.tag = self.tag.clone();
        Ok(reference)
    }

    /// What was approved, as a manifest.
    pub fn approved_manifest(&self) -> Result<witplug_host::Manifest> {
        witplug_host::Manifest::parse(&self.approved).map_err(|reason| Error::Widened {
            plugin: self.name.clone(),
            reason: format!(
                "its approved grants in the lock do not parse: {}",
                crate::error::one_line(&reason)
            ),
        })
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |field: &str, why: &str| {
            Error::file(
                path,
                format!(
                    "plugin `{}`: `{field}` {why}",
                    witplug_host::text::sanitize(&self.name, 64)
                ),
            )
        };
        if self.name.is_empty()
            || self.name.len() > 128
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            || self.name.starts_with('.')
        {
            return Err(bad("name", "is not a plugin name (a-z A-Z 0-9 - _ .)"));
        }
        for (field, digest) in [
            ("digest", Some(&self.digest)),
            ("wasm", Some(&self.wasm)),
            ("manifest", self.manifest.as_ref()),
            ("signature", self.signature.as_ref()),
        ] {
            if let Some(digest) = digest
                && !is_digest(digest)
            {
                return Err(bad(field, "is not sha256: and 64 lowercase hex digits"));
            }
        }
        self.reference().map_err(|err| bad("source", &format!("is not a reference: {err}")))?;
        witplug_host::Manifest::parse(&self.approved)
            .map_err(|reason| bad("approved", &format!("is not a manifest: {reason}")))?;
        Ok(())
    }
}

impl Lock {
    /// The lock at `path`, or an empty one when there is none.
    ///
    /// # Errors
    ///
    /// [`Error::File`] naming the file (and the plugin and field) when it
    /// cannot be read or is not a lock.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match witplug_host::config::read_text_file(path, MAX_LOCK) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(Self { version: 1, plugins: Vec::new() }),
            Err(err) => return Err(Error::file(path, err)),
        };
        let lock: Self = toml::from_str(&text).map_err(|err| Error::file(path, err.message()))?;
        if lock.version != 1 {
            return Err(Error::file(
                path,
                format!("version {} of the lock format; this witplug reads 1", lock.version),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for plugin in &lock.plugins {
            plugin.check(path)?;
            if !names.insert(plugin.name.as_str()) {
                return Err(Error::file(path, format!("plugin `{}` is locked twice", plugin.name)));
            }
        }
        Ok(lock)
    }

    /// Writes the lock to `path`, aside then renamed in.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = String::from(
            "# witplug.lock: the plugins this host runs, pinned by digest, with the grants\n\
             # their operator approved. Written by `witplug add`, `update` and `remove`.\n",
        );
        text.push_str(&toml::to_string(self).map_err(|err| Error::file(path, err))?);
        crate::client::write_aside(path, text.as_bytes())
    }

    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<&Locked> {
        self.plugins.iter().find(|plugin| plugin.name == name)
    }

    /// Puts `locked` in, replacing the plugin of its name.
    pub fn put(&mut self, locked: Locked) {
        match self.plugins.iter_mut().find(|plugin| plugin.name == locked.name) {
            Some(slot) => *slot = locked,
            None => self.plugins.push(locked),
        }
        self.plugins.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Tells `builder` to run each plugin of the lock only as the bytes it
    /// pins and within the grants its operator approved; under
    /// `registry`'s trust policy, only when its signature verifies from the
    /// content store (no network). A plugin that does not hold is refused
    /// at load, naming the reason; the others load.
    ///
    /// ```no_run
    /// # fn run(registry: &witplug_registry::Registry) -> witplug_registry::Result<()> {
    /// let lock = witplug_registry::Lock::load("witplug.lock".as_ref())?;
    /// let mut builder = witplug_host::Host::builder();
    /// lock.approve(registry, &mut builder);
    /// let host = builder.build()?;
    /// # Ok(()) }
    /// ```
    pub fn approve(&self, registry: &crate::Registry, builder: &mut witplug_host::HostBuilder) {
        use witplug_host::config::Approval;
        builder.require_approval(!registry.policy.is_empty());
        for locked in &self.plugins {
            let checked = if registry.policy.is_empty() {
                Ok(())
            } else {
                registry.verify_offline(locked, false)
            };
            let approval = match checked.and_then(|()| locked.approved_manifest()) {
                Ok(manifest) => Approval::Approved {
                    source: locked.source.clone(),
                    sha256: locked.wasm.trim_start_matches("sha256:").to_owned(),
                    manifest: Box::new(manifest),
                },
                Err(err) => Approval::Refused { reason: format!("{err} ({LOCK_FILE})") },
            };
            builder.approve(locked.name.clone(), approval);
        }
    }

    /// Takes the plugin named `name` out.
    pub fn remove(&mut self, name: &str) -> Option<Locked> {
        let at = self.plugins.iter().position(|plugin| plugin.name == name)?;
        Some(self.plugins.remove(at))
    }
}

/// The lock beside the configuration `config` (or in the current folder).
pub fn default_path(config: Option<&Path>) -> PathBuf {
    config
        .and_then(Path::parent)
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(LOCK_FILE)
}
