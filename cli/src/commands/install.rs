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
    let pinned = pin_sources(&args, &registry, &mut lock).await?;
    // Everything checked first; nothing written until all of it holds.
    let mut ready = Vec::new();
    let mut resigned = false;
    for locked in &mut lock.plugins {
        let reference = locked.reference()?;
        let stored = registry.verify_offline(locked, args.registry.allow_unsigned);
        let from = match stored {
            Ok(()) => "the content store",
            // Missing from the store, or signed by a key the policy no longer
            // names (a rotation): fetched again, and its signature with it.
            Err(Error::NotFound { .. } | Error::Untrusted { .. }) if !args.offline => {
                let pulled = registry.fetch(&reference, args.registry.allow_unsigned).await?;
                if pulled.wasm.digest != locked.wasm
                    || pulled.plugin_manifest.as_ref().map(|(d, _)| d) != locked.manifest.as_ref()
                {
                    return Err(witplug_registry::Error::Refused {
                        reference: reference.to_string(),
                        reason: "its layers are not the ones witplug.lock pins".to_owned(),
                    }
                    .into());
                }
                // A signature fetched anew (the store lost the old one, or
                // the policy now names another key) is recorded.
                if let Some(signature) = pulled.signature
                    && locked.signature.as_ref() != Some(&signature.digest)
                {
                    locked.signature = Some(signature.digest);
                    locked.signed_by = Some(signature.signer);
                    resigned = true;
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
        ready.push((locked.clone(), manifest, from));
    }
    for (locked, manifest, from) in &ready {
        registry.install(&locked.wasm, manifest.as_deref(), &args.folder.dir, &locked.name)?;
        out!("{}: {} from {from}", locked.name, locked.digest);
    }
    if pinned || resigned {
        lock.save(&path)?;
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
) -> Result<bool> {
    let mut pinned_any = false;
    for (name, source) in &crate::host_args::config().registry.sources {
        let reference = witplug_registry::Reference::parse(source)?;
        let name = &crate::commands::add::plugin_name(Some(name), &reference)?;
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
                "{name}: the source {reference} is not pinned in witplug.lock yet: run `witplug install` without --offline"
            );
        }
        let pulled = registry.fetch(&reference, args.registry.allow_unsigned).await?;
        out!("{name}: {} (a source of witplug.toml)", pulled.reference);
        out!("  it asks for:");
        for line in pulled.asked()?.asks(&crate::host_args::config().limits()?.0) {
            out!("    {line}");
        }
        crate::commands::add::approve(args.accept_grants, name)?;
        let approved = witplug_registry::approval::approvable(&pulled.manifest_text())?;
        lock.put(pulled.locked(name, approved));
        pinned_any = true;
    }
    Ok(pinned_any)
}
