//! Serve the tools of witplug plugins to AI agents over the [Model Context
//! Protocol](https://modelcontextprotocol.io), on the official Rust SDK
//! (`rmcp`): what `witplug mcp` runs.
//!
//! An [`McpServer`] lists the tools a [`Host`](witplug_host::Host) serves
//! (`tools/list`), with the descriptions, JSON Schemas and hints plugins of
//! contract 0.2 give them, and calls them (`tools/call`) inside the
//! sandbox: under each plugin's grants and limits, the input checked
//! against its schema first. A plugin's error, a trap or a limit is a tool
//! result with `isError` and a one-line reason naming its kind, never a
//! crash of the server; a client's cancellation stops the call.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use witplug_host::Host;
//! use witplug_mcp::{McpOptions, McpServer};
//!
//! let host = Arc::new(Host::builder().build()?);
//! host.load_dir("plugins").await?;
//! let server = McpServer::new(host, McpOptions::default());
//! server.serve_stdio().await?; // until the client closes stdin
//! # Ok(()) }
//! ```
//!
//! [`serve_http`] serves the same over streamable HTTP, with a bearer
//! token and the `Origin` checks the MCP specification asks for; a tracing
//! [`PluginLogs`] layer forwards plugin log lines to clients as log
//! notifications; [`McpServer::tools_changed`] tells every client to list
//! the tools again (after a reload).
//!
//! How plugin tools appear to an agent (`docs/mcp.md`): MCP wants an
//! object as a tool's input and structured output, so a tool whose schema
//! is not an object takes `{"input": ...}` and answers `{"result": ...}`;
//! a contract 0.1 tool takes `{"input": string}`.

#![deny(missing_docs)]

mod agent;
mod catalog;
mod content;
mod error;
mod http;
mod logs;
mod served;
mod server;
mod stdio;

pub use content::result_json;
pub use error::{Error, Result};
pub use http::{HttpOptions, serve_http};
pub use logs::{LogReceiver, PluginLogs, plugin_logs};
pub use server::{McpOptions, McpServer, failure_text};
pub use stdio::DEFAULT_MAX_MESSAGE;
