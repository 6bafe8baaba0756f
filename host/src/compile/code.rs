//! A plugin file into [`Code`]: read within its bound and checked
//! against its pinned hash (`read`), its header classified once
//! (`classify`), compiled or found in the cache, and linked (`build`,
//! `known`), with the contract version it targets read once, at link.

use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre, Linker};

use crate::compile::cache::Cache;
use crate::compile::engine::Runtime;
use crate::compile::fingerprint::Fingerprint;
use crate::contract::Contract;
use crate::error::{collapse_whitespace, one_line};
use crate::instance_state::PluginState;
use crate::text::{self, sanitize};
use crate::{Error, Result};

/// A component or a core module: what a plugin file holds (`Wasm`), what
/// it compiles to ([`Code`]), and what one of its instances is
/// ([`Instance`]). One concept, one name, whatever the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wasm<C = (), M = ()> {
    /// A WebAssembly component, of any world.
    Component(C),
    /// A core wasm module (or WAT), using the core ABI.
    Module(M),
}

/// A plugin compiled and pre-linked with the host's imports.
pub(crate) type Code =
    Wasm<(Component, InstancePre<PluginState>), wasmtime::InstancePre<PluginState>>;

/// A plugin compiled and linked, with the contract version it targets
/// (read once, when it was linked; `None` for a core module or a plain
/// WASI component).
pub(crate) struct Linked {
    pub code: Code,
    pub contract: Option<Contract>,
}

/// A plugin file's bytes as wasm (WAT parsed), and what its header says
/// they are: the one place a file is classified.
pub(crate) struct Classified {
    pub wasm: Vec<u8>,
    pub kind: Wasm,
    pub fingerprint: Option<Fingerprint>,
}

/// Turns what was read into wasm and classifies it by its header.
pub(crate) fn classify(path: &Path, read: Read) -> Result<Classified> {
    let wasm = wasm_bytes(path, read.bytes)?;
    let kind = kind(path, &wasm)?;
    Ok(Classified { wasm, kind, fingerprint: read.fingerprint })
}

/// Compiles a classified file with `runtime`'s engine and links it with
/// its linkers: a component (through `cache` when there is one, refusing
/// what the operator `switched` off), or a core module.
pub(crate) fn build(
    runtime: &Runtime,
    cache: Option<&Cache>,
    switched: &[String],
    path: &Path,
    file: &Classified,
) -> Result<Linked> {
    match file.kind {
        Wasm::Component(()) => {
            let (engine, linker) = (&runtime.engine, &runtime.linker);
            compile(engine, linker, cache, switched, path, &file.wasm, file.fingerprint)
        }
        Wasm::Module(()) => compile_module(&runtime.engine, &runtime.core_linker, path, &file.wasm),
    }
}

/// Compiles a component into `cache` without linking it, for a later load
/// on `engine` (`Host::precompile`).
pub(crate) fn compile_into(cache: &Cache, engine: &Engine, path: &Path, wasm: &[u8]) -> Result<()> {
    let hash = crate::digest::sha256(wasm);
    cache
        .component(engine, wasm, hash)
        .map(drop)
        .map_err(|err| Error::InvalidComponent { path: path.to_owned(), reason: one_line(&err) })
}

/// A running instance of a plugin.
pub(crate) type Instance = Wasm<wasmtime::component::Instance, wasmtime::Instance>;

/// The `*.wasm` and `*.wat` files of `dir`, sorted by name.
pub(crate) fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io { path: dir.to_owned(), source };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|ext| ext == "wasm" || ext == "wat") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The plugin name a file gives: its name without `.wasm`.
///
/// A name reaches logs, events and NATS headers, so one with control or
/// reordering characters, or longer than any real name, is refused.
pub(crate) fn plugin_name(path: &Path) -> Result<String> {
    let invalid = |reason: &str| Error::InvalidComponent {
        path: PathBuf::from(path.to_string_lossy().escape_debug().to_string()),
        reason: reason.to_owned(),
    };
    let name = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or_else(|| invalid("the file name is not valid UTF-8"))?;
    if !crate::text::is_safe(name, crate::text::NAME) {
        return Err(invalid(
            "the file name has control or invisible characters, or is over 256 bytes",
        ));
    }
    Ok(name.to_owned())
}

/// A plugin file's bytes, and its fingerprint when the file did not change
/// while read and its last change is settled (see `fingerprint`).
pub(crate) struct Read {
    pub bytes: Vec<u8>,
    pub fingerprint: Option<Fingerprint>,
}

/// Reads a plugin file of at most `limit` bytes (see `files`), checking it
/// against the hash its manifest names.
pub(crate) fn read(path: &Path, sha256: Option<&str>, limit: u64) -> Result<Read> {
    let read = crate::config::files::read(path, limit)?;
    if let Some(expected) = sha256 {
        let actual = crate::digest::hex_sha256(&read.bytes);
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(Error::HashMismatch {
                path: path.to_owned(),
                expected: expected.to_owned(),
                actual,
            });
        }
    }
    let fingerprint = Fingerprint::settled(&read.before, &read.after);
    Ok(Read { bytes: read.bytes, fingerprint })
}

