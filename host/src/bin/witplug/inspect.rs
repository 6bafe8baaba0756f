//! `witplug inspect`: a component's imports and exports as WIT.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use witplug_host::Error;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component file.
    file: PathBuf,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.file)
        .map_err(|source| Error::Io { path: args.file.clone(), source })?;
    println!("{}", witplug_host::component_wit(&args.file, &bytes)?.trim_end());
    Ok(ExitCode::SUCCESS)
}
