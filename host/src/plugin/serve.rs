//! The calls of contract 0.3's `server` exports: a tool's rich result,
//! resources, prompts and completion. Each runs as any call does
//! ([`Plugin::run`]: a slot, the call's limits, its record), and every
//! value the plugin returns is checked ([`crate::mcp`]) and counted against
//! `max-output` before anyone sees it.

use super::Plugin;
use super::checkout::Source;
use super::pool::Live;
use crate::contract::v0_3::exports::witplug::plugin::server::Guest as Server;
use crate::instance_state::PluginState;
use crate::mcp::{
    Checked, Completion, CompletionRef, Content, Prompt, PromptResult, ResourceContents,
    ResourceInfo, ResourceTemplate, ToolCall, ToolResult,
};
use crate::name::Name;
use crate::tools::call_chain::{CallContext, Direct, Origin};
use crate::{Error, PluginError, Result};

/// The `server` exports of a `plugin`-world instance that has them, and
/// its store; an error (the plugin was checked before) when it has not.
fn server(live: &mut Live) -> wasmtime::Result<(&Server, &mut wasmtime::Store<PluginState>)> {
    let guest = live.guest.as_ref().expect("plugin-world instances have guest bindings");
    let server = guest
        .server()
        .ok_or_else(|| wasmtime::format_err!("the plugin does not export `server`"))?;
    Ok((server, &mut live.store))
}

impl Plugin {
    /// Whether the plugin exports contract 0.3's `server` interface: rich
    /// tool results, resources, prompts and completion.
    pub fn serves(&self) -> bool {
        self.guest.as_ref().is_some_and(crate::contract::GuestIndices::serves)
    }

    /// Refuses what a plugin returned, naming what and why.
    fn refused(&self, what: &str, reason: String) -> Error {
        Error::InvalidResult { plugin: self.name().to_owned(), what: what.to_owned(), reason }
    }

    /// Checks a value the plugin returned with `check`, and its size
    /// against `max-output`.
    fn checked<T>(
        &self,
        what: &str,
        value: T,
        check: impl FnOnce(&mut Checked, &T) -> std::result::Result<(), String>,
    ) -> Result<T> {
        let mut checked = Checked::default();
        check(&mut checked, &value).map_err(|reason| self.refused(what, reason))?;
        self.check_output(checked.bytes)?;
        Ok(value)
    }

    /// The error of a `server` call on a plugin that does not export it.
    fn not_serving(&self, export: &str) -> Error {
        Error::NoSuchExport {
            plugin: self.name().to_owned(),
            export: format!("server#{export}"),
            available: self.exports().iter().map(|export| export.name.clone()).collect(),
        }
    }

    /// Runs one `server` export.
    async fn serve<T, U>(
        &self,
        label: &Name,
        origin: impl Origin,
        body: impl AsyncFnOnce(&Server, &mut wasmtime::Store<PluginState>) -> wasmtime::Result<T>,
        then: impl FnOnce(T) -> Result<U>,
    ) -> Result<U> {
        if !self.serves() {
            return Err(self.not_serving(label.as_str()));
        }
        self.run(
            Source::POOL,
            label,
            true,
            origin,
            async |live| {
                let (server, store) = server(live)?;
                body(server, store).await
            },
            then,
        )
        .await
    }

    /// Runs the tool `name` for an agent, with a rich result: the plugin's
    /// `server.run-tool` when it exports it, else its text from
    /// `guest.run-tool` as one text item. `call` carries the agent's client
    /// for the plugin's progress, sampling and elicitation.
    ///
    /// # Errors
    ///
    /// As [`Host::call_tool`](crate::Host::call_tool), and
    /// [`Error::InvalidResult`] for a result the host refuses to pass on.
    pub async fn run_tool_with(
        &self,
        call: ToolCall,
        name: &str,
        input: &str,
    ) -> Result<ToolResult> {
        self.serve_tool_with(call.into(), name, input).await
    }

    /// [`Plugin::run_tool_with`] for a call coming from `call`.
    pub(crate) async fn serve_tool_with(
        &self,
        call: CallContext,
        name: &str,
        input: &str,
    ) -> Result<ToolResult> {
        self.check_tool_input(name, input).await?;
        if !self.serves() {
            let output = self.run_tool_in(Source::POOL, call, name, input).await?;
            return Ok(ToolResult { content: vec![Content::Text(output)], structured: None });
        }
        self.serve(
            &self.labels.run_tool,
            call,
            async |server, store| server.call_run_tool(store, name, input).await,
            |result| {
                let result = self.returned(result)?;
                self.checked("a tool result", result, Checked::tool_result)
            },
        )
        .await
    }

