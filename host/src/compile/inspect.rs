//! Describing a component file as WIT, without loading it into a host.

use std::path::Path;

use wit_component::{DecodedWasm, WitPrinter};

use crate::{Error, Result};

/// What [`inspect`] finds in a component.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The component's world as WIT: every import and export.
    pub wit: String,
    /// The names of its imports, e.g. `witplug:plugin/host@0.2.0`.
    pub imports: Vec<String>,
    /// The names of its exports, e.g. `witplug:plugin/guest@0.2.0`.
    pub exports: Vec<String>,
    /// The witplug contract version it targets: `Ok(None)` for a component
    /// that speaks only WASI, `Err` with the reason the host would refuse
    /// it (a version it does not speak, or several).
    pub contract: std::result::Result<Option<crate::contract::Contract>, String>,
}

/// In JSON: `{"wit": "...", "imports": [...], "exports": [...], "contract": "0.2.0" | null,
/// "refused": null | "the reason"}`.
impl serde::Serialize for Inspection {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Shown<'a> {
            wit: &'a str,
            imports: &'a [String],
            exports: &'a [String],
            contract: Option<crate::contract::Contract>,
            refused: Option<&'a str>,
        }
        let (contract, refused) = match &self.contract {
            Ok(contract) => (*contract, None),
            Err(reason) => (None, Some(reason.as_str())),
        };
        Shown { wit: &self.wit, imports: &self.imports, exports: &self.exports, contract, refused }
            .serialize(serializer)
    }
}

/// Decodes the component in `bytes` into its WIT world.
///
/// # Errors
///
/// [`Error::NotWasm`], [`Error::CoreModule`] or [`Error::InvalidComponent`]
/// naming `path` when `bytes` is not a component.
pub fn inspect(path: &Path, bytes: &[u8]) -> Result<Inspection> {
    inspect_bytes(path, bytes)
}

/// [`inspect`] of the file at `path`, read as plugins are: only a regular
/// file of at most [`DEFAULT_MAX_FILE_SIZE`](crate::config::files::DEFAULT_MAX_FILE_SIZE)
/// bytes is read, so a FIFO or a device neither hangs nor swamps it.
///
/// # Errors
///
/// As for [`inspect`], and [`Error::NotAFile`], [`Error::TooLarge`] or
/// [`Error::Io`] for a file that cannot be read so.
pub fn inspect_file(path: &Path) -> Result<Inspection> {
    let bytes = crate::config::files::read(path, crate::config::files::DEFAULT_MAX_FILE_SIZE)?;
    inspect_bytes(path, &bytes.bytes)
}

fn inspect_bytes(path: &Path, bytes: &[u8]) -> Result<Inspection> {
    let invalid = |reason: String| Error::InvalidComponent { path: path.to_owned(), reason };
    crate::compile::code::check_header(path, bytes)?;
    let decoded = wit_component::decode(bytes).map_err(|err| invalid(format!("{err:#}")))?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        return Err(invalid("the file holds WIT definitions, not a component".to_owned()));
    };
    let package = resolve.worlds[world]
        .package
        .ok_or_else(|| invalid("the decoded world has no package".to_owned()))?;
    let mut printer = WitPrinter::default();
    printer.emit_docs(false);
    printer.print(&resolve, package, &[]).map_err(|err| invalid(format!("{err:#}")))?;
    let imports: Vec<String> =
        resolve.worlds[world].imports.keys().map(|key| resolve.name_world_key(key)).collect();
    let exports: Vec<String> =
        resolve.worlds[world].exports.keys().map(|key| resolve.name_world_key(key)).collect();
    let contract =
        crate::compile::version::from_names(imports.iter().chain(&exports).map(String::as_str));
    Ok(Inspection { wit: printer.output.to_string(), imports, exports, contract })
}
