//! Tools that describe themselves: a description, the JSON Schema of the
//! input (and of the output), and the hints an agent needs. Plugins of
//! contract 0.2 describe their tools (`describe-tools`); host tools may
//! carry a description; a 0.1 tool is described as taking `{"input":
//! string}`. Each schema is compiled once, when its tool is registered, and
//! a call's input is checked against it before the tool runs.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::contract::v0_2::witplug::plugin::types::{ToolDescription, ToolHints as WitHints};
use crate::text::{self, sanitize};
use crate::tools::schema::{self, Compiled, Refused, SchemaBounds};

/// What an AI agent may assume about a tool, as MCP's tool annotations name
/// them; `None` says nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ToolHints {
    /// It changes nothing outside itself.
    pub read_only: Option<bool>,
    /// It may destroy or overwrite what exists.
    pub destructive: Option<bool>,
    /// Calling it again with the same input changes nothing more.
    pub idempotent: Option<bool>,
    /// It reaches a world beyond the host.
    pub open_world: Option<bool>,
}

impl ToolHints {
    /// Says the tool changes nothing (and so destroys nothing and may be
    /// repeated).
    pub fn read_only(mut self) -> Self {
        self.read_only = Some(true);
        self.destructive = Some(false);
        self.idempotent = Some(true);
        self
    }
}

/// A tool as it describes itself.
#[derive(Clone, serde::Serialize)]
#[non_exhaustive]
pub struct ToolSpec {
    /// One line saying what the tool does.
    pub description: String,
    /// The JSON Schema its input matches.
    pub input_schema: Value,
    /// The JSON Schema its output matches, when it promises one.
    pub output_schema: Option<Value>,
    /// What an agent may assume about it.
    pub hints: ToolHints,
    /// Whether the input is JSON checked against `input_schema` (0.2 and
    /// host tools with a schema), or the raw string a 0.1 tool takes.
    #[serde(skip)]
    pub(crate) checked: Option<Arc<Compiled>>,
}

impl ToolSpec {
    /// A tool described by `description`, taking JSON input that matches
    /// `input_schema`.
    ///
    /// # Errors
    ///
    /// The reason `input_schema` is not a JSON Schema this host can compile
    /// (one that refers to other documents, say).
    pub fn new(description: impl Into<String>, input_schema: Value) -> Result<Self, String> {
        Self::bounded(description.into(), input_schema, &SchemaBounds::TRUSTED)
    }

    /// A tool taking JSON input that matches `input_schema`, refused past
    /// `bounds`.
    fn bounded(
        description: String,
        input_schema: Value,
        bounds: &SchemaBounds,
    ) -> Result<Self, String> {
        let checked = schema::compile(&input_schema, bounds)
            .map_err(|reason| format!("its input schema: {reason}"))?;
        Ok(Self {
            description,
            input_schema,
            output_schema: None,
            hints: ToolHints::default(),
            checked: Some(Arc::new(checked)),
        })
    }

    /// A tool of contract 0.1, or a host tool registered without a schema:
    /// it takes any string, shown to agents as `{"input": string}`.
    pub(crate) fn plain(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            input_schema: serde_json::json!({
                "type": "object",
                "properties": { "input": { "type": "string" } },
                "required": ["input"],
            }),
            output_schema: None,
            hints: ToolHints::default(),
            checked: None,
        }
    }

    /// Sets the schema of its output.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = Some(schema);
        self
    }

    /// Sets its hints.
    pub fn hints(mut self, hints: ToolHints) -> Self {
        self.hints = hints;
        self
    }

    /// Whether its input is JSON checked against its schema; `false` for a
    /// tool that takes a plain string (0.1).
    pub fn takes_json(&self) -> bool {
        self.checked.is_some()
    }

    /// Checks `input` against the input schema, for at most `timeout`:
    /// `Err` names the path that failed and why, in one line, or the bound
    /// the check passed.
    pub(crate) async fn check(
        &self,
        tool: &str,
        input: &str,
        timeout: std::time::Duration,
    ) -> Result<(), Refused> {
        let Some(compiled) = &self.checked else { return Ok(()) };
        // The name is made safe to show only when there is something to say.
        compiled.check(&|| sanitize(tool, text::NAME), input, timeout).await
    }

    /// The description a plugin gave of tool `described.name`, its schemas
    /// parsed and compiled within `bounds`, its text made safe; with the
    /// number of patterns its schemas hold.
    pub(crate) fn from_plugin(
        described: ToolDescription,
        bounds: &SchemaBounds,
    ) -> Result<(String, Self, u64), String> {
        let name = described.name;
        let shown = sanitize(&name, text::NAME);
        let parse = |what: &str, schema: &str| {
            serde_json::from_str::<Value>(schema)
                .map_err(|err| format!("tool `{shown}`: its {what} schema is not JSON: {err}"))
        };
        let input = parse("input", &described.input_schema)?;
        let output = described.output_schema.as_deref().map(|s| parse("output", s)).transpose()?;
        let mut patterns = 0;
        if let Some(output) = &output {
            let compiled = schema::compile(output, bounds)
                .map_err(|reason| format!("tool `{shown}`: its output schema: {reason}"))?;
            patterns += compiled.patterns();
        }
        let WitHints { read_only, destructive, idempotent, open_world } = described.hints;
        let description = sanitize(&described.description, text::DESCRIPTION);
        let spec = Self::bounded(description, input, bounds)
            .map_err(|reason| format!("tool `{shown}`: {reason}"))?;
        patterns += spec.checked.as_ref().map_or(0, |checked| checked.patterns());
        let spec = Self { output_schema: output, ..spec }.hints(ToolHints {
            read_only,
            destructive,
            idempotent,
            open_world,
        });
        Ok((name, spec, patterns))
    }

    /// A description as another host passed it on (its JSON, as this type
    /// serializes): parsed, its schemas compiled within `bounds`, its text
    /// made safe.
    pub(crate) fn from_json(json: &str, bounds: &SchemaBounds) -> Result<Self, String> {
        if json.len() as u64 > bounds.bytes {
            return Err(format!(
                "its description is {} bytes, over the tool-descriptions limit of {}",
                json.len(),
                bounds.bytes
            ));
        }
        let value: Value = serde_json::from_str(json).map_err(|err| err.to_string())?;
        let description = value.get("description").and_then(Value::as_str).unwrap_or_default();
        let input = value.get("input_schema").cloned().ok_or("no input schema")?;
        let mut spec = Self::bounded(sanitize(description, text::DESCRIPTION), input, bounds)?;
        if let Some(output) = value.get("output_schema").filter(|output| !output.is_null()) {
            schema::compile(output, bounds)
                .map_err(|reason| format!("its output schema: {reason}"))?;
            spec.output_schema = Some(output.clone());
        }
        let hint = |key: &str| value.get("hints").and_then(|h| h.get(key)).and_then(Value::as_bool);
        spec.hints = ToolHints {
            read_only: hint("read_only"),
            destructive: hint("destructive"),
            idempotent: hint("idempotent"),
            open_world: hint("open_world"),
        };
        Ok(spec)
    }
}

