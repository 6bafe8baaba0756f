//! Hostile fixture: recurses without end until the wasm stack runs out.

use witplug_sdk::{Plugin, Result};

#[derive(Default)]
struct Abyss;

fn descend(depth: u64) -> u64 {
    // `black_box` keeps the compiler from seeing that this never ends, and
    // from turning the recursion into a loop.
    if std::hint::black_box(depth) == u64::MAX {
        return depth;
    }
    std::hint::black_box(descend(depth + 1)) + 1
}

impl Plugin for Abyss {
    fn handle(&mut self, _input: &str) -> Result<String> {
        Ok(descend(0).to_string())
    }
}

witplug_sdk::export_plugin!(Abyss);
