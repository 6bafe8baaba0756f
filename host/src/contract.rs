//! The versions of the witplug contract this host speaks, one module of
//! bindings each (`v0_1`, `v0_2`, as `wit/v0.1.0` and `wit/v0.2.0`: one
//! `bindgen!` call site per version), and the one place that tells their
//! exports apart (`Guest`).
//!
//! The version a component imports selects its bindings. An older
//! version's types are the newest's (`with`), and its host imports
//! delegate to the newest's (`imports/`), so grants, limits, events and
//! metrics cannot differ between versions.
//!
//! The bottom layer: the contract's types are the vocabulary every other
//! layer speaks, and it uses none of them.

use std::fmt;

use wasmtime::Store;
use wasmtime::component::InstancePre;

pub(crate) mod keyvalue;
pub(crate) mod logging;
pub mod v0_1;
pub mod v0_2;
pub mod v0_3;

use v0_2::witplug::plugin::types::{Error as WitError, PluginInfo, ToolDescription};
use v0_3::exports::witplug::plugin::{guest as guest_0_3, server};

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
    /// `witplug:plugin@0.3.0`: 0.2, and the `mcp-server` world (rich tool
    /// results, progress, sampling, elicitation, resources, prompts).
    #[serde(rename = "0.3.0")]
    V0_3,
}

/// Every contract version this host speaks, oldest first.
pub const CONTRACTS: [Contract; 3] = [Contract::V0_1, Contract::V0_2, Contract::V0_3];

impl Contract {
    /// The newest version: the one the SDK and `witplug new` target.
    pub const NEWEST: Contract = Contract::V0_2;

    /// Its semver version, e.g. `0.2.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
            Contract::V0_3 => "0.3.0",
        }
    }

    /// The version an import or export `witplug:plugin/NAME@VERSION` of a
    /// component selects: the one whose semver it is compatible with, as
    /// wasmtime matches imports (0.2.x with 0.2.0; no pre-release).
    pub(crate) fn matching(version: &str) -> Option<Contract> {
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

/// Where the exports of the default `plugin` world are, in a component of
/// any version, and those of 0.3's `server` interface when it exports it:
/// found once per plugin.
pub(crate) struct GuestIndices {
    guest: VersionIndices,
    server: Option<server::GuestIndices>,
}

enum VersionIndices {
    V0_1(v0_1::PluginIndices),
    V0_2(v0_2::PluginIndices),
    V0_3(guest_0_3::GuestIndices),
}

/// The `plugin` world's exports in one instance, and its `server` exports
/// when it has them.
pub(crate) struct Guest {
    guest: Versioned,
    server: Option<server::Guest>,
}

enum Versioned {
    V0_1(v0_1::Plugin),
    V0_2(v0_2::Plugin),
    V0_3(guest_0_3::Guest),
}

impl GuestIndices {
    /// The indices of the default world's exports, when the component of
    /// contract `contract` exports them.
    pub fn new<T: Send + 'static>(
        contract: Option<Contract>,
        pre: &InstancePre<T>,
    ) -> Option<Self> {
        let guest = match contract? {
            Contract::V0_1 => VersionIndices::V0_1(v0_1::PluginIndices::new(pre).ok()?),
            Contract::V0_2 => VersionIndices::V0_2(v0_2::PluginIndices::new(pre).ok()?),
            Contract::V0_3 => VersionIndices::V0_3(guest_0_3::GuestIndices::new(pre).ok()?),
        };
        Some(Self { guest, server: server::GuestIndices::new(pre).ok() })
    }

    /// Whether the plugin exports 0.3's `server` interface.
    pub fn serves(&self) -> bool {
        self.server.is_some()
    }

    /// The exports of `instance`.
    pub fn load<T: Send + 'static>(
        &self,
        store: &mut Store<T>,
        instance: &wasmtime::component::Instance,
    ) -> wasmtime::Result<Guest> {
        let guest = match &self.guest {
            VersionIndices::V0_1(indices) => Versioned::V0_1(indices.load(&mut *store, instance)?),
            VersionIndices::V0_2(indices) => Versioned::V0_2(indices.load(&mut *store, instance)?),
            VersionIndices::V0_3(indices) => Versioned::V0_3(indices.load(&mut *store, instance)?),
        };
        let server = match &self.server {
            Some(indices) => Some(indices.load(store, instance)?),
            None => None,
        };
        Ok(Guest { guest, server })
    }
}

