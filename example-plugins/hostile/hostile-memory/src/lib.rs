//! Hostile fixture: allocates 1 MiB at a time until the host refuses to grow
//! its memory.

use witplug_sdk::{Plugin, Result};

#[derive(Default)]
struct Hog {
    hoard: Vec<Vec<u8>>,
}

impl Plugin for Hog {
    fn handle(&mut self, _input: &str) -> Result<String> {
        loop {
            self.hoard.push(vec![1; 1 << 20]);
        }
    }
}

witplug_sdk::export_plugin!(Hog);
