//! Shows logging through the host: each `log` macro reaches the host's `log` import.

use witplug_sdk::{Error, Plugin, Result, log};

#[derive(Default)]
struct Echo;

impl Plugin for Echo {
    fn init(&mut self) -> Result<()> {
        log::debug!("echo ready");
        Ok(())
    }

    fn handle(&mut self, input: &str) -> Result<String> {
        if input.is_empty() {
            log::warn!("asked to echo nothing");
            return Err(Error::invalid_input("nothing to echo"));
        }
        log::info!("echoing {} bytes", input.len());
        Ok(input.to_owned())
    }
}

witplug_sdk::export_plugin!(Echo);
