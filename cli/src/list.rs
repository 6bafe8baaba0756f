//! `witplug list`: what is in the plugins folder.

use std::process::ExitCode;

use anyhow::Result;

use crate::HostArgs;
use crate::out;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plugins: HostArgs,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let host = args.plugins.host()?;
    let report = host.load_dir(&args.plugins.dir).await?;
    if !report.loaded.is_empty() {
        out!(
            "{:<16} {:<8} {:<8} {:>9}  {:<28} DESCRIPTION",
            "NAME",
            "VERSION",
            "CONTRACT",
            "SIZE",
            "FILE"
        );
    }
    for plugin in &report.loaded {
        let info = plugin.info();
        out!(
            "{:<16} {:<8} {:<8} {:>9}  {:<28} {}",
            plugin.name(),
            dash_if_empty(&info.version),
            info.contract.map_or("-", |contract| contract.version()),
            format!("{:.1} KiB", plugin.size() as f64 / 1024.0),
            plugin.path().display(),
            dash_if_empty(&info.description),
        );
    }
    for error in &report.failed {
        out!("failed: {error}");
    }
    out!("{} loaded, {} failed", report.loaded.len(), report.failed.len());
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn dash_if_empty(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}
