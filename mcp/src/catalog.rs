//! What an agent sees of the host's tools: each tool the host serves (and,
//! when asked, each plugin's `handle`) as an MCP tool, and how a call's
//! arguments become the tool's input and its output the call's result.
//!
//! MCP wants a tool's input schema, and its output schema, to describe an
//! object. A tool whose input schema does not is offered as taking
//! `{"input": ...}`, and one whose output schema does not as answering
//! `{"result": ...}`; a contract 0.1 tool takes `{"input": string}`, as
//! the host describes it.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use witplug_host::{Host, Plugin, tools::ToolInfo};

/// One tool as offered to agents.
#[derive(Debug, Clone)]
pub(crate) struct Offered {
    /// What `tools/list` shows.
    pub tool: Tool,
    /// What a call runs.
    pub target: Target,
    /// How its arguments become the input.
    pub input: Input,
    /// Whether its output is structured, and how.
    pub output: Output,
}

/// What a call of an offered tool runs.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The host's tool of this name.
    Tool(String),
    /// This plugin's `handle` export.
    Handle(String),
}

/// How a call's arguments become the tool's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// The arguments object is the input, as JSON text.
    Object,
    /// The `input` argument, as JSON text.
    WrappedJson,
    /// The `input` argument, a string, as it is (a 0.1 tool, a `handle`).
    WrappedString,
}

/// How a tool's output becomes the call's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    /// Text only: no output schema.
    Text,
    /// The output is a JSON object: also the structured content.
    Object,
    /// The output is JSON: the structured content is `{"result": output}`.
    Wrapped,
}

/// Whether the patterns of `--expose` admit the tool `name` (none: all).
pub(crate) fn admitted(expose: &[String], name: &str) -> bool {
    expose.is_empty() || expose.iter().any(|pattern| glob(pattern, name))
}

/// The tools to offer: those of `host` and `remote` (other hosts') whose
/// names `expose` admits, and, with `handles`, each default-world plugin's
/// `handle`, named after the plugin (unless a tool has its name).
pub(crate) fn offered(
    host: &Host,
    remote: &[ToolInfo],
    expose: &[String],
    handles: bool,
) -> Vec<Offered> {
    let tools = host.tools().into_iter().chain(remote.iter().cloned());
    let mut offered: Vec<Offered> =
        tools.filter(|info| admitted(expose, &info.name)).map(tool).collect();
    if handles {
        for plugin in host.plugins() {
            let name = plugin.name();
            if admitted(expose, name) && !offered.iter().any(|o| o.tool.name == name) {
                offered.extend(handle(&plugin));
            }
        }
    }
    offered.sort_by(|a, b| a.tool.name.cmp(&b.tool.name));
    offered
}

/// The `handle` export of `plugin` as a tool named after it, when it has
/// one (it targets the default world).
pub(crate) fn handle(plugin: &Plugin) -> Option<Offered> {
    if !plugin.is_guest() {
        return None;
    }
    let name = plugin.name();
    let schema = object(json!({
        "type": "object",
        "properties": { "input": { "type": "string" } },
        "required": ["input"],
    }));
    let description = match plugin.info().description.as_str() {
        "" => format!("The `handle` export of plugin `{name}`"),
        described => described.to_owned(),
    };
    Some(Offered {
        tool: Tool::new(name.to_owned(), description, schema),
        target: Target::Handle(name.to_owned()),
        input: Input::WrappedString,
        output: Output::Text,
    })
}

/// A tool of the host's (or another host's), as offered.
pub(crate) fn tool(info: ToolInfo) -> Offered {
    let spec = &info.spec;
    let (schema, input) = if !spec.takes_json() {
        // 0.1, or a host tool without a schema: the host already describes
        // it as `{"input": string}`.
        (spec.input_schema.clone(), Input::WrappedString)
    } else if describes_object(&spec.input_schema) {
        (spec.input_schema.clone(), Input::Object)
    } else {
        (wrapped("input", &spec.input_schema), Input::WrappedJson)
    };
    let (output_schema, output) = match &spec.output_schema {
        None => (None, Output::Text),
        Some(schema) if describes_object(schema) => (Some(schema.clone()), Output::Object),
        Some(schema) => (Some(wrapped("result", schema)), Output::Wrapped),
    };
    let hints = spec.hints;
    let annotations = ToolAnnotations::from_raw(
        None,
        hints.read_only,
        hints.destructive,
        hints.idempotent,
        hints.open_world,
    );
    let description: Cow<'static, str> = match spec.description.as_str() {
        "" => format!("The tool `{}`", info.name).into(),
        described => described.to_owned().into(),
    };
    let mut tool = Tool::new(info.name.clone(), description, object(schema));
    if let Some(schema) = output_schema {
        tool = tool.with_raw_output_schema(object(schema));
    }
    if hints != Default::default() {
        tool = tool.with_annotations(annotations);
    }
    Offered { tool, target: Target::Tool(info.name), input, output }
}

