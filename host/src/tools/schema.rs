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
const PATTERN_SIZE: usize = 64 << 10;

/// A check whose schema weight times input bytes is at most this runs where
/// it is called: some microseconds at most. Heavier ones are offloaded.
const INLINE_WORK: u64 = 1 << 18;

/// A check heavier than this is refused before it starts: every check
/// ends in bounded time (a second or so), whatever the schema and input.
const MAX_WORK: u64 = 1 << 31;

/// What one pattern weighs against the input's bytes: a pattern may take
/// some thousands of steps a byte on its slow path.
const PATTERN_WEIGHT: u64 = 1 << 10;

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
    /// Its JSON values (through its `$ref`s) and its patterns, each
    /// pattern weighing [`PATTERN_WEIGHT`].
    weight: u64,
    /// Its regular expressions.
    patterns: u64,
}

/// What a schema holds, counted without recursion.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Levels of nesting, following every `$ref` into what it names.
    pub depth: u64,
    /// JSON values, each `$ref` counted as what it names (a cycle once).
    pub values: u64,
    pub patterns: u64,
}

/// The most JSON values a schema may expand to through its `$ref`s: a
/// schema that names the same definitions over and over (two refs to the
/// one before, forty deep) would cost 2^40 steps to check.
pub(crate) const MAX_EXPANDED: u64 = 100_000;

/// The refs followed to reach a value: a list shared by its tails.
struct Followed<'a> {
    pointer: &'a str,
    before: Option<Arc<Followed<'a>>>,
}

/// Whether `pointer` was followed on the way.
fn followed(mut link: Option<&Arc<Followed<'_>>>, pointer: &str) -> bool {
    while let Some(followed) = link {
        if followed.pointer == pointer {
            return true;
        }
        link = followed.before.as_ref();
    }
    false
}

