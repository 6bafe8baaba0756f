//! The witplug contract this crate carries (`wit/`, kept identical to the
//! repository's by a test), for plugins that bring no WIT of their own.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The contract's files, by name.
const FILES: [(&str, &str); 4] = [
    ("guest.wit", include_str!("../wit/guest.wit")),
    ("host.wit", include_str!("../wit/host.wit")),
    ("types.wit", include_str!("../wit/types.wit")),
    ("worlds.wit", include_str!("../wit/worlds.wit")),
];

/// Writes the contract into a folder under `base` named after this crate's
/// version (where it is left unchanged when already there), returning it.
pub(crate) fn write(base: &Path) -> Result<PathBuf> {
    let dir = base.join(format!("witplug-wit-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
    for (name, text) in FILES {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        std::fs::write(&path, text).map_err(|source| Error::Io { path, source })?;
    }
    Ok(dir)
}
