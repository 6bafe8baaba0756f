//! Write [witplug] plugins in Rust: implement a trait, call one macro.
//!
//! A plugin is a `cdylib` crate that depends on `witplug-sdk` alone.
//! `cargo xtask build-plugins` compiles it for `wasm32-wasip1` and turns it
//! into a WebAssembly component that any witplug host can load.
//!
//! # A complete plugin
//!
//! The default world, `plugin`, exports `init`, `handle`, `on-message` and
//! `shutdown`. The SDK keeps one value of your type per instance, so state
//! lives in `&mut self`:
//!
//! ```
//! use witplug_sdk::{Plugin, Result, ResultExt, log};
//!
//! #[derive(Default)]
//! struct Counter {
//!     calls: u64,
//! }
//!
//! impl Plugin for Counter {
//!     fn init(&mut self) -> Result<()> {
//!         if let Some(start) = witplug_sdk::config("start") {
//!             self.calls = start.parse().invalid_input()?;
//!         }
//!         log::info!("counter starts at {}", self.calls);
//!         Ok(())
//!     }
//!
//!     fn handle(&mut self, _input: &str) -> Result<String> {
//!         self.calls += 1;
//!         Ok(self.calls.to_string())
//!     }
//! }
//!
//! witplug_sdk::export_plugin!(Counter);
//! ```
//!
//! The plugin's name, version and description (its `info` export) come from
//! its `Cargo.toml`.
//!
//! # Host-defined worlds
//!
//! A host may define its own world on top of the framework's imports, as
//! the i18n example does with `greeter` (`host/examples/i18n/wit`).
//! [`world!`] generates its bindings in the plugin crate, reusing this
//! SDK's `host` and `types`, so nothing of the contract is copied:
//!
//! ```ignore
//! witplug_sdk::world!({ path: "wit", world: "witplug:i18n/greeter" });
//!
//! struct French;
//!
//! impl Guest for French {
//!     fn language() -> String {
//!         "French".into()
//!     }
//!
//!     fn greet(name: String) -> String {
//!         format!("Bonjour, {name}!")
//!     }
//! }
//!
//! export!(French);
//! ```
//!
//! The export macros embed their world in the module, so building needs no
//! configuration to know which world a plugin targets.
//!
//! # Talking to the host
//!
//! - `log::info!` and the other `log` macros reach the host's `log` import,
//!   tagged with the plugin's name. A panic's message is logged too.
//! - [`config`] reads the plugin's configuration.
//! - [`send_message`] publishes on the host's message bus.
//! - [`call_tool`] calls a tool the host registered.
//!
//! Failures the host reports come back as [`Error`] values for the plugin to
//! handle; nothing here traps. [`ResultExt`] turns any other error into one,
//! so `?` works on a parse or an I/O error: `input.parse().invalid_input()?`.
//!
//! [witplug]: https://example.invalid/witplug

#![deny(missing_docs)]

extern crate self as witplug_sdk;

mod bindings;
mod error;
mod host;
mod instance;
pub mod kv;
mod logger;
pub mod mcp;
mod tools;

pub use bindings::plugin::witplug::plugin::types::{
    Error, Level, PluginInfo, ToolDescription, ToolHints,
};
pub use error::{Result, ResultExt};
pub use host::{call_tool, config, log as host_log, send_message};
pub use log;
pub use tools::Tools;

/// A plugin of the default `plugin` world.
///
/// The SDK creates the value with [`Default`] when the host calls `init` (or
/// at the first call, if the host calls nothing first) and keeps it until
/// `shutdown`. Export it with [`export_plugin!`].
pub trait Plugin: Default + 'static {
    /// Prepares the plugin; configuration is readable with [`config`].
    ///
    /// # Errors
    ///
    /// An error marks the plugin as failed in the host, and the call that
    /// needed this instance fails with it.
    fn init(&mut self) -> Result<()> {
        Ok(())
    }

    /// Handles one request and returns the answer.
    ///
    /// # Errors
    ///
    /// Whatever the plugin decides its callers should see.
    fn handle(&mut self, input: &str) -> Result<String>;

    /// Receives a message published on a topic the plugin subscribed to.
    ///
    /// # Errors
    ///
    /// An error is reported to the host; the plugin keeps running.
    fn on_message(&mut self, topic: &str, payload: &[u8]) -> Result<()> {
        let _ = (topic, payload);
        Ok(())
    }

    /// The tools this plugin provides, described and with typed handlers
    /// (see [`Tools`]); the host calls it once per instance. None by
    /// default.
    fn tools() -> Tools<Self> {
        Tools::new()
    }

    /// Runs a tool that [`Plugin::tools`] does not describe, taking and
    /// returning raw text: the host routes other plugins' `call_tool(name,
    /// ..)` here when the manifest provides `name`. (A 0.2 host refuses to
    /// load a plugin that provides a tool it does not describe, so this
    /// serves hosts that do not check, and tools added at run time.)
    ///
    /// # Errors
    ///
    /// By default every tool is [`Error::NotFound`].
    fn run_tool(&mut self, name: &str, input: &str) -> Result<String> {
        let _ = input;
        Err(Error::NotFound(name.to_owned()))
    }

    /// Releases what the plugin holds; the value is dropped afterwards.
    fn shutdown(&mut self) {}
}

