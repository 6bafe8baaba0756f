//! `witplug list`: what is in the plugins folder.

use std::process::ExitCode;

use anyhow::Result;

use crate::host_args::HostArgs;
use crate::output::out;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plugins: HostArgs,
    #[command(flatten)]
    output: crate::output::JsonArg,
}

/// One plugin, as `--json` shows it.
#[derive(serde::Serialize)]
struct Listed<'a> {
    name: &'a str,
    version: &'a str,
    contract: Option<witplug_host::contract::Contract>,
    size: u64,
    file: std::borrow::Cow<'a, str>,
    description: &'a str,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let host = args.plugins.host()?;
    crate::output::show_compiles(&host);
    let report = host.load_dir(&args.plugins.dir()).await?;
    let code = if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    if args.output.json {
        let infos: Vec<_> = report.loaded.iter().map(|plugin| (plugin, plugin.info())).collect();
        let plugins: Vec<Listed<'_>> = infos
            .iter()
            .map(|(plugin, info)| Listed {
                name: plugin.name(),
                version: &info.version,
                contract: info.contract,
                size: plugin.size(),
                file: plugin.path().to_string_lossy(),
                description: &info.description,
            })
            .collect();
        let failed: Vec<String> = report.failed.iter().map(ToString::to_string).collect();
        crate::output::print_json(&serde_json::json!({ "plugins": plugins, "failed": failed }))?;
        return Ok(code);
    }
    if !report.loaded.is_empty() {
        let header = ["NAME", "VERSION", "CONTRACT", "SIZE", "FILE", "DESCRIPTION"];
        let rows = report.loaded.iter().map(|plugin| {
            let info = plugin.info();
            vec![
                crate::table::cell(plugin.name(), 32),
                crate::table::cell(dash_if_empty(&info.version), 16),
                info.contract.map_or("-", |contract| contract.version()).to_owned(),
                witplug_build::human_size(plugin.size()),
                crate::table::cell(&plugin.path().display().to_string(), 1024),
                crate::table::cell(dash_if_empty(&info.description), 1024),
            ]
        });
        // Past the terminal's width, the file is cut (to 24 characters),
        // then the description.
        out!("{}", crate::table::render(&header, rows.collect(), &[(4, 24), (5, 8)]));
    }
    for error in &report.failed {
        out!("failed: {}", crate::table::cell(&error.to_string(), 4096));
    }
    out!("{} loaded, {} failed", report.loaded.len(), report.failed.len());
    Ok(code)
}

fn dash_if_empty(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}
