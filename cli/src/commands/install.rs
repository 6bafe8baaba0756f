//! `witplug install`: every plugin `witplug.lock` names, byte for byte,
//! from the content store when it holds them (no network), else from
//! their registries by digest; each checked against the lock and, under a
//! trust policy, its signature, before anything is written. A source of
//! `witplug.toml` (`[registry.sources]`) the lock does not pin yet is
//! resolved and pinned first, once its grants are approved.

use std::process::ExitCode;

use anyhow::Result;
use witplug_registry::{Error, Lock};

use crate::output::out;
use crate::registry_args::{RegistryArgs, lock_path};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    folder: crate::registry_args::FolderArg,
    /// Use the content store only: fail rather than reach a registry.
    #[arg(long)]
    offline: bool,
    /// Approve the grants of sources not yet in the lock without asking.
    #[arg(long)]
    accept_grants: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let path = lock_path();
    let mut lock = Lock::load(&path)?;
    let registry = args.registry.registry()?;
    pin_sources(&args, &registry, &mut lock, &path).await?;
    for locked in &lock.plugins {
        let reference = locked.reference()?;
        let stored = registry.verify_offline(locked, args.registry.allow_unsigned);
        let from = match stored {
            Ok(()) => "the content store",
            Err(Error::NotFound { .. }) if !args.offline => {
                let pulled = registry.fetch(&reference, true).await?;
                if pulled.wasm.digest != locked.wasm {
                    anyhow::bail!("{reference}: its plugin layer is not the one witplug.lock pins");
                }
                // Its signature is checked as the lock recorded it, or
                // fetched anew when the store lost it.
                if let Err(err) = registry.verify_offline(locked, args.registry.allow_unsigned) {
                    if !matches!(err, Error::NotFound { .. }) {
                        return Err(err.into());
                    }
                    registry.fetch(&reference, args.registry.allow_unsigned).await?;
                }
                "its registry"
            }
            Err(err) => return Err(err.into()),
        };
        let manifest = match &locked.manifest {
            Some(digest) => {
                Some(registry.store.get(digest, witplug_registry::layout::MAX_PLUGIN_MANIFEST)?)
            }
            None => None,
        };
        registry.install(&locked.wasm, manifest.as_deref(), &args.folder.dir, &locked.name)?;
        out!("{}: {} from {from}", locked.name, locked.digest);
    }
    out!("installed {} plugins from {}", lock.plugins.len(), path.display());
    Ok(ExitCode::SUCCESS)
}

/// Pins each source of `witplug.toml` that the lock does not hold as it
/// is written (another repository, tag or digest).
async fn pin_sources(
    args: &Args,
    registry: &witplug_registry::Registry,
    lock: &mut Lock,
    path: &std::path::Path,
) -> Result<()> {
    for (name, source) in &crate::host_args::config().registry.sources {
        let reference = witplug_registry::Reference::parse(source)?;
        crate::commands::add::check_pinning(&reference)?;
        let pinned = lock.get(name).is_some_and(|locked| {
            locked.source == reference.repository_path()
                && match &reference.digest {
                    Some(digest) => *digest == locked.digest,
                    None => locked.tag == reference.tag,
                }
        });
        if pinned {
            continue;
        }
        if args.offline {
            anyhow::bail!(
                "{name}: the source {reference} is not pinned in {} yet: run `witplug install` without --offline",
                path.display()
            );
        }
        let pulled = registry.fetch(&reference, args.registry.allow_unsigned).await?;
        out!("{name}: {} (a source of witplug.toml)", pulled.reference);
        out!("  it asks for:");
        for line in pulled.asked()?.asks() {
            out!("    {line}");
        }
        crate::commands::add::approve(args.accept_grants, name)?;
        let approved = witplug_registry::approval::approvable(&pulled.manifest_text())?;
        lock.put(pulled.locked(name, approved));
        lock.save(path)?;
    }
    Ok(())
}