/// The plugin at `path` from `cache` without reading its file, when the
/// cache has seen the file as it is now (see `cache`); `None` sends the
/// caller to read it. Returns the code and the file's size.
pub(crate) fn known(
    engine: &Engine,
    linker: &Linker<PluginState>,
    cache: &Cache,
    switched: &[String],
    path: &Path,
    sha256: Option<&str>,
    limit: u64,
) -> Option<Result<(Linked, u64)>> {
    if path.extension().is_none_or(|ext| ext != "wasm") {
        return None;
    }
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() || metadata.len() > limit {
        return None;
    }
    let fingerprint = Fingerprint::of(&metadata)?;
    let component = cache.known(engine, &fingerprint, sha256)?;
    Some(link(engine, linker, switched, path, component).map(|code| (code, fingerprint.size())))
}

/// Compiles a component (whose header was classified) and links it
/// against the host's imports. A `fingerprint` of the file the bytes came
/// from lets the cache remember the file, so the next load need not read it.
fn compile(
    engine: &Engine,
    linker: &Linker<PluginState>,
    cache: Option<&Cache>,
    switched: &[String],
    path: &Path,
    bytes: &[u8],
    fingerprint: Option<Fingerprint>,
) -> Result<Linked> {
    let compiled = match cache {
        Some(cache) => {
            let hash = crate::digest::sha256(bytes);
            let compiled = cache.component(engine, bytes, hash);
            if let (Ok(_), Some(fingerprint)) = (&compiled, fingerprint) {
                cache.remember(&fingerprint, &hash);
            }
            compiled
        }
        None => Component::new(engine, bytes),
    };
    let component = compiled
        .map_err(|err| Error::InvalidComponent { path: path.to_owned(), reason: one_line(&err) })?;
    link(engine, linker, switched, path, component)
}

/// Links a compiled component against the host's imports, refusing what the
/// operator switched off and contract versions the host does not speak.
fn link(
    engine: &Engine,
    linker: &Linker<PluginState>,
    switched: &[String],
    path: &Path,
    component: Component,
) -> Result<Linked> {
    for (name, _) in component.component_type().imports(engine) {
        if let Some(reason) = switched_off(switched, name) {
            return Err(Error::MissingImport {
                path: path.to_owned(),
                import: name.to_owned(),
                reason: reason.to_owned(),
            });
        }
    }
    // A contract version the host does not speak is named as such, before
    // the linker reports its first import as missing.
    let contract = crate::compile::version::targeted(engine, &component)
        .map_err(|reason| Error::UnsupportedContract { path: path.to_owned(), reason })?;
    let pre = linker.instantiate_pre(&component).map_err(|err| missing_import(path, &err))?;
    Ok(Linked { code: Wasm::Component((component, pre)), contract })
}

/// Why the host refuses an interface that wasmtime-wasi could provide:
/// its operator switched it off.
pub(crate) fn switched_off(switched: &[String], import: &str) -> Option<&'static str> {
    switched
        .iter()
        .any(|prefix| import.starts_with(prefix.as_str()))
        .then_some("the host operator switched it off")
}

/// Refuses anything but a component, by its header (`inspect`).
pub(crate) fn check_header(path: &Path, bytes: &[u8]) -> Result<()> {
    match kind(path, bytes)? {
        Wasm::Component(()) => Ok(()),
        Wasm::Module(()) => Err(Error::CoreModule { path: path.to_owned() }),
    }
}

/// Tells apart non-wasm files, core modules and components by their header.
pub(crate) fn kind(path: &Path, bytes: &[u8]) -> Result<Wasm> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE: &[u8] = &[1, 0, 0, 0];
    const COMPONENT: &[u8] = &[0x0d, 0, 1, 0];
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(Error::NotWasm { path: path.to_owned() });
    }
    match &bytes[4..8] {
        CORE_MODULE => Ok(Wasm::Module(())),
        COMPONENT => Ok(Wasm::Component(())),
        _ => Err(Error::InvalidComponent {
            path: path.to_owned(),
            reason: format!("unsupported WebAssembly binary version {:02x?}", &bytes[4..8]),
        }),
    }
}

/// The wasm binary of a `.wat` file or string; other bytes as they are.
fn wasm_bytes(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    if path.extension().is_none_or(|ext| ext != "wat") {
        return Ok(bytes);
    }
    wat::parse_bytes(&bytes).map(|wasm| wasm.into_owned()).map_err(|err| Error::InvalidComponent {
        path: path.to_owned(),
        reason: format!("invalid WAT: {}", collapse_whitespace(&err.to_string())),
    })
}

/// Compiles a core module and links it against the core ABI.
fn compile_module(
    engine: &Engine,
    linker: &wasmtime::Linker<PluginState>,
    path: &Path,
    bytes: &[u8],
) -> Result<Linked> {
    let module = wasmtime::Module::new(engine, bytes)
        .map_err(|err| Error::InvalidModule { path: path.to_owned(), reason: one_line(&err) })?;
    let pre = linker.instantiate_pre(&module).map_err(|err| missing_import(path, &err))?;
    Ok(Linked { code: Wasm::Module(pre), contract: None })
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
            import: sanitize(&import, text::NAME),
            reason: sanitize(&err.root_cause().to_string(), text::DESCRIPTION),
        },
        None => Error::InvalidComponent { path: path.to_owned(), reason: one_line(err) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_operator_switched_off_is_refused() {
        let off = ["wasi:sockets".to_owned()];
        assert!(switched_off(&off, "wasi:sockets/tcp@0.2.12").is_some());
        assert!(switched_off(&off, "wasi:filesystem/types@0.2.12").is_none());
        assert!(switched_off(&[], "wasi:sockets/tcp@0.2.12").is_none());
    }

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
