//! Shows the `greeter` world, a host-defined world: greets in English.

#[derive(Default)]
struct English;

impl witplug_sdk::Greeter for English {
    fn language(&mut self) -> String {
        "English".into()
    }

    fn greet(&mut self, name: &str) -> String {
        format!("Hello, {name}!")
    }
}

witplug_sdk::export_greeter!(English);
