//! Serve agents as a Model Context Protocol server does (contract 0.3):
//! tools whose results are images, audio, resources or several items;
//! progress; asking the agent's model (sampling) or its user
//! (elicitation); resources and prompts; argument completion.
//!
//! Implement [`Server`] beside [`Plugin`](crate::Plugin) and export both
//! with [`export_mcp!`](crate::export_mcp) instead of `export_plugin!`:
//!
//! ```
//! use serde::Deserialize;
//! use schemars::JsonSchema;
//! use witplug_sdk::mcp::{self, Content, Prompt, PromptResult, Prompts, Resources, ResourceInfo, ResourceContents, Server, ToolResult, Message};
//! use witplug_sdk::{Plugin, Result, Tools};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Topic {
//!     /// What to write about.
//!     topic: String,
//! }
//!
//! #[derive(Default)]
//! struct Writer;
//!
//! impl Plugin for Writer {
//!     fn tools() -> Tools<Self> {
//!         Tools::new().rich_tool("write", "Writes a haiku with the agent's model", |_: &mut Self, input: Topic| {
//!             mcp::progress(0.0, Some(1.0), Some("asking the model"));
//!             let reply = mcp::Sample::new()
//!                 .user(format!("A haiku about {}", input.topic))
//!                 .max_tokens(100)
//!                 .send()?;
//!             mcp::progress(1.0, Some(1.0), None);
//!             Ok(ToolResult::new(vec![reply.content]))
//!         })
//!     }
//!
//!     fn handle(&mut self, _input: &str) -> Result<String> {
//!         Ok("call my tool".into())
//!     }
//! }
//!
//! impl Server for Writer {
//!     fn resources() -> Resources<Self> {
//!         Resources::new().resource(
//!             ResourceInfo::new("notes://style", "style").mime_type("text/plain"),
//!             |_: &mut Self, uri| Ok(vec![ResourceContents::text(uri, "text/plain", "5-7-5")]),
//!         )
//!     }
//!
//!     fn prompts() -> Prompts<Self> {
//!         Prompts::new().prompt(Prompt::new("haiku", "Asks for a haiku").argument("topic", "Its topic", true), |_: &mut Self, args| {
//!             let topic = args.get("topic").unwrap_or("the sea");
//!             Ok(PromptResult::new(vec![Message::user(Content::text(format!("A haiku about {topic}")))]))
//!         })
//!     }
//! }
//!
//! witplug_sdk::export_mcp!(Writer);
//! # fn main() {}
//! ```
//!
//! The host grants sampling and elicitation per plugin (`[grants] sampling
//! = true`, `elicitation = true`) and bounds them per call (the
//! `client-requests`, `sample-tokens` and `progress-reports` limits).

use std::cell::OnceCell;
use std::thread::LocalKey;

use crate::bindings::mcp::witplug::plugin::client;
pub use crate::bindings::mcp::witplug::plugin::mcp_types::{
    Blob, Completion, CompletionRef, Content, ElicitAction, ElicitReply, Message, Prompt,
    PromptArgument, PromptResult, ResourceBody, ResourceContents, ResourceInfo, ResourceTemplate,
    Role, SampleReply, SampleRequest, ToolResult,
};
use crate::{Error, Plugin, Result};

impl Content {
    /// Text.
    pub fn text(text: impl Into<String>) -> Self {
        Content::Text(text.into())
    }

    /// An image: its bytes and MIME type (`image/png`).
    pub fn image(data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        Content::Image(Blob { data: data.into(), mime_type: mime_type.into() })
    }

    /// Audio: its bytes and MIME type (`audio/wav`).
    pub fn audio(data: impl Into<Vec<u8>>, mime_type: impl Into<String>) -> Self {
        Content::Audio(Blob { data: data.into(), mime_type: mime_type.into() })
    }

    /// A link to a resource the agent may read.
    pub fn link(resource: ResourceInfo) -> Self {
        Content::ResourceLink(resource)
    }

    /// A resource's contents, inline.
    pub fn embedded(contents: ResourceContents) -> Self {
        Content::Embedded(contents)
    }
}

impl ToolResult {
    /// A result of these items.
    pub fn new(content: Vec<Content>) -> Self {
        Self { content, structured: None }
    }

    /// A result of one text item.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(vec![Content::text(text)])
    }

    /// With structured content: a JSON object matching the tool's output
    /// schema.
    pub fn structured(mut self, value: &serde_json::Value) -> Self {
        self.structured = Some(value.to_string());
        self
    }
}

