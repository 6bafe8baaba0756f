//! Tools: named functions the host registers for plugins to call.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a tool call returns: its output, or a message saying why it failed.
pub type ToolResult = Result<String, String>;

/// The future an async tool returns.
pub type ToolFuture = Pin<Box<dyn Future<Output = ToolResult> + Send>>;

type ToolFn = Arc<dyn Fn(String) -> ToolFuture + Send + Sync>;

/// The tools a host offers, by name.
///
/// A plugin calls one with `call-tool(name, input)`. An unknown name is an
/// `error::not-found` the plugin sees; a tool's `Err(message)` reaches the
/// plugin as `error::failed(message)`.
#[derive(Clone, Default)]
pub struct Tools {
    tools: HashMap<String, ToolFn>,
}

impl Tools {
    /// Registers a synchronous tool, replacing any tool of the same name.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        tool: impl Fn(&str) -> ToolResult + Send + Sync + 'static,
    ) {
        let tool = Arc::new(tool);
        self.tools.insert(
            name.into(),
            Arc::new(move |input: String| {
                let output = tool(&input);
                Box::pin(async move { output }) as ToolFuture
            }),
        );
    }

    /// Registers an async tool, which may await I/O without blocking plugins.
    pub fn insert_async<F, Fut>(&mut self, name: impl Into<String>, tool: F)
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + Send + 'static,
    {
        self.tools.insert(name.into(), Arc::new(move |input| Box::pin(tool(input)) as ToolFuture));
    }

    /// Calls the tool `name`; `None` when there is no such tool.
    pub fn call(&self, name: &str, input: String) -> Option<ToolFuture> {
        self.tools.get(name).map(|tool| tool(input))
    }

    /// The names of the registered tools, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tools.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl fmt::Debug for Tools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tools").field("names", &self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_sync_and_async_tools_by_name() {
        let mut tools = Tools::default();
        tools.insert("upper", |input| Ok(input.to_uppercase()));
        tools.insert_async("len", |input: String| async move { Ok(input.len().to_string()) });
        assert_eq!(tools.call("upper", "abc".into()).unwrap().await.unwrap(), "ABC");
        assert_eq!(tools.call("len", "abcd".into()).unwrap().await.unwrap(), "4");
        assert!(tools.call("missing", String::new()).is_none());
        assert_eq!(tools.names(), ["len", "upper"]);
    }
}