impl fmt::Debug for ToolSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolSpec")
            .field("description", &self.description)
            .field("input_schema", &self.input_schema)
            .field("output_schema", &self.output_schema)
            .field("hints", &self.hints)
            .finish()
    }
}

/// Who provides a tool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
#[non_exhaustive]
pub enum Provider {
    /// The host itself (`HostBuilder::tool`).
    Host,
    /// The plugin of this name.
    Plugin(String),
    /// Another host on the bus.
    Remote,
}

/// A tool the host serves: its name, its provider and its description.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct ToolInfo {
    /// The name callers pass to `call-tool`.
    pub name: String,
    /// Who runs it.
    pub provider: Provider,
    /// What it says of itself.
    #[serde(flatten)]
    pub spec: ToolSpec,
}

#[cfg(test)]
mod tests {
    use super::ToolSpec;

    use crate::tools::schema::Refused;
    use std::time::Duration;

    #[tokio::test]
    async fn an_input_is_checked_against_its_schema_and_the_failing_path_named() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": { "text": { "type": "string" }, "n": { "type": "integer" } },
            "required": ["text"],
        });
        let spec = ToolSpec::new("counts", schema).unwrap();
        let check = |input: &'static str| {
            let spec = spec.clone();
            async move { spec.check("t", input, Duration::from_secs(1)).await }
        };
        assert_eq!(check(r#"{"text": "a b"}"#).await, Ok(()));
        let Err(Refused::Invalid(err)) = check(r#"{"text": "a", "n": "many"}"#).await else {
            panic!("not refused")
        };
        assert!(err.contains("at `/n`"), "{err}");
        let Err(Refused::Invalid(err)) = check(r#"{"n": 1}"#).await else { panic!("not refused") };
        assert!(err.contains("at `/`") && err.contains("text"), "{err}");
        let Err(Refused::Invalid(err)) = check("a b").await else { panic!("not refused") };
        assert!(err.contains("not JSON"), "{err}");
        assert!(ToolSpec::plain("x").check("t", "a b", Duration::from_secs(1)).await.is_ok());
    }

    #[test]
    fn a_description_from_another_host_is_held_to_the_bounds() {
        use crate::tools::schema::SchemaBounds;
        let bounds = SchemaBounds::of(&crate::Limits::default());
        let ok = serde_json::json!({"description": "d", "input_schema": {"type": "string"}});
        assert!(ToolSpec::from_json(&ok.to_string(), &bounds).is_ok());
        let mut deep = serde_json::json!({});
        for _ in 0..40 {
            deep = serde_json::json!({ "not": deep });
        }
        let deep = serde_json::json!({"description": "d", "input_schema": deep});
        let err = ToolSpec::from_json(&deep.to_string(), &bounds).unwrap_err();
        assert!(err.contains("schema-depth limit of 32"), "{err}");
        let backtracking = serde_json::json!({"input_schema": {"pattern": "^(a+)\\1$"}});
        let err = ToolSpec::from_json(&backtracking.to_string(), &bounds).unwrap_err();
        assert!(err.contains("does not compile"), "{err}");
        let huge = format!(r#"{{"description": "{}", "input_schema": {{}}}}"#, "x".repeat(2 << 20));
        let err = ToolSpec::from_json(&huge, &bounds).unwrap_err();
        assert!(err.contains("over the tool-descriptions limit"), "{err}");
    }

    #[test]
    fn a_schema_that_does_not_compile_is_refused() {
        let err = ToolSpec::new("x", serde_json::json!({"type": 7})).unwrap_err();
        assert!(err.contains("does not compile"), "{err}");
    }
}
