//! The versions of the witplug contract this host speaks, one module of
//! bindings each (`v0_1`, `v0_2`, as `wit/v0.1.0` and `wit/v0.2.0`), and
//! the one place that tells them apart.
//!
//! The version a component imports selects its bindings. Each host import
//! is implemented once, for the newest version (`imports.rs`); an older
//! version's imports delegate to it, and its types are the newest's, so
//! grants, limits, events and metrics cannot differ between versions.

use std::fmt;

use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Engine, Store};

use crate::store::PluginState;

pub mod v0_1;
pub mod v0_2;

use v0_2::witplug::plugin::types::{Error as WitError, PluginInfo, ToolDescription};

/// A version of the witplug contract (`witplug:plugin@VERSION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[non_exhaustive]
pub enum Contract {
    /// `witplug:plugin@0.1.0`: log, get-config, send-message, call-tool;
    /// tools are a name and a string.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `witplug:plugin@0.2.0`: 0.1, and tools that describe themselves.
    #[serde(rename = "0.2.0")]
    V0_2,
}

/// Every contract version this host speaks, oldest first.
pub const CONTRACTS: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

impl Contract {
    /// The newest version: the one the SDK and `witplug new` target.
    pub const NEWEST: Contract = Contract::V0_2;

    /// Its semver version, e.g. `0.2.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }

    /// The version an import or export `witplug:plugin/NAME@VERSION` of a
    /// component selects: the one whose semver it is compatible with, as
    /// wasmtime matches imports (0.2.x with 0.2.0; no pre-release).
    fn matching(version: &str) -> Option<Contract> {
        let (core, pre) = version.split_once('-').map_or((version, None), |(c, p)| (c, Some(p)));
        let core = core.split_once('+').map_or(core, |(core, _build)| core);
        let mut parts = core.split('.').map(str::parse::<u64>);
        let (Some(Ok(major)), Some(Ok(minor)), Some(Ok(_patch)), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if pre.is_some() {
            return None;
        }
        CONTRACTS.into_iter().find(|contract| {
            let mut spoken = contract.version().split('.').map(|n| n.parse::<u64>().unwrap_or(0));
            (spoken.next(), spoken.next()) == (Some(major), Some(minor))
        })
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.version())
    }
}

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
    let mut found: Option<Contract> = None;
    for name in imports.chain(exports) {
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
        match found {
            Some(other) if other != contract => {
                return Err(format!(
                    "mixes witplug:plugin@{other} and @{contract}; a plugin targets one version"
                ));
            }
            _ => found = Some(contract),
        }
    }
    Ok(found)
}

/// Links the host imports of every contract version into `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    v0_2::Plugin::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    v0_1::witplug::plugin::host::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    // 0.1's `types` holds types only; its instance must still exist.
    linker.instance("witplug:plugin/types@0.1.0")?;
    Ok(())
}

/// Where the exports of the default `plugin` world are, in a component of
/// either version: found once per plugin.
pub(crate) enum GuestIndices {
    V0_1(v0_1::PluginIndices),
    V0_2(v0_2::PluginIndices),
}

/// The `plugin` world's exports in one instance.
pub(crate) enum Guest {
    V0_1(v0_1::Plugin),
    V0_2(v0_2::Plugin),
}

impl GuestIndices {
    /// The indices of the default world's exports, when the component of
    /// contract `contract` exports them.
    pub fn new(contract: Option<Contract>, pre: &InstancePre<PluginState>) -> Option<Self> {
        match contract? {
            Contract::V0_1 => v0_1::PluginIndices::new(pre).ok().map(GuestIndices::V0_1),
            Contract::V0_2 => v0_2::PluginIndices::new(pre).ok().map(GuestIndices::V0_2),
        }
    }

    /// The exports of `instance`.
    pub fn load(
        &self,
        store: &mut Store<PluginState>,
        instance: &wasmtime::component::Instance,
    ) -> wasmtime::Result<Guest> {
        Ok(match self {
            GuestIndices::V0_1(indices) => Guest::V0_1(indices.load(store, instance)?),
            GuestIndices::V0_2(indices) => Guest::V0_2(indices.load(store, instance)?),
        })
    }
}

/// Each call of the `guest` interface, whatever the version: one match,
/// then the version's own typed call.
impl Guest {
    pub async fn info(&self, store: &mut Store<PluginState>) -> wasmtime::Result<PluginInfo> {
        match self {
            Guest::V0_1(guest) => guest.witplug_plugin_guest().call_info(store).await,
            Guest::V0_2(guest) => guest.witplug_plugin_guest().call_info(store).await,
        }
    }

    /// The tools the plugin describes; none before 0.2.
    pub async fn describe_tools(
        &self,
        store: &mut Store<PluginState>,
    ) -> wasmtime::Result<Vec<ToolDescription>> {
        match self {
            Guest::V0_1(_) => Ok(Vec::new()),
            Guest::V0_2(guest) => guest.witplug_plugin_guest().call_describe_tools(store).await,
        }
    }

    pub async fn init(
        &self,
        store: &mut Store<PluginState>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        match self {
            Guest::V0_1(guest) => guest.witplug_plugin_guest().call_init(store).await,
            Guest::V0_2(guest) => guest.witplug_plugin_guest().call_init(store).await,
        }
    }

    pub async fn handle(
        &self,
        store: &mut Store<PluginState>,
        input: &str,
    ) -> wasmtime::Result<Result<String, WitError>> {
        match self {
            Guest::V0_1(guest) => guest.witplug_plugin_guest().call_handle(store, input).await,
            Guest::V0_2(guest) => guest.witplug_plugin_guest().call_handle(store, input).await,
        }
    }

    pub async fn on_message(
        &self,
        store: &mut Store<PluginState>,
        topic: &str,
        payload: &[u8],
    ) -> wasmtime::Result<Result<(), WitError>> {
        match self {
            Guest::V0_1(guest) => {
                guest.witplug_plugin_guest().call_on_message(store, topic, payload).await
            }
            Guest::V0_2(guest) => {
                guest.witplug_plugin_guest().call_on_message(store, topic, payload).await
            }
        }
    }

    pub async fn run_tool(
        &self,
        store: &mut Store<PluginState>,
        name: &str,
        input: &str,
    ) -> wasmtime::Result<Result<String, WitError>> {
        match self {
            Guest::V0_1(guest) => {
                guest.witplug_plugin_guest().call_run_tool(store, name, input).await
            }
            Guest::V0_2(guest) => {
                guest.witplug_plugin_guest().call_run_tool(store, name, input).await
            }
        }
    }

    pub async fn shutdown(&self, store: &mut Store<PluginState>) -> wasmtime::Result<()> {
        match self {
            Guest::V0_1(guest) => guest.witplug_plugin_guest().call_shutdown(store).await,
            Guest::V0_2(guest) => guest.witplug_plugin_guest().call_shutdown(store).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Contract;

    #[test]
    fn a_version_selects_the_contract_semver_compatible_with_it() {
        assert_eq!(Contract::matching("0.1.0"), Some(Contract::V0_1));
        assert_eq!(Contract::matching("0.2.0"), Some(Contract::V0_2));
        assert_eq!(Contract::matching("0.2.7"), Some(Contract::V0_2));
        assert_eq!(Contract::matching("0.3.0"), None);
        assert_eq!(Contract::matching("0.1.5-draft"), None);
        assert_eq!(Contract::matching("1.0.0"), None);
        assert_eq!(Contract::matching("0.2"), None);
    }
}
