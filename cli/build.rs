//! Names the wasmtime version this build links, for `witplug --version`:
//! from the lock file (the workspace's, or the package's own).

use std::path::Path;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let candidates = [Path::new(&dir).join("Cargo.lock"), Path::new(&dir).join("../Cargo.lock")];
    let mut version = None;
    for lock in &candidates {
        println!("cargo:rerun-if-changed={}", lock.display());
        if let Ok(text) = std::fs::read_to_string(lock) {
            let mut lines = text.lines();
            while let Some(line) = lines.next() {
                if line == "name = \"wasmtime\"" {
                    version = lines
                        .next()
                        .and_then(|next| next.strip_prefix("version = \""))
                        .and_then(|rest| rest.strip_suffix('"'))
                        .map(str::to_owned);
                    break;
                }
            }
        }
        if version.is_some() {
            break;
        }
    }
    let version = version.unwrap_or_else(|| "48".to_owned());
    println!("cargo:rustc-env=WITPLUG_WASMTIME_VERSION={version}");
}
