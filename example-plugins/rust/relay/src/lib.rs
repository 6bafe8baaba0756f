//! Shows plugins chaining: `handle` and the tool it provides pass the input
//! on to the tool named by config `next`, and messages it receives go on to
//! the topic named by config `forward-to`. Two relays pointing at each other
//! make the tool cycle and the message loop the host cuts off. The tools it
//! provides are those its config `tools` names (comma-separated), each
//! taking any JSON and passing it on unchanged.

use witplug_sdk::{Error, Plugin, Result, Tools};

#[derive(Default)]
struct Relay;

fn pass_on(input: &str) -> Result<String> {
    let next =
        witplug_sdk::config("next").ok_or_else(|| Error::failed("config `next` is not set"))?;
    witplug_sdk::call_tool(&next, input)
}

impl Plugin for Relay {
    fn handle(&mut self, input: &str) -> Result<String> {
        pass_on(input)
    }

    fn tools() -> Tools<Self> {
        let names = witplug_sdk::config("tools").unwrap_or_default();
        names.split(',').map(str::trim).filter(|name| !name.is_empty()).fold(
            Tools::new(),
            |tools, name| {
                let any = serde_json::json!({});
                tools.raw_tool(name, "Passes its input on to the tool `next`", any, |_, input| {
                    pass_on(input)
                })
            },
        )
    }

    fn on_message(&mut self, _topic: &str, payload: &[u8]) -> Result<()> {
        match witplug_sdk::config("forward-to") {
            Some(topic) => witplug_sdk::send_message(&topic, payload),
            None => Ok(()),
        }
    }
}

witplug_sdk::export_plugin!(Relay);
