//! `witplug remove NAME`: a plugin out of `witplug.lock` and the plugins
//! folder.

use std::process::ExitCode;

use anyhow::Result;
use witplug_registry::Lock;

use crate::output::out;
use crate::registry_args::lock_path;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin.
    name: String,
    #[command(flatten)]
    folder: crate::registry_args::FolderArg,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let path = lock_path();
    let mut lock = Lock::load(&path)?;
    if lock.remove(&args.name).is_none() {
        return Err(crate::exit::NotFound(format!(
            "{}: no plugin `{}`",
            path.display(),
            args.name
        ))
        .into());
    }
    lock.save(&path)?;
    for ext in ["wasm", "toml"] {
        let file = args.folder.dir.join(format!("{}.{ext}", args.name));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => anyhow::bail!("{}: {err}", file.display()),
        }
    }
    out!("removed {} from {} and {}", args.name, path.display(), args.folder.dir.display());
    Ok(ExitCode::SUCCESS)
}
