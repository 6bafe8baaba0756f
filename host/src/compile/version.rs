//! The contract version a component targets, read from the interfaces of
//! `witplug:plugin` it imports and exports.

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::contract::{CONTRACTS, Contract};

/// The package every contract version's interfaces belong to.
const PACKAGE: &str = "witplug:plugin/";

/// The contract version `component` targets, from the interfaces of
/// `witplug:plugin` it imports and exports: `Ok(None)` for a component
/// that uses none (a plain WASI component), `Err` with the reason for one
/// that targets a version this host does not speak, or several.
pub(crate) fn targeted(engine: &Engine, component: &Component) -> Result<Option<Contract>, String> {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(name, _)| name);
    let exports = ty.exports(engine).map(|(name, _)| name);
    from_names(imports.chain(exports))
}

/// The contract version named by a component's import and export `names`,
/// as [`targeted`] says.
pub(crate) fn from_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Contract>, String> {
    let mut found: Option<Contract> = None;
    // The version of the interfaces that go with any (`types`, and 0.3's
    // MCP ones), for a component that uses only those.
    let mut extension: Option<Contract> = None;
    // The versions of `types` named: the plugin's, or 0.3's beside 0.3's
    // interfaces.
    let mut types: Vec<Contract> = Vec::new();
    for name in names {
        let Some(rest) = name.strip_prefix(PACKAGE) else { continue };
        let spoken = || CONTRACTS.iter().map(|c| c.version()).collect::<Vec<_>>().join(", ");
        let Some((_, version)) = rest.split_once('@') else {
            return Err(format!(
                "uses `{}` without a version; this host speaks witplug:plugin {}",
                crate::text::sanitize(name, crate::text::NAME),
                spoken()
            ));
        };
        let Some(contract) = Contract::matching(version) else {
            return Err(format!(
                "targets witplug:plugin@{}, which this host does not speak (it speaks {})",
                crate::text::sanitize(version, crate::text::NAME),
                spoken()
            ));
        };
        // The interfaces that serve agents are new in 0.3: a plugin may
        // pair them (and 0.3's `types`, which they use) with 0.2's `host`
        // and `guest`, as the Rust SDK does. The version is `host`'s and
        // `guest`'s (checked below, once all are seen).
        let interface = rest.split_once('@').map_or(rest, |(interface, _)| interface);
        if matches!(interface, "client" | "server" | "mcp-types") && contract < Contract::V0_3 {
            return Err(format!(
                "uses `{}`, which witplug:plugin has only since 0.3.0",
                crate::text::sanitize(name, crate::text::NAME)
            ));
        }
        if matches!(interface, "client" | "server" | "mcp-types") {
            extension.get_or_insert(contract);
            continue;
        }
        if interface == "types" {
            types.push(contract);
            continue;
        }
        match found {
            Some(other) if other != contract => {
                return Err(format!(
                    "mixes witplug:plugin@{other} and @{contract}; a plugin targets one version"
                ));
            }
            _ => found = Some(contract),
        }
    }
    let version = found.or(extension).or(types.first().copied());
    if let (Some(version), Some(_)) = (found, extension)
        && version < Contract::V0_2
    {
        return Err(format!(
            "pairs witplug:plugin@{version} with 0.3's interfaces, which go with 0.2 or later"
        ));
    }
    for named in types {
        let with_extension = extension.is_some() && named == Contract::V0_3;
        if Some(named) != version && !with_extension {
            let version = version.map_or_else(String::new, |v| v.to_string());
            return Err(format!(
                "mixes witplug:plugin@{version} and @{named}; a plugin targets one version"
            ));
        }
    }
    Ok(version)
}
