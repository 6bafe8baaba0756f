//! The i18n greeter, on witplug: every greeter plugin in `plugins/` greets
//! through typed bindings of the `greeter` world.
//!
//! ```text
//! cargo run -p witplug-host --example i18n_greeter -- "JP"
//! ```
//!
//! The `greeter` world (`examples/i18n/wit/greeter.wit`) is this example's
//! own, defined on top of the framework's imports, the way a host defines
//! its own world: `bindgen!` generates only the world's exports and reuses
//! witplug's bindings of the `host` interface, which the host has already
//! linked. The greeter plugins build against the same file with
//! `witplug_sdk::world!`.

use wasmtime::Result;
use witplug_host::Host;

mod greeter {
    wasmtime::component::bindgen!({
        // The framework's contract, then the example's own world on top.
        path: ["wit/v0.2.0", "examples/i18n/wit"],
        world: "witplug:i18n/greeter",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "witplug:plugin/host": witplug_host::bindings::witplug::plugin::host,
            "witplug:plugin/types": witplug_host::bindings::witplug::plugin::types,
        },
    });
}

#[tokio::main]
async fn main() -> Result<()> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "World".to_owned());
    let dir = std::env::var("WITPLUG_PLUGINS").unwrap_or_else(|_| "plugins".to_owned());

    let host = Host::builder().build()?;
    let report = host.load_dir(&dir).await?;
    let mut greeters = 0;
    for plugin in &report.loaded {
        // Only plugins of the greeter world fit its typed bindings.
        let Some(pre) = plugin.instance_pre() else { continue };
        let Ok(pre) = greeter::GreeterPre::new(pre.clone()) else { continue };
        let mut store = plugin.new_store();
        let greeter = pre.instantiate_async(&mut store).await?;
        println!("Language: {}", greeter.call_language(&mut store).await?);
        println!("Greeting: {}", greeter.call_greet(&mut store, &name).await?);
        greeters += 1;
    }
    wasmtime::ensure!(greeters > 0, "no greeter plugins in {dir}: run `cargo xtask build-plugins`");
    Ok(())
}
