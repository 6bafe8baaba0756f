//! `witplug stats`: a workload of calls, then the metrics table.

use std::process::ExitCode;

use anyhow::{Result, bail};
use witplug_host::Plugin;

use crate::host_args::HostArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plugins: HostArgs,
    /// Calls of `handle` per plugin.
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// The input of every call.
    #[arg(long, default_value = "stats")]
    input: String,
    /// The plugins to call (default: every plugin of the `plugin` world but
    /// the `hostile-*` fixtures).
    plugins_to_call: Vec<String>,
    #[command(flatten)]
    output: crate::output::JsonArg,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let host = args.plugins.host()?;
    let report = host.load_dir(&args.plugins.dir()).await?;
    for error in &report.failed {
        eprintln!("failed: {error}");
    }
    host.init_all().await;
    let selected: Vec<_> = if args.plugins_to_call.is_empty() {
        host.plugins()
            .into_iter()
            .filter(|p| p.is_guest() && !p.name().starts_with("hostile-"))
            .collect()
    } else {
        args.plugins_to_call.iter().map(|name| host.plugin(name)).collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        bail!("no plugins to call in {}", args.plugins.dir().display());
    }
    let workload = selected.iter().map(|plugin| calls(plugin, args.calls, &args.input));
    futures_join_all(workload).await;
    if args.output.json {
        crate::output::print_json(&host.stats())?;
    } else {
        crate::output::out!("{}", host.stats().to_string().trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

async fn calls(plugin: &Plugin, count: usize, input: &str) {
    for _ in 0..count {
        // Failures are what the table counts.
        let _ = plugin.handle(input).await;
    }
}

/// Runs the futures concurrently on this task.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set: Vec<_> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
}
