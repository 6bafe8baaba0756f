//! Describing a component file as WIT, without loading it into a host.

use std::path::Path;

use wit_component::{DecodedWasm, WitPrinter};

use crate::{Error, Result};

/// The imports and exports of the component in `bytes`, as a WIT world.
///
/// # Errors
///
/// [`Error::NotWasm`], [`Error::CoreModule`] or [`Error::InvalidComponent`]
/// naming `path` when `bytes` is not a component.
pub fn component_wit(path: &Path, bytes: &[u8]) -> Result<String> {
    let invalid = |reason: String| Error::InvalidComponent { path: path.to_owned(), reason };
    if !bytes.starts_with(b"\0asm") {
        return Err(Error::NotWasm { path: path.to_owned() });
    }
    if wasmparser_is_core(bytes) {
        return Err(Error::CoreModule { path: path.to_owned() });
    }
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
    Ok(printer.output.to_string())
}

fn wasmparser_is_core(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(&[1, 0, 0, 0])
}
