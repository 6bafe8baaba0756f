//! Shows calling host tools: the input is `tool:argument`, and a failing or
//! unknown tool is an error the plugin handles, not a crash.

use witplug_sdk::{Error, Plugin, Result, log};

#[derive(Default)]
struct ToolUser;

impl Plugin for ToolUser {
    fn handle(&mut self, input: &str) -> Result<String> {
        let (tool, argument) = input
            .split_once(':')
            .ok_or_else(|| Error::invalid_input("expected `tool:argument`"))?;
        match witplug_sdk::call_tool(tool, argument) {
            Ok(output) => Ok(format!("{tool} says: {output}")),
            Err(Error::NotFound(name)) => {
                log::warn!("the host has no tool `{name}`");
                Ok(format!("no tool named {name}"))
            }
            Err(Error::Denied(capability)) => Ok(format!("not allowed: {capability}")),
            Err(other) => Err(Error::failed(format!("tool {tool} failed: {}", other.message()))),
        }
    }
}

witplug_sdk::export_plugin!(ToolUser);