/// Each call of the `guest` interface, whatever the version: one match,
/// then the version's own typed call.
impl Guest {
    pub async fn info<T: Send>(&self, store: &mut Store<T>) -> wasmtime::Result<PluginInfo> {
        match &self.guest {
            Versioned::V0_1(guest) => guest.witplug_plugin_guest().call_info(store).await,
            Versioned::V0_2(guest) => guest.witplug_plugin_guest().call_info(store).await,
            Versioned::V0_3(guest) => guest.call_info(store).await,
        }
    }

    /// The tools the plugin describes; none before 0.2.
    pub async fn describe_tools<T: Send>(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<Vec<ToolDescription>> {
        match &self.guest {
            Versioned::V0_1(_) => Ok(Vec::new()),
            Versioned::V0_2(guest) => guest.witplug_plugin_guest().call_describe_tools(store).await,
            Versioned::V0_3(guest) => guest.call_describe_tools(store).await,
        }
    }

    pub async fn init<T: Send>(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<Result<(), WitError>> {
        match &self.guest {
            Versioned::V0_1(guest) => guest.witplug_plugin_guest().call_init(store).await,
            Versioned::V0_2(guest) => guest.witplug_plugin_guest().call_init(store).await,
            Versioned::V0_3(guest) => guest.call_init(store).await,
        }
    }

    pub async fn handle<T: Send>(
        &self,
        store: &mut Store<T>,
        input: &str,
    ) -> wasmtime::Result<Result<String, WitError>> {
        match &self.guest {
            Versioned::V0_1(guest) => guest.witplug_plugin_guest().call_handle(store, input).await,
            Versioned::V0_2(guest) => guest.witplug_plugin_guest().call_handle(store, input).await,
            Versioned::V0_3(guest) => guest.call_handle(store, input).await,
        }
    }

    pub async fn on_message<T: Send>(
        &self,
        store: &mut Store<T>,
        topic: &str,
        payload: &[u8],
    ) -> wasmtime::Result<Result<(), WitError>> {
        match &self.guest {
            Versioned::V0_1(guest) => {
                guest.witplug_plugin_guest().call_on_message(store, topic, payload).await
            }
            Versioned::V0_2(guest) => {
                guest.witplug_plugin_guest().call_on_message(store, topic, payload).await
            }
            Versioned::V0_3(guest) => guest.call_on_message(store, topic, payload).await,
        }
    }

    pub async fn run_tool<T: Send>(
        &self,
        store: &mut Store<T>,
        name: &str,
        input: &str,
    ) -> wasmtime::Result<Result<String, WitError>> {
        match &self.guest {
            Versioned::V0_1(guest) => {
                guest.witplug_plugin_guest().call_run_tool(store, name, input).await
            }
            Versioned::V0_2(guest) => {
                guest.witplug_plugin_guest().call_run_tool(store, name, input).await
            }
            Versioned::V0_3(guest) => guest.call_run_tool(store, name, input).await,
        }
    }

    pub async fn shutdown<T: Send>(&self, store: &mut Store<T>) -> wasmtime::Result<()> {
        match &self.guest {
            Versioned::V0_1(guest) => guest.witplug_plugin_guest().call_shutdown(store).await,
            Versioned::V0_2(guest) => guest.witplug_plugin_guest().call_shutdown(store).await,
            Versioned::V0_3(guest) => guest.call_shutdown(store).await,
        }
    }
}

/// 0.3's `server` exports: one typed call each, on the instance's store.
impl Guest {
    /// The `server` interface, when the plugin exports it.
    pub fn server(&self) -> Option<&server::Guest> {
        self.server.as_ref()
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
        assert_eq!(Contract::matching("0.3.0"), Some(Contract::V0_3));
        assert_eq!(Contract::matching("0.4.0"), None);
        assert_eq!(Contract::matching("0.1.5-draft"), None);
        assert_eq!(Contract::matching("1.0.0"), None);
        assert_eq!(Contract::matching("0.2"), None);
    }
}