/// Counts `schema`'s nesting, values and patterns, following its `$ref`s
/// (local JSON pointers only) into what they name, without recursion; a
/// nesting past `max_depth` is refused as soon as it is met.
///
/// # Errors
///
/// A nesting past `max_depth`, a `$ref` that is not a pointer into the
/// schema itself (another document, an anchor), a `$dynamicRef` or
/// `$recursiveRef`, or an expansion past [`MAX_EXPANDED`] values.
pub(crate) fn shape(schema: &Value, max_depth: u64) -> Result<Shape, String> {
    let mut shape = Shape::default();
    // Each value, its depth, and the refs followed to reach it (so that a
    // cycle is followed once: checking it recurses only with the input).
    type Link<'a> = Option<Arc<Followed<'a>>>;
    let mut stack: Vec<(&Value, u64, Link<'_>)> = vec![(schema, 1, None)];
    while let Some((value, depth, via)) = stack.pop() {
        shape.values += 1;
        if shape.values > MAX_EXPANDED {
            return Err(format!("through its `$ref`s it expands to over {MAX_EXPANDED} values"));
        }
        if depth > max_depth {
            return Err(format!(
                "it nests over {max_depth} levels deep (following its `$ref`s), over the schema-depth limit of {max_depth}"
            ));
        }
        shape.depth = shape.depth.max(depth);
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    match (key.as_str(), child) {
                        ("pattern", Value::String(_)) if via.is_none() => shape.patterns += 1,
                        ("patternProperties", Value::Object(keys)) if via.is_none() => {
                            shape.patterns += keys.len() as u64;
                        }
                        ("$dynamicRef" | "$recursiveRef", _) => {
                            return Err(format!("it uses `{key}`, which a tool schema may not"));
                        }
                        ("$ref", Value::String(target)) => {
                            let Some(pointer) = target
                                .strip_prefix('#')
                                .filter(|p| p.is_empty() || p.starts_with('/'))
                            else {
                                return Err(format!(
                                    "its `$ref` to `{}` is not a pointer into the schema itself",
                                    crate::text::sanitize(target, 128)
                                ));
                            };
                            if followed(via.as_ref(), pointer) {
                                continue;
                            }
                            let Some(named) = schema.pointer(pointer) else {
                                return Err(format!(
                                    "its `$ref` to `#{}` names nothing",
                                    crate::text::sanitize(pointer, 128)
                                ));
                            };
                            let next = Followed { pointer, before: via.clone() };
                            stack.push((named, depth + 1, Some(Arc::new(next))));
                        }
                        _ => {}
                    }
                    stack.push((child, depth + 1, via.clone()));
                }
            }
            Value::Array(items) => {
                stack.extend(items.iter().map(|item| (item, depth + 1, via.clone())));
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// Refuses `schema` when it passes `bounds`; compiles it otherwise.
///
/// # Errors
///
/// One line saying which bound it passes, or why it does not compile.
pub(crate) fn compile(schema: &Value, bounds: &SchemaBounds) -> Result<Compiled, String> {
    let shape = shape(schema, bounds.depth)?;
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
    Ok(Compiled {
        validator,
        weight: shape.values + shape.patterns * PATTERN_WEIGHT,
        patterns: shape.patterns,
    })
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

impl From<Refused> for crate::PluginError {
    /// What the caller of a tool is told: `invalid-input`, or
    /// `limit-exceeded` for a check past its bounds.
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Invalid(reason) => Self::InvalidInput(reason),
            Refused::Limit(reason) => Self::LimitExceeded(reason),
        }
    }
}

impl Compiled {
    /// Its regular expressions.
    pub fn patterns(&self) -> u64 {
        self.patterns
    }

    /// Checks `input`: inline when it is cheap, else on the schema threads
    /// for at most `timeout`. `tool` gives the tool's name made safe to
    /// show, called only when there is something to say.
    pub async fn check(
        self: &Arc<Self>,
        tool: &(dyn Fn() -> String + Sync),
        input: &str,
        timeout: Duration,
    ) -> Result<(), Refused> {
        let work = self.weight.saturating_mul(input.len() as u64 + 1);
        if work <= INLINE_WORK {
            return self.check_now(tool, input).map_err(Refused::Invalid);
        }
        if work > MAX_WORK {
            return Err(Refused::Limit(format!(
                "the input of tool `{}` ({}) is too large to check against a schema of its weight ({} values and patterns)",
                tool(),
                format_size(input.len() as u64),
                self.weight
            )));
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
        let shape = shape(&schema, 32).unwrap();
        assert_eq!((shape.depth, shape.patterns), (4, 3));
    }

    #[test]
    fn schemas_past_their_bounds_are_refused_before_compiling() {
        let mut deep = json!({});
        for _ in 0..40 {
            deep = json!({ "items": deep });
        }
        let err = compile(&deep, &bounds()).err().unwrap();
        assert!(err.contains("over the schema-depth limit of 32"), "{err}");
        let many: serde_json::Map<String, Value> =
            (0..300).map(|i| (format!("p{i}"), json!({ "pattern": format!("^{i}$") }))).collect();
        let err = compile(&json!({ "properties": many }), &bounds()).err().unwrap();
        assert!(err.contains("300 patterns, over the schema-patterns limit of 256"), "{err}");
    }

    #[test]
    fn refs_are_followed_within_the_schema_and_held_to_the_bounds() {
        // A recursive type (schemars writes these) is fine: a cycle is
        // followed once.
        let tree = json!({
            "$ref": "#/$defs/node",
            "$defs": { "node": { "type": "object", "properties": {
                "children": { "type": "array", "items": { "$ref": "#/$defs/node" } } } } },
        });
        compile(&tree, &bounds()).unwrap();
        // Each definition names the one before twice: 2^24 once expanded,
        // within the deepest nesting a host allows.
        let mut defs = serde_json::Map::new();
        defs.insert("d0".into(), json!({ "type": "string" }));
        for i in 1..25 {
            let before = format!("#/$defs/d{}", i - 1);
            defs.insert(
                format!("d{i}"),
                json!({ "allOf": [{ "$ref": before }, { "$ref": before }] }),
            );
        }
        let blowup = json!({ "$ref": "#/$defs/d24", "$defs": defs });
        let deepest = SchemaBounds { depth: 128, ..bounds() };
        let err = compile(&blowup, &deepest).err().unwrap();
        assert!(err.contains("expands to over 100000 values"), "{err}");
        // A long chain is as deep as it is long.
        let mut defs = serde_json::Map::new();
        for i in 0..5_000 {
            defs.insert(format!("d{i}"), json!({ "$ref": format!("#/$defs/d{}", i + 1) }));
        }
        defs.insert("d5000".into(), json!({ "type": "string" }));
        let chain = json!({ "$ref": "#/$defs/d0", "$defs": defs });
        let err = compile(&chain, &bounds()).err().unwrap();
        assert!(err.contains("over the schema-depth limit"), "{err}");
        for (schema, says) in [
            (json!({ "$ref": "https://example.com/s.json" }), "not a pointer into the schema"),
            (json!({ "$ref": "#anchor" }), "not a pointer into the schema"),
            (json!({ "$ref": "#/nothing" }), "names nothing"),
            (json!({ "$dynamicRef": "#x" }), "`$dynamicRef`"),
        ] {
            let err = compile(&schema, &bounds()).err().unwrap();
            assert!(err.contains(says), "{schema}: {err}");
        }
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