impl ResourceInfo {
    /// The resource at `uri`, called `name`.
    pub fn new(uri: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            name: name.into(),
            title: None,
            description: None,
            mime_type: None,
            size: None,
        }
    }

    /// With a description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// With a MIME type.
    pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }
}

impl ResourceTemplate {
    /// The resources named by `uri_template` (`notes://{day}`), called
    /// `name`.
    pub fn new(uri_template: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            uri_template: uri_template.into(),
            name: name.into(),
            title: None,
            description: None,
            mime_type: None,
        }
    }

    /// With a description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// With a MIME type.
    pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }
}

impl ResourceContents {
    /// Text contents of the resource at `uri`.
    pub fn text(uri: &str, mime_type: &str, text: impl Into<String>) -> Self {
        Self {
            uri: uri.to_owned(),
            mime_type: Some(mime_type.to_owned()),
            body: ResourceBody::Text(text.into()),
        }
    }

    /// Byte contents of the resource at `uri`.
    pub fn bytes(uri: &str, mime_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            uri: uri.to_owned(),
            mime_type: Some(mime_type.to_owned()),
            body: ResourceBody::Bytes(bytes.into()),
        }
    }
}

impl Prompt {
    /// The prompt `name`, saying what it is for.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: Some(description.into()),
            arguments: Vec::new(),
        }
    }

    /// With an argument.
    pub fn argument(mut self, name: &str, description: &str, required: bool) -> Self {
        self.arguments.push(PromptArgument {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            required,
        });
        self
    }
}

impl Message {
    /// A message from the user.
    pub fn user(content: Content) -> Self {
        Self { role: Role::User, content }
    }

    /// A message from the assistant.
    pub fn assistant(content: Content) -> Self {
        Self { role: Role::Assistant, content }
    }
}

impl PromptResult {
    /// A prompt of these messages.
    pub fn new(messages: Vec<Message>) -> Self {
        Self { description: None, messages }
    }
}

impl Completion {
    /// These values, all there are.
    pub fn values(values: Vec<String>) -> Self {
        Self { total: u32::try_from(values.len()).ok(), values, has_more: false }
    }
}

/// Reports how far the current tool call has come: `progress` (each
/// report greater than the last) of `total`. Dropped when the agent did
/// not ask for progress, and past the host's `progress-reports` limit.
pub fn progress(progress: f64, total: Option<f64>, message: Option<&str>) {
    client::report_progress(progress, total, message);
}

/// Tells agents subscribed to the resource at `uri` that it changed.
///
/// # Errors
///
/// [`Error::InvalidInput`] for a URI the host refuses.
pub fn resource_updated(uri: &str) -> Result<()> {
    client::resource_updated(uri)
}

/// Asks the agent's user for input matching `schema`: a JSON Schema object
/// of flat properties (strings, numbers, booleans, enums), as MCP allows.
///
/// # Errors
///
/// [`Error::Denied`] without the `elicitation` grant,
/// [`Error::LimitExceeded`] past `client-requests`, [`Error::NotFound`]
/// when the client cannot ask, [`Error::InvalidInput`] for a schema MCP
/// does not allow, [`Error::Failed`] when it fails or does not answer.
pub fn elicit(message: &str, schema: &serde_json::Value) -> Result<ElicitReply> {
    client::elicit(message, &schema.to_string())
}

/// A request to the agent's model, built up then [`sent`](Sample::send).
#[derive(Debug, Clone)]
pub struct Sample(SampleRequest);

impl Default for Sample {
    fn default() -> Self {
        Self::new()
    }
}

impl Sample {
    /// An empty conversation, answered in at most 256 tokens.
    pub fn new() -> Self {
        Self(SampleRequest {
            messages: Vec::new(),
            system_prompt: None,
            max_tokens: 256,
            temperature: None,
            stop_sequences: Vec::new(),
            model_hints: Vec::new(),
        })
    }

    /// Adds a user message of text.
    pub fn user(mut self, text: impl Into<String>) -> Self {
        self.0.messages.push(Message::user(Content::text(text)));
        self
    }

    /// Adds a message.
    pub fn message(mut self, message: Message) -> Self {
        self.0.messages.push(message);
        self
    }

    /// Sets the system prompt.
    pub fn system(mut self, prompt: impl Into<String>) -> Self {
        self.0.system_prompt = Some(prompt.into());
        self
    }

    /// Sets the most tokens the answer may take.
    pub fn max_tokens(mut self, tokens: u32) -> Self {
        self.0.max_tokens = tokens;
        self
    }