    /// The resources the plugin offers; none when it does not serve.
    ///
    /// # Errors
    ///
    /// The trap or limit the call hit, or [`Error::InvalidResult`].
    pub async fn list_resources(&self) -> Result<Vec<ResourceInfo>> {
        if !self.serves() {
            return Ok(Vec::new());
        }
        self.serve(
            &self.labels.list_resources,
            Direct,
            async |server, store| server.call_list_resources(store).await,
            |list| self.checked("a resource list", list, |c, l| c.resources(l)),
        )
        .await
    }

    /// The resource templates the plugin offers; none when it does not
    /// serve.
    ///
    /// # Errors
    ///
    /// As [`Plugin::list_resources`].
    pub async fn list_resource_templates(&self) -> Result<Vec<ResourceTemplate>> {
        if !self.serves() {
            return Ok(Vec::new());
        }
        self.serve(
            &self.labels.list_resource_templates,
            Direct,
            async |server, store| server.call_list_resource_templates(store).await,
            |list| self.checked("a resource template list", list, |c, l| c.templates(l)),
        )
        .await
    }

    /// Reads the resource at `uri`.
    ///
    /// # Errors
    ///
    /// [`Error::Plugin`] with `not-found` when the plugin has none there,
    /// [`Error::NoSuchExport`] when it does not serve, as
    /// [`Plugin::list_resources`] otherwise.
    pub async fn read_resource(&self, uri: &str) -> Result<Vec<ResourceContents>> {
        self.check_request("resource URI", uri.len())?;
        self.serve(
            &self.labels.read_resource,
            Direct,
            async |server, store| server.call_read_resource(store, uri).await,
            |result| {
                let contents = self.returned(result)?;
                self.checked("resource contents", contents, |c, l| c.read(l))
            },
        )
        .await
    }

    /// The prompts the plugin offers; none when it does not serve.
    ///
    /// # Errors
    ///
    /// As [`Plugin::list_resources`].
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        if !self.serves() {
            return Ok(Vec::new());
        }
        self.serve(
            &self.labels.list_prompts,
            Direct,
            async |server, store| server.call_list_prompts(store).await,
            |list| self.checked("a prompt list", list, |c, l| c.prompts(l)),
        )
        .await
    }

    /// The prompt `name` filled in with `arguments`.
    ///
    /// # Errors
    ///
    /// As [`Plugin::read_resource`].
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: &[(String, String)],
    ) -> Result<PromptResult> {
        let size = name.len() + arguments.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        self.check_request("prompt request", size)?;
        self.serve(
            &self.labels.get_prompt,
            Direct,
            async |server, store| server.call_get_prompt(store, name, arguments).await,
            |result| {
                let prompt = self.returned(result)?;
                self.checked("a prompt", prompt, |c, p| c.prompt(p))
            },
        )
        .await
    }

    /// Values completing `argument` of `reference`, from `value`.
    ///
    /// # Errors
    ///
    /// As [`Plugin::read_resource`].
    pub async fn complete(
        &self,
        reference: &CompletionRef,
        argument: &str,
        value: &str,
    ) -> Result<Completion> {
        let named = match reference {
            CompletionRef::Prompt(name) | CompletionRef::ResourceTemplate(name) => name.len(),
        };
        self.check_request("completion request", named + argument.len() + value.len())?;
        self.serve(
            &self.labels.complete,
            Direct,
            async |server, store| server.call_complete(store, reference, argument, value).await,
            |result| {
                let completion = self.returned(result)?;
                self.checked("a completion", completion, |c, v| c.completion(v))
            },
        )
        .await
    }

    /// Refuses a request to the plugin over its `max-input`, before it runs.
    fn check_request(&self, what: &str, size: usize) -> Result<()> {
        let limit = self.context.limits.max_input;
        if size as u64 > limit {
            return Err(Error::Plugin {
                plugin: self.name().to_owned(),
                error: PluginError::LimitExceeded(format!(
                    "the {what} of {size} bytes is over the plugin's max-input of {limit}"
                )),
            });
        }
        Ok(())
    }
}
