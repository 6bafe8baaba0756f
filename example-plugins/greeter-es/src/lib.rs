//! Shows the `greeter` world with state: greets in Spanish, warmly on a return visit.

use std::collections::HashSet;

#[derive(Default)]
struct Spanish {
    seen: HashSet<String>,
}

impl witplug_sdk::Greeter for Spanish {
    fn language(&mut self) -> String {
        "Spanish".into()
    }

    fn greet(&mut self, name: &str) -> String {
        if self.seen.insert(name.to_owned()) {
            format!("¡Hola, {name}!")
        } else {
            format!("¡Hola otra vez, {name}!")
        }
    }
}

witplug_sdk::export_greeter!(Spanish);
