//! Shows a plugin-provided tool: other plugins call `count-words` through
//! the host when its manifest lists it under `[provides] tools`.

use witplug_sdk::{Error, Plugin, Result};

#[derive(Default)]
struct WordCount {
    served: u64,
}

impl Plugin for WordCount {
    fn run_tool(&mut self, name: &str, input: &str) -> Result<String> {
        match name {
            "count-words" => {
                self.served += 1;
                Ok(input.split_whitespace().count().to_string())
            }
            other => Err(Error::NotFound(other.to_owned())),
        }
    }

    fn handle(&mut self, _input: &str) -> Result<String> {
        Ok(format!("served {} tool calls", self.served))
    }
}

witplug_sdk::export_plugin!(WordCount);
