//! `witplug`: list, call and inspect component plugins from the command line.

mod call;
mod inspect;
mod list;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load WebAssembly component plugins from a folder and call them.
#[derive(Debug, Parser)]
#[command(name = "witplug", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every plugin in the folder, and every file that failed to load.
    List(list::Args),
    /// Call an export of a plugin, with arguments and results in WAVE.
    Call(call::Args),
    /// Show a component's imports and exports as WIT.
    Inspect(inspect::Args),
}

/// The folder plugins are loaded from.
#[derive(Debug, clap::Args)]
struct PluginsDir {
    /// The plugins folder.
    #[arg(
        long = "plugins",
        value_name = "DIR",
        default_value = "plugins",
        env = "WITPLUG_PLUGINS"
    )]
    dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let rendered = err.render().to_string();
            let first = rendered.lines().next().unwrap_or("error: invalid arguments");
            eprintln!("{first} (see `witplug --help`)");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WITPLUG_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::List(args) => list::run(args).await,
            Command::Call(args) => call::run(args).await,
            Command::Inspect(args) => inspect::run(&args),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
