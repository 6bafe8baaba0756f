//! What a plugin does as a Model Context Protocol server (contract 0.3's
//! `mcp-server` world): the typed values of its results, resources and
//! prompts (the contract's own records), the [`Client`] a call reaches
//! the agent through, and the checks every value a plugin returns passes
//! before any front end shows it.
//!
//! A front end (the `witplug-mcp` crate, or an embedder's own) passes a
//! [`Client`] with each call through [`Host::call_tool_with`]; the plugin's
//! `client` imports (`report-progress`, `sample`, `elicit`) reach it, each
//! behind the plugin's grants and within its limits.
//!
//! ```no_run
//! # async fn demo(host: &witplug_host::Host) -> witplug_host::Result<()> {
//! use witplug_host::mcp::{Content, ToolCall};
//!
//! let result = host.call_tool_with("test_image_content", "{}", ToolCall::default()).await?;
//! for item in &result.content {
//!     if let Content::Image(image) = item {
//!         println!("an image of {} bytes, {}", image.data.len(), image.mime_type);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`Host::call_tool_with`]: crate::Host::call_tool_with

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use crate::contract::v0_3::witplug::plugin::mcp_types::{
    Blob, Completion, CompletionRef, Content, ElicitAction, ElicitReply, Message, Prompt,
    PromptArgument, PromptResult, ResourceBody, ResourceContents, ResourceInfo, ResourceTemplate,
    Role, SampleReply, SampleRequest, ToolResult,
};

/// The most resource updates one call may announce; more are refused.
pub const MAX_UPDATES: u64 = 16;

/// The longest URI a plugin may return or name, in bytes.
pub const MAX_URI: usize = 2048;
/// The longest MIME type, in bytes (RFC 6838: 127 for each half).
pub const MAX_MIME_TYPE: usize = 255;
/// The most items one list a plugin returns may hold (content items,
/// resources, prompts, messages, completion values).
pub const MAX_ITEMS: usize = 1024;

/// The agent's side of one call: where the plugin's progress goes, and who
/// answers its sampling and elicitation requests. `witplug mcp` passes one
/// per `tools/call`, bound to the client session that made it.
///
/// The host has checked grants and limits before it calls any of these;
/// each request future is bounded by what is left of the call's deadline
/// (dropping it must abandon the request).
pub trait Client: Send + Sync + 'static {
    /// Reports progress: `progress` of `total`, with a message. Never
    /// waits: a report that cannot be sent at once may be dropped.
    fn progress(&self, progress: f64, total: Option<f64>, message: Option<String>);

    /// Asks the client's model for a message (MCP `sampling/createMessage`).
    fn sample(&self, request: SampleRequest) -> ClientFuture<SampleReply>;

    /// Asks the user for input matching `schema` (MCP `elicitation/create`).
    fn elicit(&self, message: String, schema: serde_json::Value) -> ClientFuture<ElicitReply>;
}

/// The future of a request to a [`Client`].
pub type ClientFuture<T> = Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send>>;

/// Why a [`Client`] did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The client cannot do it (it did not declare the capability); the
    /// plugin sees `not-found`.
    Unsupported(String),
    /// The request is not one the protocol allows (an elicitation schema
    /// MCP does not accept); the plugin sees `invalid-input`.
    Invalid(String),
    /// The client refused, failed or went away; the plugin sees `failed`.
    Failed(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Unsupported(why) => write!(f, "the client cannot: {why}"),
            ClientError::Invalid(why) => write!(f, "not a request the protocol allows: {why}"),
            ClientError::Failed(why) => write!(f, "the client failed: {why}"),
        }
    }
}

/// How a tool is called for an agent: the client it reaches, if any.
#[derive(Clone, Default)]
pub struct ToolCall {
    pub(crate) client: Option<Arc<dyn Client>>,
}

impl ToolCall {
    /// A call whose plugin reaches `client` for progress, sampling and
    /// elicitation.
    pub fn with_client(client: Arc<dyn Client>) -> Self {
        Self { client: Some(client) }
    }
}

impl fmt::Debug for ToolCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolCall").field("client", &self.client.is_some()).finish()
    }
}

/// The client a call reaches, carried in the call's context.
#[derive(Clone)]
pub(crate) struct ClientLink(pub Arc<dyn Client>);

impl fmt::Debug for ClientLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientLink(..)")
    }
}

/// A resource changed: a plugin said so (`client.resource-updated`).
/// Subscribe with [`Host::resource_updates`](crate::Host::resource_updates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceUpdate {
    /// The plugin that said so.
    pub plugin: String,
    /// The resource's URI, as checked by [`check_uri`].
    pub uri: String,
}

/// Where [`ResourceUpdate`]s go: every subscriber gets each (one that lags
/// more than 256 behind loses the oldest).
#[derive(Debug)]
pub(crate) struct ResourceUpdates(tokio::sync::broadcast::Sender<ResourceUpdate>);