impl Offered {
    /// The input the tool is called with, from a call's `arguments`; `Err`
    /// says why they do not fit, as one line.
    pub fn input(&self, arguments: Option<JsonObject>) -> Result<String, String> {
        let arguments = arguments.unwrap_or_default();
        match self.input {
            Input::Object => Ok(Value::Object(arguments).to_string()),
            Input::WrappedJson => match arguments.get("input") {
                Some(input) if arguments.len() == 1 => Ok(input.to_string()),
                _ => Err("the arguments must be exactly `{\"input\": ...}`".to_owned()),
            },
            Input::WrappedString => match arguments.get("input") {
                Some(Value::String(input)) if arguments.len() == 1 => Ok(input.clone()),
                _ => Err("the arguments must be exactly `{\"input\": a string}`".to_owned()),
            },
        }
    }

    /// The structured content of `output`, when the tool promises one; `Err`
    /// when the output is not the JSON it promises.
    pub fn structured(&self, output: &str) -> Result<Option<Value>, String> {
        let parsed = || {
            serde_json::from_str::<Value>(output)
                .map_err(|err| format!("the tool's output is not the JSON it promises: {err}"))
        };
        match self.output {
            Output::Text => Ok(None),
            Output::Object => match parsed()? {
                object @ Value::Object(_) => Ok(Some(object)),
                _ => Err("the tool's output is not the JSON object it promises".to_owned()),
            },
            Output::Wrapped => Ok(Some(json!({ "result": parsed()? }))),
        }
    }
}

/// Whether `schema` describes objects only: `"type": "object"`.
fn describes_object(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
}

/// An object schema with the one required property `key` of `schema`.
fn wrapped(key: &str, schema: &Value) -> Value {
    json!({
        "type": "object",
        "properties": { key: schema },
        "required": [key],
        "additionalProperties": false,
    })
}

/// `schema` as the map MCP's tool model holds.
fn object(schema: Value) -> Arc<JsonObject> {
    match schema {
        Value::Object(map) => Arc::new(map),
        // The host compiled every schema; one that is not an object (`true`)
        // admits anything.
        _ => Arc::new(JsonObject::new()),
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of
/// characters (`count-*`, `*.search`, `*`).
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_shells_do() {
        assert!(glob("*", "anything"));
        assert!(glob("count-words", "count-words"));
        assert!(!glob("count-words", "count-words-2"));
        assert!(glob("count-*", "count-words"));
        assert!(glob("*-words", "count-words"));
        assert!(glob("c*t-*s", "count-words"));
        assert!(!glob("c*x", "count"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn arguments_become_the_input_the_tool_takes() {
        let offered = |input| Offered {
            tool: Tool::new("t", "t", Arc::new(JsonObject::new())),
            target: Target::Tool("t".into()),
            input,
            output: Output::Text,
        };
        let args = |value: Value| value.as_object().cloned();
        assert_eq!(
            offered(Input::Object).input(args(json!({"text": "a"}))).unwrap(),
            r#"{"text":"a"}"#
        );
        assert_eq!(offered(Input::WrappedJson).input(args(json!({"input": 7}))).unwrap(), "7");
        assert_eq!(
            offered(Input::WrappedString).input(args(json!({"input": "a b"}))).unwrap(),
            "a b"
        );
        assert!(offered(Input::WrappedString).input(args(json!({"input": 7}))).is_err());
        assert!(offered(Input::WrappedJson).input(None).is_err());
    }
}
