//! `witplug pull REF`: a plugin from a registry into a plugins folder (as
//! `NAME.wasm`, with `NAME.toml` when the artifact carries a manifest) or
//! to one file. Every digest is checked, and the signature when the trust
//! policy asks for one; nothing is written unless all of it holds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use witplug_registry::Reference;

use crate::output::out;
use crate::registry_args::RegistryArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to pull: `REGISTRY/REPOSITORY:TAG` or `…@sha256:…`.
    reference: String,
    #[command(flatten)]
    folder: crate::registry_args::FolderArg,
    /// Write the plugin to this file instead (its manifest beside it, as `.toml`).
    #[arg(short = 'o', long = "output", value_name = "FILE", conflicts_with = "dir")]
    output: Option<PathBuf>,
    /// Its name in the folder (default: the repository's last part).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let reference = Reference::parse(&args.reference)?;
    crate::commands::add::check_pinning(&reference)?;
    let registry = args.registry.registry()?;
    let pulled = registry.fetch(&reference, args.registry.allow_unsigned).await?;
    let manifest = pulled.plugin_manifest.as_ref().map(|(_, bytes)| bytes.as_slice());
    let written = match &args.output {
        Some(file) => {
            registry.copy_out(&pulled.wasm.digest, file)?;
            if let Some(toml) = manifest {
                witplug_registry::write_aside(&file.with_extension("toml"), toml)?;
            }
            file.clone()
        }
        None => {
            let name = crate::commands::add::plugin_name(args.name.as_deref(), &reference)?;
            registry.install(&pulled.wasm.digest, manifest, &args.folder.dir, &name)?
        }
    };
    out!("pulled {} into {}", pulled.reference, written.display());
    if let Some(signature) = &pulled.signature {
        out!("signed by {}", signature.signer);
    }
    Ok(ExitCode::SUCCESS)
}
