//! Writes the `world!` macro with the absolute path of this crate's `wit/`
//! in it: the macro expands in the plugin's crate, where wit-bindgen must
//! find the framework's contract without the plugin copying it.

use std::path::PathBuf;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let wit = manifest_dir.join("wit");
    println!("cargo::rerun-if-changed=wit");
    println!("cargo::rerun-if-changed=build.rs");
    let wit = wit.to_str().expect("the SDK's path is valid UTF-8");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let source = format!(
        r#"/// Generates the bindings of a host-defined world: one that imports
/// `witplug:plugin/host` (as every plugin does) and exports functions of the
/// host's choosing. The framework's `host` and `types` interfaces are
/// reused from this SDK, so `witplug_sdk::config`, `log::info!` and the
/// rest keep working; the world's exports become a `Guest` trait and an
/// `export!` macro in the calling module, as wit-bindgen makes them.
///
/// `path` is the folder of the host's WIT, relative to the plugin crate;
/// `world` is the world's full name, `namespace:package/world`.
///
/// ```ignore
/// witplug_sdk::world!({{ path: "wit", world: "witplug:i18n/greeter" }});
///
/// struct French;
///
/// impl Guest for French {{
///     fn language() -> String {{
///         "French".into()
///     }}
///
///     fn greet(name: String) -> String {{
///         witplug_sdk::install_logger();
///         format!("Bonjour, {{name}}!")
///     }}
/// }}
///
/// export!(French);
/// ```
#[macro_export]
macro_rules! world {{
    ({{ path: $path:literal, world: $world:literal $(,)? }}) => {{
        ::witplug_sdk::__private::wit_bindgen::generate!({{
            path: [{wit:?}, $path],
            world: $world,
            runtime_path: "witplug_sdk::__private::wit_bindgen::rt",
            with: {{
                "witplug:plugin/host@0.2.0": ::witplug_sdk::__private::plugin::witplug::plugin::host,
                "witplug:plugin/types@0.2.0": ::witplug_sdk::__private::plugin::witplug::plugin::types,
            }},
        }});
    }};
}}
"#
    );
    std::fs::write(out.join("world.rs"), source).expect("writing the world! macro");
}
