//! Project tasks, run as `cargo xtask <task>` (see `cargo xtask help`).

mod build_plugins;
mod docker_registry;
mod mcp_conformance;
mod nats_server;
mod new_plugin;
mod package;
mod run;
mod venv;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  build-plugins [-p NAME]... [--out DIR] [--dir DIR]
                    build every plugin under example-plugins/ (or DIR)
                    into a component at plugins/<name>.wasm (or DIR of --out)
  new-plugin NAME [--world plugin|greeter] [--dir DIR]
                    create a plugin crate under example-plugins/rust/ (or DIR)
  demo              build the plugins and run them in the host
  test              build the plugins and run every test (installs nats-server
                    under target/tools/ for the NATS tests)
  package [ARGS]    package the published crates (ARGS go to `cargo package`)
                    and check that each compiles from its package alone
  bench             measure witplug against wasmtime by hand; writes BENCHMARKS.md
  help              show this message";

fn main() {
    if let Err(err) = try_main() {
        eprintln!("error: {}", witplug_build::one_line(err.chain().map(ToString::to_string)));
        std::process::exit(1);
    }
}

fn try_main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_else(|| "help".to_owned());
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "build-plugins" => build_plugins::run(&build_plugins::Options::parse(&rest)?),
        "new-plugin" => new_plugin::run(&new_plugin::Options::parse(&rest)?),
        "demo" => run::demo(&rest),
        "test" => run::test(&rest),
        "package" => package::run(&rest),
        "bench" => run::bench(),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("{USAGE}");
            bail!("unknown task `{other}` (the tasks are above)")
        }
    }
}

/// The workspace root: the parent of this crate's folder.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR`, or `target/`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// The `cargo` that runs this task, so nested builds use the same toolchain.
fn cargo() -> std::process::Command {
    std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Takes the value after a flag such as `--out`, failing when it is missing.
fn flag_value(flag: &str, value: Option<&String>) -> Result<String> {
    match value {
        Some(v) if !v.starts_with('-') => Ok(v.clone()),
        _ => bail!("`{flag}` needs a value"),
    }
}
