//! Hostile fixture: calls a tool and publishes on a topic it was not granted.
//! Input `tool` or `publish`; the host's `denied` error comes back to it.

use witplug_sdk::{Error, Plugin, Result};

#[derive(Default)]
struct Overreach;

impl Plugin for Overreach {
    fn handle(&mut self, input: &str) -> Result<String> {
        match input {
            "tool" => witplug_sdk::call_tool("shell", "rm -rf /"),
            "publish" => {
                witplug_sdk::send_message("admin.shutdown", b"now")?;
                Ok("published".into())
            }
            other => {
                Err(Error::invalid_input(format!("expected `tool` or `publish`, got {other:?}")))
            }
        }
    }
}

witplug_sdk::export_plugin!(Overreach);