/// Exports a [`Plugin`] type as the component's `guest` interface.
///
/// Use it once per plugin crate, at the top level.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        // The plugin's value and its tools, one per instance; named, so
        // that `export_mcp!` reaches the same ones.
        ::std::thread_local! {
            #[doc(hidden)]
            static __WITPLUG_INSTANCE: $crate::__private::Cell<$plugin> =
                const { $crate::__private::Cell::new(::core::option::Option::None) };
            #[doc(hidden)]
            static __WITPLUG_TOOLS: $crate::__private::OnceCell<$crate::Tools<$plugin>> =
                const { $crate::__private::OnceCell::new() };
        }

        const _: () = {
            use __WITPLUG_INSTANCE as WITPLUG_INSTANCE;
            use __WITPLUG_TOOLS as WITPLUG_TOOLS;
            struct WitplugExport;

            impl $crate::__private::GuestExport for WitplugExport {
                fn info() -> $crate::PluginInfo {
                    $crate::PluginInfo {
                        name: ::core::env!("CARGO_PKG_NAME").into(),
                        version: ::core::env!("CARGO_PKG_VERSION").into(),
                        description: ::core::env!("CARGO_PKG_DESCRIPTION").into(),
                    }
                }
                fn init() -> ::core::result::Result<(), $crate::Error> {
                    $crate::__private::init(&WITPLUG_INSTANCE)
                }
                fn handle(
                    input: $crate::__private::String,
                ) -> ::core::result::Result<$crate::__private::String, $crate::Error> {
                    $crate::__private::with(&WITPLUG_INSTANCE, |p: &mut $plugin| {
                        $crate::Plugin::handle(p, &input)
                    })
                }
                fn on_message(
                    topic: $crate::__private::String,
                    payload: $crate::__private::Vec<u8>,
                ) -> ::core::result::Result<(), $crate::Error> {
                    $crate::__private::with(&WITPLUG_INSTANCE, |p: &mut $plugin| {
                        $crate::Plugin::on_message(p, &topic, &payload)
                    })
                }
                fn run_tool(
                    name: $crate::__private::String,
                    input: $crate::__private::String,
                ) -> ::core::result::Result<$crate::__private::String, $crate::Error> {
                    $crate::__private::with(&WITPLUG_INSTANCE, |p: &mut $plugin| {
                        $crate::__private::run_tool(&WITPLUG_TOOLS, p, &name, &input)
                    })
                }
                fn describe_tools() -> $crate::__private::Vec<$crate::ToolDescription> {
                    $crate::__private::describe_tools(&WITPLUG_TOOLS)
                }
                fn shutdown() {
                    $crate::__private::shutdown(&WITPLUG_INSTANCE)
                }
            }

            $crate::__private::plugin::__export_plugin_world!(WitplugExport with_types_in $crate::__private::plugin);
        };
    };
}

