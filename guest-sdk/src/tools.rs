//! Tools a plugin provides, described for the host, other plugins and AI
//! agents: each a name, a one-line description, a typed handler whose
//! input and output types give the tool's JSON Schemas (through
//! `schemars`), and hints.
//!
//! ```
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use witplug_sdk::{Plugin, Result, Tools};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Text {
//!     /// The text whose words are counted.
//!     text: String,
//! }
//!
//! #[derive(Default)]
//! struct WordCount;
//!
//! impl Plugin for WordCount {
//!     fn tools() -> Tools<Self> {
//!         Tools::new()
//!             .tool("count-words", "Counts the words of a text", |_: &mut Self, input: Text| {
//!                 Ok(input.text.split_whitespace().count())
//!             })
//!             .read_only()
//!     }
//!
//!     fn handle(&mut self, _input: &str) -> Result<String> {
//!         Ok("call my tool".into())
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! The host checks a call's input against the input schema before the
//! handler runs; the handler gets the input already deserialized, and its
//! output is returned as JSON. The plugin's manifest must provide exactly
//! the tools it describes (`[provides] tools = ["count-words"]`).

use std::cell::OnceCell;
use std::fmt;
use std::thread::LocalKey;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Plugin, Result, ToolDescription, ToolHints};

type Handler<P> = Box<dyn Fn(&mut P, &str) -> Result<Answer>>;

/// What a tool's handler answers: JSON text, or a rich result (contract
/// 0.3, [`Tools::rich_tool`]).
enum Answer {
    Text(String),
    Rich(crate::mcp::ToolResult),
}

/// The tools a plugin of type `P` provides; return them from
/// [`Plugin::tools`].
pub struct Tools<P> {
    tools: Vec<(ToolDescription, Handler<P>)>,
}

impl<P: 'static> Tools<P> {
    /// No tools.
    pub fn new() -> Self {
        Self { tools: Vec::new() }
    }

    /// Adds the tool `name`, described by `description`, run by `run` with
    /// its input deserialized from JSON. Its input schema comes from `I`,
    /// its output schema from `O`.
    pub fn tool<I, O>(
        mut self,
        name: &str,
        description: &str,
        run: impl Fn(&mut P, I) -> Result<O> + 'static,
    ) -> Self
    where
        I: DeserializeOwned + JsonSchema,
        O: Serialize + JsonSchema,
    {
        let description = described(name, description, schema::<I>(), Some(schema::<O>()));
        let handler: Handler<P> = Box::new(move |plugin, input| {
            let output = run(plugin, parsed(input)?)?;
            serde_json::to_string(&output)
                .map(Answer::Text)
                .map_err(|err| Error::Failed(format!("the output does not serialize: {err}")))
        });
        self.tools.push((description, handler));
        self
    }

    /// Adds the tool `name` whose input and output `run` handles as JSON
    /// text itself, its input described by `input_schema` (a JSON Schema):
    /// for a tool that passes its input on, say. (`serde_json::json!({})`
    /// accepts any JSON.)
    pub fn raw_tool(
        mut self,
        name: &str,
        description: &str,
        input_schema: serde_json::Value,
        run: impl Fn(&mut P, &str) -> Result<String> + 'static,
    ) -> Self {
        let description = described(name, description, input_schema.to_string(), None);
        self.tools.push((
            description,
            Box::new(move |plugin, input| run(plugin, input).map(Answer::Text)),
        ));
        self
    }

    /// Adds the tool `name` whose result is content of any kind (images,
    /// audio, resources, several items: see [`crate::mcp`]), for a plugin
    /// exported with [`export_mcp!`](crate::export_mcp). Its input schema
    /// comes from `I`; other plugins calling it get its structured content,
    /// or else its text items.
    pub fn rich_tool<I>(
        mut self,
        name: &str,
        description: &str,
        run: impl Fn(&mut P, I) -> Result<crate::mcp::ToolResult> + 'static,
    ) -> Self
    where
        I: DeserializeOwned + JsonSchema,
    {
        let description = described(name, description, schema::<I>(), None);
        let handler: Handler<P> =
            Box::new(move |plugin, input| run(plugin, parsed(input)?).map(Answer::Rich));
        self.tools.push((description, handler));
        self
    }

    /// Sets the hints of the tool added last.
    pub fn hints(mut self, hints: ToolHints) -> Self {
        if let Some((description, _)) = self.tools.last_mut() {
            description.hints = hints;
        }
        self
    }

    /// Says the tool added last changes nothing (so it destroys nothing and
    /// may be repeated).
    pub fn read_only(self) -> Self {
        self.hints(ToolHints {
            read_only: Some(true),
            destructive: Some(false),
            idempotent: Some(true),
            open_world: None,
        })
    }

    /// Says the tool added last reaches beyond the host (the network, say).
    pub fn open_world(mut self) -> Self {
        if let Some((description, _)) = self.tools.last_mut() {
            description.hints.open_world = Some(true);
        }
        self
    }

    fn describe(&self) -> Vec<ToolDescription> {
        self.tools.iter().map(|(description, _)| description.clone()).collect()
    }

    fn find(&self, name: &str) -> Option<&Handler<P>> {
        self.tools.iter().find(|(description, _)| description.name == name).map(|(_, run)| run)
    }
}