    /// Sets the temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.0.temperature = Some(temperature);
        self
    }

    /// Names a model the plugin would prefer.
    pub fn model_hint(mut self, model: impl Into<String>) -> Self {
        self.0.model_hints.push(model.into());
        self
    }

    /// Sends the request and waits for the model's message.
    ///
    /// # Errors
    ///
    /// As [`elicit`], with the `sampling` grant and the `sample-tokens`
    /// limit.
    pub fn send(self) -> Result<SampleReply> {
        client::sample(&self.0)
    }
}

type ReadFn<P> = Box<dyn Fn(&mut P, &str) -> Result<Vec<ResourceContents>>>;
type TemplateFn<P> = Box<dyn Fn(&mut P, &str, &Args) -> Result<Vec<ResourceContents>>>;
type PromptFn<P> = Box<dyn Fn(&mut P, &Args) -> Result<PromptResult>>;

/// Named values: a template's variables, a prompt's arguments.
#[derive(Debug, Clone, Default)]
pub struct Args(Vec<(String, String)>);

impl Args {
    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// The resources a plugin of type `P` serves: fixed ones by URI, and
/// families by URI template (`notes://{day}`: each `{name}` matches one
/// or more characters other than `/`).
pub struct Resources<P> {
    fixed: Vec<(ResourceInfo, ReadFn<P>)>,
    templates: Vec<(ResourceTemplate, TemplateFn<P>)>,
}

impl<P: 'static> Default for Resources<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: 'static> Resources<P> {
    /// No resources.
    pub fn new() -> Self {
        Self { fixed: Vec::new(), templates: Vec::new() }
    }

    /// Serves `resource`, read by `read` (given the URI).
    pub fn resource(
        mut self,
        resource: ResourceInfo,
        read: impl Fn(&mut P, &str) -> Result<Vec<ResourceContents>> + 'static,
    ) -> Self {
        self.fixed.push((resource, Box::new(read)));
        self
    }

    /// Serves the family `template`, read by `read` (given the URI and the
    /// template's variables).
    pub fn template(
        mut self,
        template: ResourceTemplate,
        read: impl Fn(&mut P, &str, &Args) -> Result<Vec<ResourceContents>> + 'static,
    ) -> Self {
        self.templates.push((template, Box::new(read)));
        self
    }

    fn read(&self, plugin: &mut P, uri: &str) -> Result<Vec<ResourceContents>> {
        if let Some((_, read)) = self.fixed.iter().find(|(resource, _)| resource.uri == uri) {
            return read(plugin, uri);
        }
        for (template, read) in &self.templates {
            if let Some(args) = matches(&template.uri_template, uri) {
                return read(plugin, uri, &args);
            }
        }
        Err(Error::NotFound(uri.to_owned()))
    }
}

impl<P> std::fmt::Debug for Resources<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let uris: Vec<&str> = self.fixed.iter().map(|(r, _)| r.uri.as_str()).collect();
        let templates: Vec<&str> =
            self.templates.iter().map(|(t, _)| t.uri_template.as_str()).collect();
        f.debug_struct("Resources").field("uris", &uris).field("templates", &templates).finish()
    }
}

/// The variables of `uri` when it matches `template`.
fn matches(template: &str, uri: &str) -> Option<Args> {
    let mut args = Vec::new();
    let mut rest = uri;
    let mut parts = template.split('{');
    let first = parts.next()?;
    rest = rest.strip_prefix(first)?;
    for part in parts {
        let (name, literal) = part.split_once('}')?;
        let end = if literal.is_empty() {
            rest.find('/').unwrap_or(rest.len())
        } else {
            rest.find(literal)?
        };
        let value = &rest[..end];
        if value.is_empty() || value.contains('/') {
            return None;
        }
        args.push((name.to_owned(), value.to_owned()));
        rest = rest[end..].strip_prefix(literal)?;
    }
    rest.is_empty().then_some(Args(args))
}

/// The prompts a plugin of type `P` serves.
pub struct Prompts<P> {
    prompts: Vec<(Prompt, PromptFn<P>)>,
}

impl<P: 'static> Default for Prompts<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: 'static> Prompts<P> {
    /// No prompts.
    pub fn new() -> Self {
        Self { prompts: Vec::new() }
    }

    /// Serves `prompt`, filled in by `get` (given its arguments; a
    /// required one missing is refused before).
    pub fn prompt(
        mut self,
        prompt: Prompt,
        get: impl Fn(&mut P, &Args) -> Result<PromptResult> + 'static,
    ) -> Self {
        self.prompts.push((prompt, Box::new(get)));
        self
    }

