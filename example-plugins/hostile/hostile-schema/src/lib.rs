//! Hostile fixture: describes one tool, `hostile-tool`, whose schema is
//! chosen to cost the host as much as a schema can. Its manifest's
//! `[config] attack` picks the schema:
//! - `patterns`: 2,000 long `pattern`s (some 120 KB);
//! - `backreference`: a pattern only a backtracking engine takes;
//! - `deep`: nesting 100 levels deep;
//! - `huge`: a 2 MiB description;
//! - `heavy`: 200 patterns, each run over every string of the input;
//! - anything else: `^(\w+\s?)*$`, which backtracks exponentially in a
//!   backtracking engine on a long run of words that does not match.
//!
//! With no `attack` it describes no tool, so it loads in the plugins folder
//! beside the others.
//!
//! The tool echoes its input.

use serde_json::{Value, json};
use witplug_sdk::{Plugin, Result, Tools, config};

#[derive(Default)]
struct Hostile;

fn schema(attack: &str) -> (String, Value) {
    let mut description = "Echoes its input".to_owned();
    let schema = match attack {
        "patterns" => {
            let patterns: Vec<Value> = (0..2_000)
                .map(|i| json!({ "pattern": format!("^(a{i}|b{i}|c{i}|d{i}|e{i}|f{i}|g{i}|h{i}|i{i})+[0-9a-z]{{1,40}}$") }))
                .collect();
            json!({ "type": "string", "allOf": patterns })
        }
        "backreference" => json!({ "type": "string", "pattern": r"^(\w+\s?)*\1$" }),
        "deep" => {
            let mut deep = json!({ "type": "string" });
            for _ in 0..100 {
                deep = json!({ "type": "array", "items": deep });
            }
            deep
        }
        "huge" => {
            description = "x".repeat(2 << 20);
            json!({})
        }
        "heavy" => {
            let patterns: Vec<Value> =
                (0..200).map(|i| json!({ "pattern": format!(r"(\w+\s?)*{i}z$") })).collect();
            json!({ "type": "object", "additionalProperties": { "type": "string", "allOf": patterns } })
        }
        _ => json!({
            "type": "object",
            "properties": { "text": { "type": "string", "pattern": r"^(\w+\s?)*$" } },
            "required": ["text"],
        }),
    };
    (description, schema)
}

impl Plugin for Hostile {
    fn tools() -> Tools<Self> {
        let Some(attack) = config("attack") else { return Tools::new() };
        let (description, schema) = schema(&attack);
        Tools::new().raw_tool("hostile-tool", &description, schema, |_, input| Ok(input.to_owned()))
    }

    fn handle(&mut self, input: &str) -> Result<String> {
        Ok(input.to_owned())
    }
}

witplug_sdk::export_plugin!(HostileSchema);

type HostileSchema = Hostile;
