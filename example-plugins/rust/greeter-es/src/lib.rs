//! Shows a host-defined world with state: greets in Spanish, warmly on a
//! return visit. A world's exports are plain functions, so the state lives
//! in a thread-local (an instance is single-threaded).

use std::cell::RefCell;
use std::collections::HashSet;

witplug_sdk::world!({ path: "../../../host/examples/i18n/wit", world: "witplug:i18n/greeter" });

thread_local! {
    static SEEN: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

struct Spanish;

impl Guest for Spanish {
    fn language() -> String {
        "Spanish".into()
    }

    fn greet(name: String) -> String {
        if SEEN.with(|seen| seen.borrow_mut().insert(name.clone())) {
            format!("¡Hola, {name}!")
        } else {
            format!("¡Hola otra vez, {name}!")
        }
    }
}

export!(Spanish);
