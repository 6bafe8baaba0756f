//! Hostile fixture: logs without end; the host must cut it off.

use witplug_sdk::{Plugin, Result, log};

#[derive(Default)]
struct Flood;

impl Plugin for Flood {
    fn handle(&mut self, _input: &str) -> Result<String> {
        for line in 0u64.. {
            log::info!("flood line {line}");
        }
        Ok(String::new())
    }
}

witplug_sdk::export_plugin!(Flood);
