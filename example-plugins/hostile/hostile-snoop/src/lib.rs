//! Hostile fixture: reads a host file (input `file:PATH`) or an environment
//! variable (input `env:NAME`); without a grant, neither is there.

use witplug_sdk::{Error, Plugin, Result, ResultExt};

#[derive(Default)]
struct Snoop;

impl Plugin for Snoop {
    fn handle(&mut self, input: &str) -> Result<String> {
        match input.split_once(':') {
            Some(("file", path)) => std::fs::read_to_string(path)
                .failed_with(|err| format!("cannot read {path}: {err}")),
            Some(("env", name)) => {
                std::env::var(name).failed_with(|err| format!("cannot read ${name}: {err}"))
            }
            _ => Err(Error::invalid_input("expected `file:PATH` or `env:NAME`")),
        }
    }
}

witplug_sdk::export_plugin!(Snoop);
