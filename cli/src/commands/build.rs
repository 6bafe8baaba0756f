//! `witplug build`: any plugin crate (or workspace of them), or a Python or
//! JavaScript plugin folder, into components.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::output::out;
use anyhow::{Result, bail};
use witplug_build::{Language, Report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `Cargo.toml` of the plugin crate or workspace, or the folder of
    /// a Python (`app.py`) or JavaScript (`app.js`) plugin.
    #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
    manifest_path: PathBuf,
    /// Where components are written, as `<name>.wasm`.
    #[arg(long, value_name = "DIR", default_value = "plugins")]
    out: PathBuf,
    /// Build in the release profile (optimised; default: dev).
    #[arg(long)]
    release: bool,
    /// Only this plugin, by package name (may be repeated).
    #[arg(short, long = "package", value_name = "NAME")]
    package: Vec<String>,
    /// Python and JavaScript: the witplug contract to build against
    /// (default: the one witplug-build carries). A plugin folder with a
    /// `wit/` of its own has its own world, which may include the
    /// contract's as `witplug:plugin/plugin@0.2.0`.
    #[arg(long, value_name = "DIR")]
    wit: Option<PathBuf>,
    /// Python and JavaScript: a folder of WIT packages (the WASI ones, say)
    /// that a plugin's own world may use, as if in its `wit/deps/` (may be
    /// repeated).
    #[arg(long, value_name = "DIR")]
    wit_deps: Vec<PathBuf>,
    /// Python and JavaScript: the world the plugin targets (default:
    /// `plugin`, or the one world of the folder's own `wit/`).
    #[arg(long, value_name = "WORLD")]
    world: Option<String>,
    /// Python and JavaScript: where their pinned toolchains are installed
    /// (default: `$XDG_CACHE_HOME/witplug/tools` or `~/.cache/witplug/tools`).
    #[arg(long, value_name = "DIR", env = "WITPLUG_TOOLS")]
    tools: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let report = if Language::of(&args.manifest_path).is_some() {
        build_script(args)?
    } else {
        if args.manifest_path.is_dir() {
            bail!(
                "{}: no Cargo.toml, app.py or app.js here (give --manifest-path a Cargo.toml or a \
                 Python or JavaScript plugin folder)",
                args.manifest_path.display()
            );
        }
        let mut options = witplug_build::Options::new(&args.manifest_path, &args.out)
            .profile(if args.release { "release" } else { "dev" });
        for name in &args.package {
            options = options.only(name);
        }
        witplug_build::build(&options, |plugin| out!("{plugin}"))?
    };
    out!(
        "witplug build: {} built, {} up to date, in {}",
        report.built(),
        report.fresh(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A Python or JavaScript plugin folder, with its toolchain installed (on
/// first use) under the user's cache folder.
fn build_script(args: &Args) -> Result<Report> {
    let tools = match &args.tools {
        Some(dir) => dir.clone(),
        None => tools_dir()?,
    };
    let mut options = witplug_build::ScriptOptions::new([&args.manifest_path], &args.out, tools);
    if let Some(world) = &args.world {
        options = options.world(world);
    }
    if let Some(wit) = &args.wit {
        options = options.wit(wit);
    }
    for deps in &args.wit_deps {
        options = options.deps(deps);
    }
    Ok(witplug_build::build_scripts(&options, |plugin| out!("{plugin}"))?)
}

/// `$XDG_CACHE_HOME/witplug/tools` or `~/.cache/witplug/tools`.
fn tools_dir() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")));
    match base {
        Some(base) => Ok(base.join("witplug/tools")),
        None => bail!("neither XDG_CACHE_HOME nor HOME is set: nowhere to install the toolchain"),
    }
}
