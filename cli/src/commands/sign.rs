//! `witplug sign REF --key FILE`: a DSSE signature of an artifact's
//! manifest, pushed beside it as an OCI 1.1 referrer and listed in its
//! `sha256-<hex>` tag index. Prints the signature's digest.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use witplug_registry::Reference;
use witplug_registry::sign::KeyPair;

use crate::output::out;
use crate::registry_args::RegistryArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The artifact: `REGISTRY/REPOSITORY:TAG` or `…@sha256:…`.
    reference: String,
    /// The secret key (`witplug key new` makes one).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let reference = Reference::parse(&args.reference)?;
    let key = KeyPair::load(&args.key)?;
    let registry = args.registry.registry()?;
    let digest = registry.sign(&reference, &key).await?;
    out!("{digest}");
    Ok(ExitCode::SUCCESS)
}
