//! `witplug add REF`: a plugin into the plugins folder and `witplug.lock`,
//! pinned by digest, with the grants it asks for shown and recorded only
//! once the operator accepts them (`--accept-grants` for scripts).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Result, bail};
use witplug_registry::{Lock, Pulled, Reference, Registry};

use crate::output::out;
use crate::registry_args::{RegistryArgs, lock_path};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to add: `REGISTRY/REPOSITORY:TAG` or `…@sha256:…`.
    reference: String,
    /// Its name in the plugins folder (default: the repository's last part).
    #[arg(long)]
    name: Option<String>,
    /// Approve the grants it asks for without asking.
    #[arg(long)]
    accept_grants: bool,
    #[command(flatten)]
    folder: crate::registry_args::FolderArg,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let reference = Reference::parse(&args.reference)?;
    check_pinning(&reference)?;
    let name = plugin_name(args.name.as_deref(), &reference)?;
    let registry = args.registry.registry()?;
    let path = lock_path();
    let mut lock = Lock::load(&path)?;
    let pulled = registry.fetch(&reference, args.registry.allow_unsigned).await?;
    out!("{name}: {}", pulled.reference);
    if let Some(signature) = &pulled.signature {
        out!("  signed by {}", signature.signer);
    }
    let asked = pulled.asked()?;
    let (defaults, _) = crate::host_args::config().limits()?;
    out!("  it asks for:");
    for line in asked.asks(&defaults) {
        out!("    {line}");
    }
    approve(args.accept_grants, &name)?;
    let approved = witplug_registry::approval::approvable(&pulled.manifest_text())?;
    install_locked(&registry, &pulled, &args.folder.dir, &name)?;
    lock.put(pulled.locked(&name, approved));
    lock.save(&path)?;
    out!("added {name} to {} and {}", args.folder.dir.display(), path.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes a fetched plugin into the folder.
pub(crate) fn install_locked(
    registry: &Registry,
    pulled: &Pulled,
    dir: &std::path::Path,
    name: &str,
) -> Result<()> {
    let manifest = pulled.plugin_manifest.as_ref().map(|(_, bytes)| bytes.as_slice());
    registry.install(&pulled.wasm.digest, manifest, dir, name)?;
    Ok(())
}

/// Asks the operator to approve what was shown, unless told to.
pub(crate) fn approve(accepted: bool, name: &str) -> Result<()> {
    if accepted {
        return Ok(());
    }
    let declined = |reason: &str| witplug_registry::Error::Widened {
        plugin: name.to_owned(),
        reason: reason.to_owned(),
    };
    if !std::io::stdin().is_terminal() {
        return Err(declined(
            "its grants are not approved: run again with --accept-grants to approve them",
        )
        .into());
    }
    eprint!("approve these for {name}? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        return Err(declined("not approved; nothing changed").into());
    }
    Ok(())
}

/// The plugin's name: the one given, or the repository's last part.
pub(crate) fn plugin_name(given: Option<&str>, reference: &Reference) -> Result<String> {
    let name = given.unwrap_or_else(|| reference.name());
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        bail!(
            "`{}` is not a plugin name (a-z A-Z 0-9 - _ .)",
            witplug_host::text::sanitize(name, 64)
        );
    }
    Ok(name.to_owned())
}

/// Refuses `latest`, and a tag without a digest, when the configuration
/// asks for pinned sources (`[registry] pinned = true`).
pub(crate) fn check_pinning(reference: &Reference) -> Result<()> {
    if !crate::host_args::config().registry.pinned {
        return Ok(());
    }
    let refused = |reason: &str| witplug_registry::Error::Reference {
        reference: reference.to_string(),
        reason: reason.to_owned(),
    };
    if reference.tag.as_deref() == Some("latest") {
        return Err(
            refused("`latest` is refused where sources are pinned ([registry] pinned)").into()
        );
    }
    if reference.is_floating() {
        return Err(refused(
            "witplug.toml asks for pinned sources ([registry] pinned): give a digest (…@sha256:…)",
        )
        .into());
    }
    Ok(())
}
