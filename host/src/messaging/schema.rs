//! A tool's JSON Schema as untrusted input. A plugin (or another host, over
//! NATS) chooses it, and the host compiles it and checks every call's
//! input against it, so it is held like anything else a plugin sends:
//! - its size, nesting depth and number of regular expressions are bounded
//!   ([`SchemaBounds`], from the plugin's limits) before anything is
//!   compiled;
//! - every `pattern` and `patternProperties` key is compiled by the `regex`
//!   crate, whose matching takes time linear in the input (no pattern can
//!   backtrack), each within a size bound;
//! - compiling and checking large inputs run on the host's own threads
//!   ([`crate::offload`]) under a deadline, never on an async worker.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::config::limits::Limits;
use crate::offload::{self, Offloaded};
use crate::text::format_size;

/// The most bytes one compiled pattern may take, and its matching cache.
const PATTERN_SIZE: usize = 256 << 10;

/// A check whose schema weight times input bytes is at most this runs where
/// it is called: some microseconds at most. Heavier ones are offloaded.
const INLINE_WORK: u64 = 1 << 18;

/// How far a schema may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SchemaBounds {
    /// Bytes of the schema's text.
    pub bytes: u64,
    /// Levels of nesting of its JSON.
    pub depth: u64,
    /// Regular expressions (`pattern`s and `patternProperties` keys).
    pub patterns: u64,
}

impl SchemaBounds {
    /// The bounds `limits` set for one plugin's tool descriptions.
    pub fn of(limits: &Limits) -> Self {
        Self {
            bytes: limits.tool_descriptions,
            depth: limits.schema_depth,
            patterns: limits.schema_patterns,
        }
    }

    /// No bound but the regex engine's: for schemas the embedder wrote.
    pub const TRUSTED: Self = Self { bytes: u64::MAX, depth: u64::MAX, patterns: u64::MAX };
}

/// A compiled schema, and what a check against it may cost.
pub(crate) struct Compiled {
    validator: jsonschema::Validator,
    /// Its JSON values and patterns, each pattern counting as 64.
    weight: u64,
}

/// What a schema holds, counted without recursion.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub depth: u64,
    pub values: u64,
    pub patterns: u64,
}

/// Counts `schema`'s nesting, values and patterns.
pub(crate) fn shape(schema: &Value) -> Shape {
    let mut shape = Shape::default();
    let mut stack: Vec<(&Value, u64)> = vec![(schema, 1)];
    while let Some((value, depth)) = stack.pop() {
        shape.values += 1;
        shape.depth = shape.depth.max(depth);
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("pattern", Value::String(_)) => shape.patterns += 1,
                        ("patternProperties", Value::Object(keys)) => {
                            shape.patterns += keys.len() as u64;
                        }
                        _ => {}
                    }
                    stack.push((child, depth + 1));
                }
            }
            Value::Array(items) => stack.extend(items.iter().map(|item| (item, depth + 1))),
            _ => {}
        }
    }
    shape
}

/// Refuses `schema` when it passes `bounds`; compiles it otherwise.
///
/// # Errors
///
/// One line saying which bound it passes, or why it does not compile.
pub(crate) fn compile(schema: &Value, bounds: &SchemaBounds) -> Result<Compiled, String> {
    let shape = shape(schema);
    if shape.depth > bounds.depth {
        return Err(format!(
            "it nests {} levels deep, over the schema-depth limit of {}",
            shape.depth, bounds.depth
        ));
    }
    if shape.patterns > bounds.patterns {
        return Err(format!(
            "it holds {} patterns, over the schema-patterns limit of {}",
            shape.patterns, bounds.patterns
        ));
    }
    let patterns =
        jsonschema::PatternOptions::regex().size_limit(PATTERN_SIZE).dfa_size_limit(PATTERN_SIZE);
    let validator = jsonschema::options()
        .with_pattern_options(patterns)
        // No `$ref` is ever fetched, whatever features are enabled.
        .offline()
        .build(schema)
        .map_err(|err| format!("it does not compile: {}", one_line(&err)))?;
    Ok(Compiled { validator, weight: shape.values + shape.patterns * 64 })
}

/// Why an input was not let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// It is not JSON, or does not match: the path and the reason.
    Invalid(String),
    /// The check did not end within its time (or the checking threads were
    /// all taken): the reason.
    Limit(String),
}

