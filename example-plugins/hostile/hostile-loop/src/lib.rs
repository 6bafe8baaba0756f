//! Hostile fixture: spins forever; the host's deadline must stop it.

use witplug_sdk::{Plugin, Result};

#[derive(Default)]
struct Spin;

impl Plugin for Spin {
    fn handle(&mut self, _input: &str) -> Result<String> {
        let mut turns = 0u64;
        loop {
            turns = std::hint::black_box(turns.wrapping_add(1));
        }
    }
}

witplug_sdk::export_plugin!(Spin);
