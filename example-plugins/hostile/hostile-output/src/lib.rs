//! Hostile fixture: returns a 100 MiB result; the host must refuse it.

use witplug_sdk::{Plugin, Result};

#[derive(Default)]
struct Firehose;

impl Plugin for Firehose {
    fn handle(&mut self, _input: &str) -> Result<String> {
        Ok("x".repeat(100 << 20))
    }
}

witplug_sdk::export_plugin!(Firehose);
