//! A component built with plain `wit-bindgen` against standard WASI
//! interfaces only, as any component toolchain would build it: it reads
//! its configuration through `wasi:config/store` and logs through
//! `wasi:logging/logging`. witplug links both for every component, so it
//! loads and runs with no witplug SDK and no witplug contract; the host
//! calls its `greet` export dynamically:
//!
//! ```text
//! $ witplug call wasi-greeter greet '"JP"'
//! "Bonjour, JP!"        (with `[config] greeting = "Bonjour"` in wasi-greeter.toml)
//! ```

#![expect(unsafe_code, reason = "the glue wit-bindgen generates for the exports")]

wit_bindgen::generate!({
    path: ["../../../wit/deps/config", "../../../wit/deps/logging", "wit"],
    world: "witplug-example:wasi-greeter/greeter",
    generate_all,
});

use wasi::config::store;
use wasi::logging::logging::{Level, log};

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        let greeting = match store::get("greeting") {
            Ok(Some(greeting)) => greeting,
            Ok(None) => "Hello".to_owned(),
            Err(err) => {
                log(Level::Warn, "config", &format!("no greeting: {err:?}"));
                "Hello".to_owned()
            }
        };
        let keys = store::get_all().map_or(0, |all| all.len());
        log(Level::Info, "greet", &format!("greeting {name} ({keys} config keys)"));
        format!("{greeting}, {name}!")
    }
}

export!(Greeter);
