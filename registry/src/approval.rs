//! What an operator approves for a plugin: the part of its manifest that
//! says what it may reach and take (`[grants]`, `[limits]`, `[pool]`,
//! `[provides]`), kept in the lock as text, and compared with what a new
//! version asks for (`witplug_host::Manifest::widening`).

/// The sections of a plugin manifest an operator approves, as TOML text
/// (empty for a plugin that carries no manifest).
///
/// # Errors
///
/// [`crate::Error::Refused`] when the manifest does not parse.
pub fn approvable(manifest: &str) -> crate::Result<String> {
    let table: toml::Table = toml::from_str(manifest).map_err(|err| crate::Error::Refused {
        reference: "its plugin manifest".to_owned(),
        reason: crate::error::one_line(err.message()),
    })?;
    let kept: toml::Table = table
        .into_iter()
        .filter(|(key, _)| matches!(key.as_str(), "grants" | "limits" | "pool" | "provides"))
        .collect();
    Ok(toml::to_string(&kept).unwrap_or_default())
}

/// What `asked` asks for beyond `approved`, one line each.
pub fn widening(
    asked: &witplug_host::Manifest,
    approved: &witplug_host::Manifest,
    defaults: &witplug_host::Limits,
) -> Vec<String> {
    asked.widening(approved, defaults)
}
