//! `witplug build`: any plugin crate (or workspace of them) into components.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::out;
use anyhow::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The `Cargo.toml` of the plugin crate or workspace.
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
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let mut options = witplug_build::Options::new(&args.manifest_path, &args.out)
        .profile(if args.release { "release" } else { "dev" });
    for name in &args.package {
        options = options.only(name);
    }
    let report = witplug_build::build(&options, |plugin| out!("{plugin}"))?;
    out!(
        "witplug build: {} built, {} up to date, in {}",
        report.built(),
        report.fresh(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
