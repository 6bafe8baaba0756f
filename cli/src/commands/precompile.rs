//! `witplug precompile`: fill the cache ahead of time.

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::host_args::HostArgs;
use crate::output::out;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plugins: HostArgs,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let Some(cache) = args.plugins.cache_dir() else {
        bail!("precompile needs a cache folder: give --cache DIR or set HOME");
    };
    let host = args.plugins.host()?;
    let (done, failed) = host.precompile(args.plugins.dir())?;
    for path in &done {
        out!("compiled {}", path.display());
    }
    for error in &failed {
        out!("failed: {error}");
    }
    out!("{} compiled into {}, {} failed", done.len(), cache.display(), failed.len());
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
