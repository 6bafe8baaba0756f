//! Shows publishing on the host's message bus: every request becomes a message.

use witplug_sdk::{Plugin, Result};

#[derive(Default)]
struct Messenger {
    sent: u32,
}

impl Plugin for Messenger {
    /// Publishes the input on the configured topic (default `greetings`).
    fn handle(&mut self, input: &str) -> Result<String> {
        let topic = witplug_sdk::config("topic").unwrap_or_else(|| "greetings".to_owned());
        witplug_sdk::send_message(&topic, input.as_bytes())?;
        self.sent += 1;
        Ok(format!("sent message {} on {topic}", self.sent))
    }
}

witplug_sdk::export_plugin!(Messenger);
