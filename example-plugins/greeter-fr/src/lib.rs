//! Shows configuration: greets in French, with a greeting read from `get-config`.

#[derive(Default)]
struct French;

impl witplug_sdk::Greeter for French {
    fn language(&mut self) -> String {
        "French".into()
    }

    fn greet(&mut self, name: &str) -> String {
        // Set `greeting = "Salut"` under `[config]` in plugins/greeter-fr.toml.
        let greeting = witplug_sdk::config("greeting").unwrap_or_else(|| "Bonjour".into());
        format!("{greeting}, {name}!")
    }
}

witplug_sdk::export_greeter!(French);
