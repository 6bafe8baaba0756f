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

/// The standard WASI packages every witplug host links beside the
/// contract (`wit/deps/`, vendored unchanged), by folder and file: offered
/// to plugins with a world of their own, as `deps/<folder>`.
const STANDARD: [(&str, &str, &str); 11] = [
    ("config", "store.wit", include_str!("../wit/deps/config/store.wit")),
    ("config", "world.wit", include_str!("../wit/deps/config/world.wit")),
    ("logging", "logging.wit", include_str!("../wit/deps/logging/logging.wit")),
    ("keyvalue", "atomic.wit", include_str!("../wit/deps/keyvalue/atomic.wit")),
    ("keyvalue", "batch.wit", include_str!("../wit/deps/keyvalue/batch.wit")),
    ("keyvalue", "store.wit", include_str!("../wit/deps/keyvalue/store.wit")),
    ("keyvalue", "watch.wit", include_str!("../wit/deps/keyvalue/watch.wit")),
    ("keyvalue", "world.wit", include_str!("../wit/deps/keyvalue/world.wit")),
    ("keyvalue", "LICENSE", include_str!("../wit/deps/keyvalue/LICENSE")),
    ("logging", "LICENSE", include_str!("../wit/deps/logging/LICENSE")),
    ("config", "LICENSE", include_str!("../wit/deps/config/LICENSE")),
];

/// Contract 0.3 (`wit/v0.3.0`, whose `mcp-server` world serves agents),
/// by file name: offered to plugins with a world of their own as the
/// package `witplug-0.3.0`, so that a world may `include
/// witplug:plugin/mcp-server@0.3.0`.
const MCP: [(&str, &str); 5] = [
    ("guest.wit", include_str!("../wit-mcp/guest.wit")),
    ("host.wit", include_str!("../wit-mcp/host.wit")),
    ("mcp.wit", include_str!("../wit-mcp/mcp.wit")),
    ("types.wit", include_str!("../wit-mcp/types.wit")),
    ("worlds.wit", include_str!("../wit-mcp/worlds.wit")),
];

/// Writes contract 0.3 as the one package of a folder under `base` named
/// after this crate's version, returning the folder (of packages).
pub(crate) fn write_mcp(base: &Path) -> Result<PathBuf> {
    let dir = base.join(format!("witplug-mcp-wit-{}", env!("CARGO_PKG_VERSION")));
    let folder = dir.join("witplug-0.3.0");
    std::fs::create_dir_all(&folder)
        .map_err(|source| Error::Io { path: folder.clone(), source })?;
    for (name, text) in MCP {
        let path = folder.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        std::fs::write(&path, text).map_err(|source| Error::Io { path, source })?;
    }
    Ok(dir)
}

/// Writes the standard packages into a folder under `base` named after
/// this crate's version, one folder a package, returning it.
pub(crate) fn write_standard(base: &Path) -> Result<PathBuf> {
    let dir = base.join(format!("witplug-wasi-wit-{}", env!("CARGO_PKG_VERSION")));
    for (package, name, text) in STANDARD {
        let folder = dir.join(package);
        std::fs::create_dir_all(&folder)
            .map_err(|source| Error::Io { path: folder.clone(), source })?;
        let path = folder.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        std::fs::write(&path, text).map_err(|source| Error::Io { path, source })?;
    }
    Ok(dir)
}

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
