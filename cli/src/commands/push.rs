//! `witplug push FILE REF`: a plugin into a registry, in the CNCF Wasm
//! layout, with its manifest (`FILE.toml` beside it, or `--manifest`).
//! Prints the artifact's digest.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use witplug_registry::Reference;

use crate::output::out;
use crate::registry_args::RegistryArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin: a component, a core module or WAT.
    file: PathBuf,
    /// Where to: `REGISTRY/REPOSITORY:TAG`.
    reference: String,
    /// Its manifest (default: the file's `.toml` beside it, when there is one).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let reference = Reference::parse(&args.reference)?;
    let beside = args.file.with_extension("toml");
    let manifest = args.manifest.clone().or_else(|| beside.is_file().then_some(beside));
    let registry = args.registry.registry()?;
    let digest = registry.push(&args.file, manifest.as_deref(), &reference).await?;
    out!("{digest}");
    Ok(ExitCode::SUCCESS)
}
