//! Shows state kept across calls: the count lives in `&mut self`, no statics.

use witplug_sdk::{Plugin, Result, ResultExt};

#[derive(Default)]
struct Counter {
    count: u64,
}

impl Plugin for Counter {
    fn init(&mut self) -> Result<()> {
        // An optional starting value from the plugin's configuration.
        if let Some(start) = witplug_sdk::config("start") {
            self.count = start
                .parse()
                .invalid_input_with(|_| format!("config `start` is not a number: {start}"))?;
        }
        Ok(())
    }

    /// `"get"` reads the count; anything else adds one and returns the new count.
    fn handle(&mut self, input: &str) -> Result<String> {
        if input != "get" {
            self.count += 1;
        }
        Ok(self.count.to_string())
    }
}

witplug_sdk::export_plugin!(Counter);