/// Exports a type that is both a [`Plugin`] and an [`mcp::Server`]: the
/// `guest` interface as [`export_plugin!`] does, and contract 0.3's
/// `server` interface beside it (rich tool results, resources, prompts,
/// completion). Use it instead of `export_plugin!`, once per crate.
#[macro_export]
macro_rules! export_mcp {
    ($plugin:ty) => {
        $crate::export_plugin!($plugin);

        const _: () = {
            struct WitplugServe;

            ::std::thread_local! {
                static WITPLUG_SERVED: ::core::cell::OnceCell<(
                    $crate::mcp::Resources<$plugin>,
                    $crate::mcp::Prompts<$plugin>,
                )> = const { ::core::cell::OnceCell::new() };
            }

            impl $crate::mcp::__private::ServerExport for WitplugServe {
                fn run_tool(
                    name: $crate::__private::String,
                    input: $crate::__private::String,
                ) -> ::core::result::Result<$crate::mcp::ToolResult, $crate::Error> {
                    $crate::__private::with(&__WITPLUG_INSTANCE, |p: &mut $plugin| {
                        $crate::mcp::__private::run_tool(&__WITPLUG_TOOLS, p, &name, &input)
                    })
                }
                fn list_resources() -> $crate::__private::Vec<$crate::mcp::ResourceInfo> {
                    $crate::mcp::__private::list_resources(&WITPLUG_SERVED)
                }
                fn list_resource_templates() -> $crate::__private::Vec<$crate::mcp::ResourceTemplate> {
                    $crate::mcp::__private::list_templates(&WITPLUG_SERVED)
                }
                fn read_resource(
                    uri: $crate::__private::String,
                ) -> ::core::result::Result<$crate::__private::Vec<$crate::mcp::ResourceContents>, $crate::Error> {
                    $crate::__private::with(&__WITPLUG_INSTANCE, |p: &mut $plugin| {
                        $crate::mcp::__private::read(&WITPLUG_SERVED, p, &uri)
                    })
                }
                fn list_prompts() -> $crate::__private::Vec<$crate::mcp::Prompt> {
                    $crate::mcp::__private::list_prompts(&WITPLUG_SERVED)
                }
                fn get_prompt(
                    name: $crate::__private::String,
                    arguments: $crate::__private::Vec<($crate::__private::String, $crate::__private::String)>,
                ) -> ::core::result::Result<$crate::mcp::PromptResult, $crate::Error> {
                    $crate::__private::with(&__WITPLUG_INSTANCE, |p: &mut $plugin| {
                        $crate::mcp::__private::get_prompt(&WITPLUG_SERVED, p, &name, arguments)
                    })
                }
                fn complete(
                    reference: $crate::mcp::CompletionRef,
                    argument: $crate::__private::String,
                    value: $crate::__private::String,
                ) -> ::core::result::Result<$crate::mcp::Completion, $crate::Error> {
                    $crate::__private::with(&__WITPLUG_INSTANCE, |p: &mut $plugin| {
                        $crate::mcp::Server::complete(p, &reference, &argument, &value)
                    })
                }
            }

            $crate::mcp::__private::__export_mcp_world!(WitplugServe with_types_in $crate::__private::mcp);
        };
    };
}

include!(concat!(env!("OUT_DIR"), "/world.rs"));

/// Routes `log` macros and panic messages to the host, for a plugin of a
/// host-defined world (see [`world!`]): call it at the start of each export.
/// Plugins of the `plugin` world never need it. Cheap after the first call.
pub fn install_logger() {
    logger::install();
}

/// What the export macros expand to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::plugin::exports::witplug::plugin::guest::Guest as GuestExport;
    pub use crate::bindings::{mcp, plugin};
    pub use core::cell::OnceCell;
    pub use std::string::String;
    pub use std::vec::Vec;
    pub use wit_bindgen;

    use crate::{Plugin, Result, instance};

    pub use instance::{Slot, with};

    /// The cell an export macro's thread-local holds its plugin value in.
    pub type Cell<T> = core::cell::RefCell<Option<T>>;

    /// Starts a fresh plugin value and runs its `init`.
    pub fn init<T: Plugin>(slot: &'static Slot<T>) -> Result<()> {
        instance::reset(slot);
        instance::with(slot, T::init)
    }

    /// The descriptions of the plugin's tools.
    pub fn describe_tools<T: Plugin>(
        tools: &'static crate::tools::ToolsSlot<T>,
    ) -> Vec<crate::ToolDescription> {
        crate::tools::describe(tools)
    }

    /// Runs the plugin's tool `name`.
    pub fn run_tool<T: Plugin>(
        tools: &'static crate::tools::ToolsSlot<T>,
        plugin: &mut T,
        name: &str,
        input: &str,
    ) -> Result<String> {
        crate::tools::run(tools, plugin, name, input)
    }

    /// Runs the plugin's `shutdown` and drops the value.
    pub fn shutdown<T: Plugin>(slot: &'static Slot<T>) {
        instance::with(slot, T::shutdown);
        instance::clear(slot);
    }
}