impl<P: 'static> Default for Tools<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> fmt::Debug for Tools<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.tools.iter().map(|(d, _)| d.name.as_str()).collect();
        f.debug_struct("Tools").field("names", &names).finish()
    }
}

/// A tool's input, deserialized. The host checked it against the schema;
/// what still fails to deserialize is the caller's error all the same.
fn parsed<I: DeserializeOwned>(input: &str) -> Result<I> {
    serde_json::from_str(input)
        .map_err(|err| Error::InvalidInput(format!("the input does not fit: {err}")))
}

/// A tool's description, saying nothing of its hints.
fn described(
    name: &str,
    description: &str,
    input_schema: String,
    output_schema: Option<String>,
) -> ToolDescription {
    ToolDescription {
        name: name.to_owned(),
        description: description.to_owned(),
        input_schema,
        output_schema,
        hints: ToolHints { read_only: None, destructive: None, idempotent: None, open_world: None },
    }
}

/// `T`'s JSON Schema, as JSON text.
fn schema<T: JsonSchema>() -> String {
    schemars::schema_for!(T).as_value().to_string()
}

/// Where an export macro keeps its plugin type's tools, built once.
pub type ToolsSlot<P> = LocalKey<OnceCell<Tools<P>>>;

/// The descriptions of `P`'s tools.
pub(crate) fn describe<P: Plugin>(tools: &'static ToolsSlot<P>) -> Vec<ToolDescription> {
    tools.with(|cell| cell.get_or_init(P::tools).describe())
}

/// Runs `P`'s tool `name` on `plugin`: a described tool's typed handler,
/// or else [`Plugin::run_tool`].
pub(crate) fn run<P: Plugin>(
    tools: &'static ToolsSlot<P>,
    plugin: &mut P,
    name: &str,
    input: &str,
) -> Result<String> {
    tools.with(|cell| match cell.get_or_init(P::tools).find(name) {
        Some(run) => Ok(match run(plugin, input)? {
            Answer::Text(text) => text,
            Answer::Rich(result) => text_of(&result),
        }),
        None => plugin.run_tool(name, input),
    })
}

/// Runs `P`'s tool `name` on `plugin` for an agent: a rich result as it
/// is, text as one text item.
pub(crate) fn run_rich<P: Plugin>(
    tools: &'static ToolsSlot<P>,
    plugin: &mut P,
    name: &str,
    input: &str,
) -> Result<crate::mcp::ToolResult> {
    tools.with(|cell| match cell.get_or_init(P::tools).find(name) {
        Some(run) => Ok(match run(plugin, input)? {
            Answer::Text(text) => crate::mcp::ToolResult::text(text),
            Answer::Rich(result) => result,
        }),
        None => plugin.run_tool(name, input).map(crate::mcp::ToolResult::text),
    })
}

/// The text of a rich result for a caller that takes text: its structured
/// content, or else its text items, one per line.
fn text_of(result: &crate::mcp::ToolResult) -> String {
    if let Some(structured) = &result.structured {
        return structured.clone();
    }
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|item| match item {
            crate::mcp::Content::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}