impl Default for ResourceUpdates {
    fn default() -> Self {
        Self(tokio::sync::broadcast::channel(256).0)
    }
}

impl ResourceUpdates {
    /// Tells every subscriber, if there are any.
    pub fn send(&self, update: ResourceUpdate) {
        let _ = self.0.send(update);
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ResourceUpdate> {
        self.0.subscribe()
    }
}

/// Checks a URI a plugin names: at most [`MAX_URI`] bytes, a scheme, no
/// control characters or spaces. `Err` says why, as one line.
pub fn check_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI {
        return Err(format!("a URI of {} bytes is over {MAX_URI}", uri.len()));
    }
    // Nothing that `text::sanitize` would change: no control, invisible or
    // direction-changing characters; and no spaces.
    if let Some(bad) =
        uri.chars().find(|c| c.is_whitespace() || !crate::text::is_safe(&c.to_string(), 4))
    {
        return Err(format!(
            "the URI `{}` holds {bad:?}",
            crate::text::sanitize(uri, crate::text::NAME)
        ));
    }
    let scheme = uri.split_once(':').map(|(scheme, _)| scheme).unwrap_or_default();
    let valid = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return Err(format!(
            "`{}` is not a URI: it has no scheme",
            crate::text::sanitize(uri, crate::text::NAME)
        ));
    }
    Ok(())
}

/// Checks a MIME type: `type/subtype` of RFC 6838's token characters (and
/// parameters after `;`), at most [`MAX_MIME_TYPE`] bytes; with `family`,
/// its type must be that one (`image`, `audio`).
pub fn check_mime_type(mime: &str, family: Option<&str>) -> Result<(), String> {
    let shown = || crate::text::sanitize(mime, crate::text::LABEL);
    if mime.len() > MAX_MIME_TYPE {
        return Err(format!("a MIME type of {} bytes is over {MAX_MIME_TYPE}", mime.len()));
    }
    let essence = mime.split(';').next().unwrap_or_default().trim();
    let token = |part: &str| {
        !part.is_empty()
            && part.len() <= 127
            && part.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c))
    };
    let Some((kind, subtype)) = essence.split_once('/') else {
        return Err(format!("`{}` is not a MIME type (type/subtype)", shown()));
    };
    if !token(kind) || !token(subtype) || mime.chars().any(char::is_control) {
        return Err(format!("`{}` is not a MIME type (type/subtype)", shown()));
    }
    if let Some(family) = family
        && !kind.eq_ignore_ascii_case(family)
    {
        return Err(format!("`{}` is not an {family} type", shown()));
    }
    Ok(())
}

/// What the values a plugin returned weigh, and the first thing wrong in
/// them: a bad URI or MIME type, too many items, structured content that is
/// not a JSON object.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// Bytes of text and data they carry, for the output limit.
    pub bytes: usize,
}

impl Checked {
    fn items<T>(&mut self, what: &str, items: &[T]) -> Result<(), String> {
        if items.len() > MAX_ITEMS {
            return Err(format!("{} {what} is over the {MAX_ITEMS} allowed", items.len()));
        }
        Ok(())
    }

    fn text(&mut self, text: &str) {
        self.bytes = self.bytes.saturating_add(text.len());
    }

    fn opt(&mut self, text: &Option<String>) {
        if let Some(text) = text {
            self.text(text);
        }
    }

    pub fn content(&mut self, content: &Content) -> Result<(), String> {
        match content {
            Content::Text(text) => self.text(text),
            Content::Image(blob) => self.blob(blob, "image")?,
            Content::Audio(blob) => self.blob(blob, "audio")?,
            Content::ResourceLink(resource) => self.resource(resource)?,
            Content::Embedded(contents) => self.contents(contents)?,
        }
        Ok(())
    }

    fn blob(&mut self, blob: &Blob, family: &str) -> Result<(), String> {
        check_mime_type(&blob.mime_type, Some(family))?;
        self.bytes = self.bytes.saturating_add(blob.data.len());
        Ok(())
    }

    pub fn resource(&mut self, resource: &ResourceInfo) -> Result<(), String> {
        check_uri(&resource.uri)?;
        if let Some(mime) = &resource.mime_type {
            check_mime_type(mime, None)?;
        }
        self.text(&resource.uri);
        self.text(&resource.name);
        self.opt(&resource.title);
        self.opt(&resource.description);
        Ok(())
    }