    fn get(&self, plugin: &mut P, name: &str, args: Vec<(String, String)>) -> Result<PromptResult> {
        let Some((prompt, get)) = self.prompts.iter().find(|(prompt, _)| prompt.name == name)
        else {
            return Err(Error::NotFound(name.to_owned()));
        };
        let args = Args(args);
        if let Some(missing) =
            prompt.arguments.iter().find(|a| a.required && args.get(&a.name).is_none())
        {
            return Err(Error::InvalidInput(format!(
                "the prompt `{name}` needs the argument `{}`",
                missing.name
            )));
        }
        get(plugin, &args)
    }
}

impl<P> std::fmt::Debug for Prompts<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.prompts.iter().map(|(p, _)| p.name.as_str()).collect();
        f.debug_struct("Prompts").field("names", &names).finish()
    }
}

/// What a plugin serves agents beyond its tools: resources, prompts and
/// argument completion. Export it with [`export_mcp!`](crate::export_mcp).
pub trait Server: Plugin {
    /// The resources it serves (none by default).
    fn resources() -> Resources<Self> {
        Resources::new()
    }

    /// The prompts it serves (none by default).
    fn prompts() -> Prompts<Self> {
        Prompts::new()
    }

    /// Values for the argument `argument` of `reference` beginning with
    /// `value` (none by default).
    ///
    /// # Errors
    ///
    /// Whatever the plugin decides the agent should see.
    fn complete(
        &mut self,
        reference: &CompletionRef,
        argument: &str,
        value: &str,
    ) -> Result<Completion> {
        let _ = (reference, argument, value);
        Ok(Completion::values(Vec::new()))
    }
}

/// Where an export macro keeps its plugin type's resources and prompts.
#[doc(hidden)]
pub type ServedSlot<P> = LocalKey<OnceCell<(Resources<P>, Prompts<P>)>>;

/// What `export_mcp!` expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    use super::*;
    pub use crate::bindings::mcp::__export_mcp_world;
    pub use crate::bindings::mcp::exports::witplug::plugin::server::Guest as ServerExport;

    fn served<P: Server, T>(
        slot: &'static ServedSlot<P>,
        f: impl FnOnce(&(Resources<P>, Prompts<P>)) -> T,
    ) -> T {
        slot.with(|cell| f(cell.get_or_init(|| (P::resources(), P::prompts()))))
    }

    pub fn list_resources<P: Server>(slot: &'static ServedSlot<P>) -> Vec<ResourceInfo> {
        served(slot, |(resources, _)| resources.fixed.iter().map(|(r, _)| r.clone()).collect())
    }

    pub fn list_templates<P: Server>(slot: &'static ServedSlot<P>) -> Vec<ResourceTemplate> {
        served(slot, |(resources, _)| resources.templates.iter().map(|(t, _)| t.clone()).collect())
    }

    pub fn read<P: Server>(
        slot: &'static ServedSlot<P>,
        plugin: &mut P,
        uri: &str,
    ) -> Result<Vec<ResourceContents>> {
        served(slot, |(resources, _)| resources.read(plugin, uri))
    }

    pub fn list_prompts<P: Server>(slot: &'static ServedSlot<P>) -> Vec<Prompt> {
        served(slot, |(_, prompts)| prompts.prompts.iter().map(|(p, _)| p.clone()).collect())
    }

    pub fn get_prompt<P: Server>(
        slot: &'static ServedSlot<P>,
        plugin: &mut P,
        name: &str,
        args: Vec<(String, String)>,
    ) -> Result<PromptResult> {
        served(slot, |(_, prompts)| prompts.get(plugin, name, args))
    }

    pub fn run_tool<P: Plugin>(
        tools: &'static crate::tools::ToolsSlot<P>,
        plugin: &mut P,
        name: &str,
        input: &str,
    ) -> Result<ToolResult> {
        crate::tools::run_rich(tools, plugin, name, input)
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn templates_match_one_segment_per_variable() {
        let args = matches("test://template/{id}/data", "test://template/123/data").unwrap();
        assert_eq!(args.get("id"), Some("123"));
        assert!(matches("test://template/{id}/data", "test://template//data").is_none());
        assert!(matches("test://template/{id}/data", "test://template/1/2/data").is_none());
        assert!(matches("notes://{day}", "notes://monday").is_some());
        assert!(matches("notes://{day}", "notes://a/b").is_none());
    }
}
