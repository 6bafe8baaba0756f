//! Hostile fixture: answers calls, then never returns from `shutdown`.

use witplug_sdk::{Plugin, Result};

#[derive(Default)]
struct Stubborn;

impl Plugin for Stubborn {
    fn handle(&mut self, _input: &str) -> Result<String> {
        Ok("still here".into())
    }

    fn shutdown(&mut self) {
        let mut turns = 0u64;
        loop {
            turns = std::hint::black_box(turns.wrapping_add(1));
        }
    }
}

witplug_sdk::export_plugin!(Stubborn);
