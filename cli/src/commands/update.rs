//! `witplug update [NAME]`: each locked plugin's tag resolved again and,
//! when it moved, the new version fetched and its grants compared with the
//! approved ones: a narrowing goes through, a widening waits until the
//! operator accepts it (`--accept-grants`), shown line by line.

use std::process::ExitCode;

use anyhow::Result;
use witplug_registry::{Lock, Reference};

use crate::output::out;
use crate::registry_args::{RegistryArgs, lock_path};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this plugin (default: every plugin in the lock with a tag).
    name: Option<String>,
    /// Accept what the new versions ask for beyond what was approved.
    #[arg(long)]
    accept_grants: bool,
    #[command(flatten)]
    folder: crate::registry_args::FolderArg,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let path = lock_path();
    let mut lock = Lock::load(&path)?;
    if let Some(name) = &args.name
        && lock.get(name).is_none()
    {
        return Err(crate::exit::NotFound(format!("{}: no plugin `{name}`", path.display())).into());
    }
    let registry = args.registry.registry()?;
    let (defaults, _) = crate::host_args::config().limits()?;
    let mut refused = Vec::new();
    for locked in lock.plugins.clone() {
        if args.name.as_ref().is_some_and(|name| *name != locked.name) {
            continue;
        }
        let Some(tag) = &locked.tag else {
            out!("{}: pinned to {} without a tag; nothing to update", locked.name, locked.digest);
            continue;
        };
        let reference = Reference::parse(&format!("{}:{tag}", locked.source))?;
        let pulled = registry.fetch(&reference, args.registry.allow_unsigned).await?;
        let digest = pulled.reference.digest.clone().unwrap_or_default();
        if digest == locked.digest {
            out!("{}: {tag} is still {digest}", locked.name);
            continue;
        }
        out!("{}: {tag} moved from {} to {digest}", locked.name, locked.digest);
        let approved = locked.approved_manifest()?;
        let asked = pulled.asked()?;
        let more = asked.widening(&approved, &defaults);
        let fewer = approved.widening(&asked, &defaults);
        for line in &fewer {
            out!("  - {line}");
        }
        for line in &more {
            out!("  + {line}");
        }
        if !more.is_empty() && !args.accept_grants {
            refused.push(locked.name.clone());
            out!("  refused: it asks for more than was approved (--accept-grants to approve)");
            continue;
        }
        let approvable = witplug_registry::approval::approvable(&pulled.manifest_text())?;
        crate::commands::add::install_locked(&registry, &pulled, &args.folder.dir, &locked.name)?;
        lock.put(pulled.locked(&locked.name, approvable));
        lock.save(&path)?;
    }
    if !refused.is_empty() {
        return Err(witplug_registry::Error::Widened {
            plugin: path.display().to_string(),
            reason: format!(
                "not updated, their new versions ask for more than was approved: {}",
                refused.join(", ")
            ),
        }
        .into());
    }
    Ok(ExitCode::SUCCESS)
}
