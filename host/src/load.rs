//! Turning files into plugins: reading, checking and compiling components.

use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre, Linker};

use crate::error::one_line;
use crate::state::PluginState;
use crate::{Error, Plugin, Result};

/// What loading a folder gave: the plugins that loaded and, for every file
/// that did not, why.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LoadReport {
    /// The plugins that loaded, by file name.
    pub loaded: Vec<std::sync::Arc<Plugin>>,
    /// One error per file that did not load; each names the file.
    pub failed: Vec<Error>,
}

/// The `*.wasm` files of `dir`, sorted by name.
pub(crate) fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io { path: dir.to_owned(), source };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|ext| ext == "wasm") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The plugin name a file gives: its name without `.wasm`.
pub(crate) fn plugin_name(path: &Path) -> Result<String> {
    path.file_stem().and_then(|stem| stem.to_str()).map(str::to_owned).ok_or_else(|| {
        Error::InvalidComponent {
            path: path.to_owned(),
            reason: "the file name is not valid UTF-8".to_owned(),
        }
    })
}

/// Reads and compiles a component, and links it against the host.
pub(crate) fn compile(
    engine: &Engine,
    linker: &Linker<PluginState>,
    path: &Path,
) -> Result<(u64, Component, InstancePre<PluginState>)> {
    let bytes =
        std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
    check_header(path, &bytes)?;
    let component = Component::new(engine, &bytes)
        .map_err(|err| Error::InvalidComponent { path: path.to_owned(), reason: one_line(&err) })?;
    let pre = linker.instantiate_pre(&component).map_err(|err| missing_import(path, &err))?;
    Ok((bytes.len() as u64, component, pre))
}

/// Tells apart non-wasm files, core modules and components by their header.
fn check_header(path: &Path, bytes: &[u8]) -> Result<()> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE: &[u8] = &[1, 0, 0, 0];
    const COMPONENT: &[u8] = &[0x0d, 0, 1, 0];
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(Error::NotWasm { path: path.to_owned() });
    }
    match &bytes[4..8] {
        CORE_MODULE => Err(Error::CoreModule { path: path.to_owned() }),
        COMPONENT => Ok(()),
        _ => Err(Error::InvalidComponent {
            path: path.to_owned(),
            reason: format!("unsupported WebAssembly binary version {:02x?}", &bytes[4..8]),
        }),
    }
}

/// Names the import that wasmtime could not satisfy.
fn missing_import(path: &Path, err: &wasmtime::Error) -> Error {
    // wasmtime's outermost message is "component imports instance `NAME`,
    // but a matching implementation was not found in the linker".
    let outer = err.to_string();
    let import = outer.split('`').nth(1).map(str::to_owned);
    match import {
        Some(import) => Error::MissingImport {
            path: path.to_owned(),
            import,
            reason: err.root_cause().to_string().split_whitespace().collect::<Vec<_>>().join(" "),
        },
        None => Error::InvalidComponent { path: path.to_owned(), reason: one_line(err) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_files_apart() {
        let path = Path::new("x.wasm");
        assert!(matches!(check_header(path, b"hello world"), Err(Error::NotWasm { .. })));
        assert!(matches!(check_header(path, b"\0asm"), Err(Error::NotWasm { .. })));
        assert!(matches!(check_header(path, b"\0asm\x01\0\0\0"), Err(Error::CoreModule { .. })));
        assert!(check_header(path, b"\0asm\x0d\0\x01\0").is_ok());
        assert!(matches!(
            check_header(path, b"\0asm\x02\0\0\0"),
            Err(Error::InvalidComponent { .. })
        ));
    }
}
