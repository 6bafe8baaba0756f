//! Hostile fixture: panics; the host must report the panic's message.

use witplug_sdk::{Plugin, Result};

#[derive(Default)]
struct Panicker;

impl Plugin for Panicker {
    fn handle(&mut self, input: &str) -> Result<String> {
        panic!("cannot handle {input:?}");
    }
}

witplug_sdk::export_plugin!(Panicker);