    pub fn template(&mut self, template: &ResourceTemplate) -> Result<(), String> {
        if template.uri_template.len() > MAX_URI
            || template.uri_template.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(format!(
                "the URI template `{}` is not one",
                crate::text::sanitize(&template.uri_template, crate::text::NAME)
            ));
        }
        if let Some(mime) = &template.mime_type {
            check_mime_type(mime, None)?;
        }
        self.text(&template.uri_template);
        self.text(&template.name);
        self.opt(&template.title);
        self.opt(&template.description);
        Ok(())
    }

    pub fn contents(&mut self, contents: &ResourceContents) -> Result<(), String> {
        check_uri(&contents.uri)?;
        if let Some(mime) = &contents.mime_type {
            check_mime_type(mime, None)?;
        }
        match &contents.body {
            ResourceBody::Text(text) => self.text(text),
            ResourceBody::Bytes(bytes) => self.bytes = self.bytes.saturating_add(bytes.len()),
        }
        Ok(())
    }

    pub fn tool_result(&mut self, result: &ToolResult) -> Result<(), String> {
        self.items("content items", &result.content)?;
        for item in &result.content {
            self.content(item)?;
        }
        if let Some(structured) = &result.structured {
            self.text(structured);
            match serde_json::from_str::<serde_json::Value>(structured) {
                Ok(serde_json::Value::Object(_)) => {}
                Ok(_) => return Err("its structured content is not a JSON object".to_owned()),
                Err(err) => return Err(format!("its structured content is not JSON: {err}")),
            }
        }
        Ok(())
    }

    pub fn resources(&mut self, resources: &[ResourceInfo]) -> Result<(), String> {
        self.items("resources", resources)?;
        resources.iter().try_for_each(|resource| self.resource(resource))
    }

    pub fn templates(&mut self, templates: &[ResourceTemplate]) -> Result<(), String> {
        self.items("resource templates", templates)?;
        templates.iter().try_for_each(|template| self.template(template))
    }

    pub fn read(&mut self, contents: &[ResourceContents]) -> Result<(), String> {
        self.items("resource contents", contents)?;
        contents.iter().try_for_each(|contents| self.contents(contents))
    }

    pub fn prompts(&mut self, prompts: &[Prompt]) -> Result<(), String> {
        self.items("prompts", prompts)?;
        for prompt in prompts {
            self.items("prompt arguments", &prompt.arguments)?;
            self.text(&prompt.name);
            self.opt(&prompt.title);
            self.opt(&prompt.description);
            for argument in &prompt.arguments {
                self.text(&argument.name);
                self.opt(&argument.description);
            }
        }
        Ok(())
    }

    pub fn prompt(&mut self, prompt: &PromptResult) -> Result<(), String> {
        self.items("messages", &prompt.messages)?;
        self.opt(&prompt.description);
        prompt.messages.iter().try_for_each(|message| self.content(&message.content))
    }

    pub fn completion(&mut self, completion: &Completion) -> Result<(), String> {
        // MCP caps a completion at 100 values.
        if completion.values.len() > 100 {
            return Err(format!("{} completion values is over MCP's 100", completion.values.len()));
        }
        completion.values.iter().for_each(|value| self.text(value));
        Ok(())
    }
}

/// The text of a rich result, for a caller that takes text (another
/// plugin's `call-tool`, a 0.2 front end): the structured JSON when there
/// is some, else the text items joined by newlines.
pub fn result_text(result: &ToolResult) -> String {
    if let Some(structured) = &result.structured {
        return structured.clone();
    }
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|item| match item {
            Content::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_need_a_scheme_and_no_control_characters() {
        assert!(check_uri("test://static-text").is_ok());
        assert!(check_uri("file:///a/b.md").is_ok());
        assert!(check_uri("urn:isbn:0451450523").is_ok());
        assert!(check_uri("no-scheme").is_err());
        assert!(check_uri("test://a\nb").is_err());
        assert!(check_uri("test://a\u{1b}[31m").is_err());
        assert!(check_uri("1http://x").is_err());
        assert!(check_uri("test://a\u{202e}gpj.exe").is_err());
        assert!(check_uri("test://a\u{200b}b").is_err());
        assert!(check_uri(&format!("test://{}", "a".repeat(MAX_URI))).is_err());
    }

    #[test]
    fn mime_types_are_type_slash_subtype_of_the_family_asked() {
        assert!(check_mime_type("image/png", Some("image")).is_ok());
        assert!(check_mime_type("text/plain; charset=utf-8", None).is_ok());
        assert!(check_mime_type("audio/wav", Some("image")).is_err());
        assert!(check_mime_type("png", None).is_err());
        assert!(check_mime_type("image/", None).is_err());
        assert!(check_mime_type("image/p ng", None).is_err());
        assert!(check_mime_type("image/png\n", None).is_err());
    }

    #[test]
    fn structured_content_is_a_json_object() {
        let mut checked = Checked::default();
        let result = |structured: &str| ToolResult {
            content: Vec::new(),
            structured: Some(structured.to_owned()),
        };
        assert!(checked.tool_result(&result(r#"{"a":1}"#)).is_ok());
        assert!(checked.tool_result(&result("[1]")).is_err());
        assert!(checked.tool_result(&result("{")).is_err());
    }
}
