//! Turning a plugin's core module into a validated component, with the
//! WASI preview1 reactor adapter.

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

use crate::{Error, Result};

/// Wraps the core module of plugin `name` into a validated component.
pub(crate) fn encode(name: &str, module: &[u8]) -> Result<Vec<u8>> {
    let failed = |what: &str, err: &dyn std::fmt::Display| Error::Component {
        plugin: name.to_owned(),
        reason: format!("{what}: {}", crate::one_line([err.to_string()])),
    };
    let component = wit_component::ComponentEncoder::default()
        .module(module)
        .map_err(|err| failed("reading the world the SDK embedded", &format!("{err:#}")))?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
        .map_err(|err| failed("loading the WASI preview1 reactor adapter", &format!("{err:#}")))?
        .validate(true)
        .encode()
        .map_err(|err| failed("making a component", &format!("{err:#}")))?;
    validate(name, &component)?;
    Ok(component)
}

/// The custom section that says how a component was built.
const BUILD_SECTION: &str = "witplug-build";

/// Appends to `component` a custom section saying how it was built
/// (`key`: the profile, the compiler, the flags), which [`built_with`]
/// reads back: a component of another profile is never up to date.
pub(crate) fn stamp(component: &mut Vec<u8>, key: &str) {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb128(BUILD_SECTION.len(), &mut body);
    body.extend_from_slice(BUILD_SECTION.as_bytes());
    body.extend_from_slice(key.as_bytes());
    component.push(0);
    leb128(body.len(), component);
    component.extend_from_slice(&body);
}

/// What [`stamp`] wrote into `component`, if anything.
pub(crate) fn built_with(component: &[u8]) -> Option<String> {
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        if let Ok(wasmparser::Payload::CustomSection(section)) = payload
            && section.name() == BUILD_SECTION
        {
            return String::from_utf8(section.data().to_vec()).ok();
        }
    }
    None
}

/// Checks that plugin `name`'s `component` is valid WebAssembly.
pub(crate) fn validate(name: &str, component: &[u8]) -> Result<()> {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(component)
        .map_err(|err| Error::Component {
            plugin: name.to_owned(),
            reason: format!(
                "the component does not validate: {}",
                crate::one_line([err.to_string()])
            ),
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_keeps_the_component_valid_and_reads_back() {
        // The empty component: the preamble alone.
        let mut component = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        assert_eq!(built_with(&component), None);
        let key = "profile=release; rustc 1.95.0; flags=".repeat(10);
        stamp(&mut component, &key);
        validate("empty", &component).unwrap();
        assert_eq!(built_with(&component).as_deref(), Some(key.as_str()));
    }
}
