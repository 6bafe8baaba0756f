//! Shows a plugin-provided tool: other plugins call `count-words` through
//! the host when its manifest lists it under `[provides] tools`. The tool
//! describes itself: its input schema comes from `Text`, its output schema
//! from `usize`, and the host checks each call's input before it runs.

use schemars::JsonSchema;
use serde::Deserialize;
use witplug_sdk::{Plugin, Result, Tools};

/// The input of `count-words`.
#[derive(Deserialize, JsonSchema)]
struct Text {
    /// The text whose words are counted.
    text: String,
}

#[derive(Default)]
struct WordCount {
    served: u64,
}

impl Plugin for WordCount {
    fn tools() -> Tools<Self> {
        Tools::new()
            .tool("count-words", "Counts the words of a text", |this: &mut Self, input: Text| {
                this.served += 1;
                Ok(input.text.split_whitespace().count())
            })
            .read_only()
    }

    fn handle(&mut self, _input: &str) -> Result<String> {
        Ok(format!("served {} tool calls", self.served))
    }
}

witplug_sdk::export_plugin!(WordCount);
