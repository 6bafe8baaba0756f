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
    /// The names of its imports, e.g. `witplug:plugin/host@0.1.0`.
    pub imports: Vec<String>,
}

/// Decodes the component in `bytes` into its WIT world.
///
/// # Errors
///
/// [`Error::NotWasm`], [`Error::CoreModule`] or [`Error::InvalidComponent`]
/// naming `path` when `bytes` is not a component.
pub fn inspect(path: &Path, bytes: &[u8]) -> Result<Inspection> {
    let invalid = |reason: String| Error::InvalidComponent { path: path.to_owned(), reason };
    crate::load::check_header(path, bytes)?;
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
    let imports =
        resolve.worlds[world].imports.keys().map(|key| resolve.name_world_key(key)).collect();
    Ok(Inspection { wit: printer.output.to_string(), imports })
}
