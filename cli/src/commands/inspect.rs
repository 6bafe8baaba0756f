//! `witplug inspect`: a component's imports and exports as WIT, and what
//! each import gives it under its manifest.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::output::out;
use anyhow::Result;
use witplug_host::Manifest;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The component file; its manifest, if any, is the `.toml` beside it.
    file: PathBuf,
    #[command(flatten)]
    output: crate::output::JsonArg,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let inspection = witplug_host::compile::inspect_file(&args.file)?;
    let manifest_path = args.file.with_extension("toml");
    let manifest = Manifest::load(&manifest_path)?;
    if args.output.json {
        let granted = manifest.as_ref().map(|m| m.grants.clone()).unwrap_or_default();
        let gives: std::collections::BTreeMap<&str, String> = inspection
            .imports
            .iter()
            .map(|import| (import.as_str(), granted.describe(import)))
            .collect();
        let mut shown = serde_json::to_value(&inspection)?;
        shown["file"] = args.file.to_string_lossy().into();
        shown["manifest"] = manifest.is_some().then(|| manifest_path.to_string_lossy()).into();
        shown["gives"] = serde_json::to_value(gives)?;
        crate::output::print_json(&shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", inspection.wit.trim_end());
    out!("");
    match &inspection.contract {
        Ok(Some(contract)) => out!("// Contract: witplug:plugin@{contract}"),
        Ok(None) => out!("// Contract: none (a component of standard interfaces only)"),
        Err(reason) => out!("// Contract: refused: it {reason}"),
    }
    match &manifest {
        Some(_) => out!("// What each import gives it, under {}:", manifest_path.display()),
        None => out!("// What each import gives it (no manifest: nothing granted):"),
    }
    let grants = manifest.map(|m| m.grants).unwrap_or_default();
    let width = inspection.imports.iter().map(String::len).max().unwrap_or(0);
    for import in &inspection.imports {
        out!("//   {import:<width$}  {}", grants.describe(import));
    }
    Ok(ExitCode::SUCCESS)
}
