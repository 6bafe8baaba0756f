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
        reason: format!("{what}: {}", one_line(&err.to_string())),
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

/// Checks that plugin `name`'s `component` is valid WebAssembly.
pub(crate) fn validate(name: &str, component: &[u8]) -> Result<()> {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(component)
        .map_err(|err| Error::Component {
            plugin: name.to_owned(),
            reason: format!("the component does not validate: {}", one_line(&err.to_string())),
        })?;
    Ok(())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
