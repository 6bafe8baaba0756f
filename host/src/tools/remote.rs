//! Tools across hosts: what a [`MessageBus`](crate::bus::MessageBus) that reaches
//! other hosts offers, so that a plugin's `call-tool` reaches a tool a
//! plugin provides on another host, and the tools this host's plugins
//! provide are offered to the others.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::PluginError;

/// One call of a tool that may run on another host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRequest {
    /// The tool's name.
    pub name: String,
    /// Its input.
    pub input: String,
    /// The plugins waiting on this call through `call-tool`, first caller
    /// first, across every host they run on: a provider already in the
    /// chain would wait for itself, so it refuses the call.
    pub chain: Vec<String>,
    /// How many plugins passed on the message whose handling made the call.
    pub hops: u32,
    /// How long the caller still waits for the answer; the provider stops
    /// working on it after that too.
    pub timeout: Duration,
}

/// What a tool call answers: its output, or the error the calling plugin
/// receives (`not-found` when nobody provides the tool).
pub type ToolReply = Result<String, PluginError>;

/// The future of a remote tool call.
pub type ReplyFuture<'a> = Pin<Box<dyn Future<Output = ToolReply> + Send + 'a>>;

/// What runs a tool for callers on other hosts: given to
/// [`RemoteTools::serve`].
pub type ToolHandler = Arc<dyn Fn(ToolRequest) -> ReplyFuture<'static> + Send + Sync>;

/// The future of [`RemoteTools::serve`].
pub type ServeFuture<'a> = Pin<Box<dyn Future<Output = Result<ToolService, String>> + Send + 'a>>;

/// Tools provided on other hosts, reached through a bus.
pub trait RemoteTools: Send + Sync {
    /// Calls the tool `request.name` wherever a host provides it, within
    /// `request.timeout`. A tool nobody provides is
    /// [`PluginError::NotFound`] at once; no answer in time, or no
    /// connection, is [`PluginError::Failed`] saying so.
    fn call(&self, request: ToolRequest) -> ReplyFuture<'_>;

    /// Offers the tool `name` to other hosts, answered by `handler`, until
    /// the returned [`ToolService`] is dropped. Several hosts may offer the
    /// same tool; each call reaches one of them. The future resolves once
    /// other hosts can reach the tool.
    fn serve(&self, name: &str, handler: ToolHandler) -> ServeFuture<'_>;

    /// [`RemoteTools::serve`], and `description` (the tool's [`ToolSpec`](crate::tools::ToolSpec)
    /// as JSON) to every host that lists the tools on offer. By default the
    /// description is not passed on.
    fn serve_described(
        &self,
        name: &str,
        description: String,
        handler: ToolHandler,
    ) -> ServeFuture<'_> {
        let _ = description;
        self.serve(name, handler)
    }

    /// The tools other hosts offer, each with its description as
    /// [`RemoteTools::serve_described`] passed it on. By default none.
    fn list(&self) -> ListFuture<'_> {
        Box::pin(std::future::ready(Vec::new()))
    }
}

/// What [`RemoteTools::list`] finds: each tool's name and its described
/// [`ToolSpec`](crate::tools::ToolSpec) as JSON.
pub type ListFuture<'a> = Pin<Box<dyn Future<Output = Vec<(String, String)>> + Send + 'a>>;

/// A tool offered to other hosts; dropping it withdraws the offer.
pub struct ToolService {
    name: String,
    task: tokio::task::AbortHandle,
}

impl ToolService {
    /// The offer of tool `name`, answered by `task`, which is stopped when
    /// the offer is dropped.
    pub fn new(name: impl Into<String>, task: tokio::task::AbortHandle) -> Self {
        Self { name: name.into(), task }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ToolService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for ToolService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolService").field("name", &self.name).finish_non_exhaustive()
    }
}
