//! Shows configuration in a host-defined world: greets in French, with a
//! greeting read from `get-config` through the SDK's host bindings.

witplug_sdk::world!({ path: "../../../host/examples/i18n/wit", world: "witplug:i18n/greeter" });

struct French;

impl Guest for French {
    fn language() -> String {
        "French".into()
    }

    fn greet(name: String) -> String {
        witplug_sdk::install_logger();
        // Set `greeting = "Salut"` under `[config]` in plugins/greeter-fr.toml.
        let greeting = witplug_sdk::config("greeting").unwrap_or_else(|| "Bonjour".into());
        log::debug!("greeting {name} with {greeting}");
        format!("{greeting}, {name}!")
    }
}

export!(French);