impl Compiled {
    /// Checks `input`: inline when it is cheap, else on the schema threads
    /// for at most `timeout`. `tool` gives the tool's name made safe to
    /// show, called only when there is something to say.
    pub async fn check(
        self: &Arc<Self>,
        tool: &(dyn Fn() -> String + Sync),
        input: &str,
        timeout: Duration,
    ) -> Result<(), Refused> {
        if self.weight.saturating_mul(input.len() as u64 + 1) <= INLINE_WORK {
            return self.check_now(tool, input).map_err(Refused::Invalid);
        }
        let (compiled, owned, name) = (self.clone(), input.to_owned(), tool());
        let job = move || compiled.check_now(&|| name.clone(), &owned);
        match offload::schemas().run(timeout, job).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Refused::Invalid(reason)),
            Err(Offloaded::TimedOut) => Err(Refused::Limit(format!(
                "checking the input of tool `{}` ({}) against its schema took over {timeout:?}",
                tool(),
                format_size(input.len() as u64),
            ))),
            Err(Offloaded::Busy) => Err(Refused::Limit(format!(
                "the host's schema threads are all taken; the input of tool `{}` was not checked",
                tool()
            ))),
            Err(Offloaded::Failed) => Err(Refused::Limit(format!(
                "checking the input of tool `{}` against its schema failed",
                tool()
            ))),
        }
    }

    /// Checks `input` here: `Err` names the path that failed and why.
    fn check_now(&self, tool: &dyn Fn() -> String, input: &str) -> Result<(), String> {
        let value: Value = serde_json::from_str(input)
            .map_err(|err| format!("the input of tool `{}` is not JSON: {err}", tool()))?;
        self.validator.validate(&value).map_err(|err| {
            let path = err.instance_path().to_string();
            let at = if path.is_empty() { "/".to_owned() } else { path };
            format!(
                "the input of tool `{}` does not match its schema at `{at}`: {}",
                tool(),
                crate::text::sanitize(&one_line(&err), 512)
            )
        })
    }
}

/// Compiles schemas on the schema threads within `timeout`; `what` names
/// them in the error (`plugin `x`'s tool schemas`).
///
/// # Errors
///
/// The job's own error, or one line saying it took too long.
pub(crate) async fn compile_off<T: Send + 'static>(
    what: &str,
    timeout: Duration,
    job: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    match offload::schemas().run(timeout, job).await {
        Ok(result) => result,
        Err(Offloaded::TimedOut) => {
            Err(format!("compiling {what} took over {timeout:?}, the plugin's deadline"))
        }
        Err(Offloaded::Busy) => {
            Err(format!("compiling {what}: the host's schema threads are all taken"))
        }
        Err(Offloaded::Failed) => Err(format!("compiling {what} failed")),
    }
}

pub(crate) fn one_line(err: &impl std::fmt::Display) -> String {
    err.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bounds() -> SchemaBounds {
        SchemaBounds::of(&Limits::default())
    }

    #[test]
    fn a_shape_counts_depth_values_and_patterns() {
        let schema = json!({
            "type": "object",
            "properties": { "a": { "type": "string", "pattern": "^a+$" } },
            "patternProperties": { "^x-": {}, "^y-": {} },
        });
        let shape = shape(&schema);
        assert_eq!((shape.depth, shape.patterns), (4, 3));
    }

    #[test]
    fn schemas_past_their_bounds_are_refused_before_compiling() {
        let mut deep = json!({});
        for _ in 0..40 {
            deep = json!({ "items": deep });
        }
        let err = compile(&deep, &bounds()).err().unwrap();
        assert!(err.contains("levels deep, over the schema-depth limit of 32"), "{err}");
        let many: serde_json::Map<String, Value> =
            (0..300).map(|i| (format!("p{i}"), json!({ "pattern": format!("^{i}$") }))).collect();
        let err = compile(&json!({ "properties": many }), &bounds()).err().unwrap();
        assert!(err.contains("300 patterns, over the schema-patterns limit of 256"), "{err}");
    }

    #[test]
    fn patterns_match_in_linear_time_and_common_ones_compile() {
        // Backtracking, and a back-reference no linear engine takes.
        let compiled = compile(&json!({ "pattern": r"^(\w+\s?)*$" }), &bounds()).unwrap();
        let text = format!("\"{}!\"", "word ".repeat(5_000));
        let started = std::time::Instant::now();
        assert!(compiled.check_now(&|| "t".into(), &text).is_err());
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        let err = compile(&json!({ "pattern": r"^(\w+)\1$" }), &bounds()).err().unwrap();
        assert!(err.contains("does not compile"), "{err}");
        for pattern in [r"^\w+$", r"^[\p{L} '-]{1,100}$", r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"] {
            compile(&json!({ "pattern": pattern }), &bounds()).unwrap();
        }
    }
}
