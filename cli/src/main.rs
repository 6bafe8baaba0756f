//! `witplug`: build, list, call and inspect component plugins from the command line.

mod commands;
mod exit;
mod host_args;
mod nats_args;
mod output;
mod registry_args;
mod rich;
mod table;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::host_args::read_config;
use crate::output::{error_prefix, one_line};

/// Load WebAssembly component plugins from a folder and call them.
#[derive(Debug, Parser)]
#[command(name = "witplug", version, long_version = LONG_VERSION, after_help = exit::HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Colour in help, errors and log lines: `auto` (on a terminal, unless
    /// `NO_COLOR` is set; `CLICOLOR_FORCE` forces it), `always` or `never`
    #[arg(long, value_name = "WHEN", global = true, default_value = "auto")]
    color: ColorWhen,
    /// More of the host's own log lines: `-v` its notices, `-vv` debugging,
    /// `-vvv` everything (`WITPLUG_LOG` wins)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Errors only: no plugin log lines, no host warnings (`WITPLUG_LOG` wins)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// The host's configuration file (default: `witplug.toml` in the
    /// current folder, when there is one); flags and environment
    /// variables win over it
    #[arg(long, value_name = "FILE", global = true, env = "WITPLUG_CONFIG")]
    config: Option<PathBuf>,
}

/// `--version --long`: what this build speaks and holds.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nwasmtime ",
    env!("WITPLUG_WASMTIME_VERSION"),
    "\ncontracts: witplug:plugin@0.1.0, witplug:plugin@0.2.0",
    "\nstandard interfaces: wasi:cli, wasi:io, wasi:clocks, wasi:random, wasi:filesystem, \
     wasi:sockets, wasi:http (0.2), wasi:config@0.2.0-rc.1, wasi:logging@0.1.0-draft, \
     wasi:keyvalue@0.2.0-draft2",
    "\nfeatures: NATS bus, tools and JetStream key-value; MCP server (stdio, streamable HTTP); \
     redb key-value; precompiled cache",
);

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// From `--color` in `args`, read before clap parses them (clap's own
    /// help and errors need to know); `auto` if absent or unreadable.
    fn scan(args: &[std::ffi::OsString]) -> Self {
        let mut words = args.iter().filter_map(|arg| arg.to_str());
        let mut found = None;
        while let Some(word) = words.next() {
            let value = match word.strip_prefix("--color") {
                Some("") => words.next(),
                Some(rest) => rest.strip_prefix('='),
                None => continue,
            };
            found = match value {
                Some("always") => Some(Self::Always),
                Some("never") => Some(Self::Never),
                _ => Some(Self::Auto),
            };
        }
        found.unwrap_or(Self::Auto)
    }

    /// Whether to colour what goes to stderr: the flag, then `NO_COLOR`
    /// (set and not empty: never), then `CLICOLOR_FORCE` (set and not `0`:
    /// always), then whether stderr is a terminal.
    fn stderr(self) -> bool {
        let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto if set("NO_COLOR").is_some() => false,
            Self::Auto if set("CLICOLOR_FORCE").is_some_and(|value| value != "0") => true,
            Self::Auto => std::io::stderr().is_terminal(),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every plugin in the folder, and every file that failed to load.
    List(commands::list::Args),
    /// Call an export of a plugin, with arguments and results in WAVE.
    Call(commands::call::Args),
    /// Show a component's imports and exports as WIT.
    Inspect(commands::inspect::Args),
    /// Load and initialise every plugin, print what happens, and with
    /// `--watch` reload plugins as their files change, until Ctrl-C.
    Run(commands::run::Args),
    /// Serve the plugins' tools to AI agents over the Model Context
    /// Protocol: on stdio, or streamable HTTP with `--http`.
    Mcp(commands::mcp::Args),
    /// Read and change plugins' key-value buckets, as operators do: `list`,
    /// `get`, `set`, `delete`.
    Kv(commands::kv::Args),
    /// Run a workload: call every plugin's `handle` many times, then print
    /// each plugin's metrics (`stats` is the old name).
    #[command(alias = "stats")]
    Workload(commands::workload::Args),
    /// Print a completion script for SHELL (`bash`, `zsh`, `fish`,
    /// `elvish`, `powershell`) on stdout.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Compile every plugin into the cache, so later starts skip compiling.
    Precompile(commands::precompile::Args),
    /// The cache of compiled plugins: `dir`, `prune`, `clean`.
    Cache(commands::cache::Args),
    /// Build plugin crates (a crate or a workspace) into components.
    Build(commands::build::Args),
    /// Create a plugin crate that builds as it stands.
    New(commands::new::Args),
    /// Push a plugin to an OCI registry (CNCF Wasm layout); prints its digest.
    Push(commands::push::Args),
    /// Pull a plugin from a registry into the plugins folder, or a file.
    Pull(commands::pull::Args),
    /// Add a plugin from a registry to the plugins folder and
    /// `witplug.lock`, pinned by digest, approving its grants.
    Add(commands::add::Args),
    /// Install every plugin `witplug.lock` names, byte for byte.
    Install(commands::install::Args),
    /// Move locked plugins to their tags' new digests; a widening of
    /// grants waits for `--accept-grants`.
    Update(commands::update::Args),
    /// Remove a plugin from `witplug.lock` and the plugins folder.
    Remove(commands::remove::Args),
    /// Make a key pair for signing plugins (`key new FILE`).
    Key(commands::key::Args),
    /// Sign an artifact in a registry with a key of `witplug key new`.
    Sign(commands::sign::Args),
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let color = ColorWhen::scan(&args).stderr();
    let clap_color = if color { clap::ColorChoice::Always } else { clap::ColorChoice::Never };
    let parsed = Cli::command().color(clap_color).try_get_matches_from(&args).and_then(|matches| {
        let cli = Cli::from_arg_matches(&matches)?;
        Ok((cli, matches))
    });
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            // Clap's error, its first line (a "did you mean" included) and
            // without colour codes: one line for any reader.
            let rendered = err.render().to_string();
            let mut lines = rendered.lines().filter(|line| !line.trim().is_empty());
            let first = lines.next().unwrap_or("error: invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let tip = lines.find_map(|line| line.trim().strip_prefix("tip: "));
            let prefix = error_prefix(color);
            match tip {
                Some(tip) => eprintln!("{prefix}: {first}; {tip} (see `witplug --help`)"),
                None => eprintln!("{prefix}: {first} (see `witplug --help`)"),
            }
            return ExitCode::from(exit::USAGE);
        }
    };
    if let Err(err) = read_config(cli.config.as_deref(), &matches) {
        let prefix = error_prefix(color);
        eprintln!("{prefix}: {}", one_line(&err));
        return ExitCode::from(exit::HOST);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("WITPLUG_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(match (cli.quiet, cli.verbose) {
            // Plugin logs at info and above; the host's own warnings
            // repeat the error this command prints, so only its errors show.
            (true, _) => "error,witplug::plugin=error",
            (false, 0) => "warn,witplug::plugin=info,witplug::host=error",
            (false, 1) => "info,witplug::plugin=info",
            (false, 2) => "debug",
            (false, _) => "trace",
        })
    });
    // `witplug mcp` also sends plugin log lines to its clients.
    let (plugin_logs, mcp_logs) = witplug_mcp::plugin_logs();
    let plugin_logs = matches!(cli.command, Command::Mcp(_)).then(|| {
        let lines =
            tracing_subscriber::filter::Targets::new().with_target("witplug::plugin", Level::TRACE);
        plugin_logs.with_filter(lines)
    });
    let stderr_lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time()
        .with_filter(filter);
    tracing_subscriber::registry().with(stderr_lines).with(plugin_logs).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::List(args) => commands::list::run(args).await,
            Command::Call(args) => commands::call::run(args, cli.quiet).await,
            Command::Inspect(args) => commands::inspect::run(&args),
            Command::Run(args) => commands::run::run(args).await,
            Command::Mcp(args) => commands::mcp::run(args, mcp_logs).await,
            Command::Kv(args) => commands::kv::run(args).await,
            Command::Workload(args) => commands::workload::run(args).await,
            Command::Completion { shell } => {
                let mut command = Cli::command();
                clap_complete::generate(shell, &mut command, "witplug", &mut std::io::stdout());
                Ok(ExitCode::SUCCESS)
            }
            Command::Precompile(args) => commands::precompile::run(&args),
            Command::Cache(args) => commands::cache::run(&args),
            Command::Build(args) => commands::build::run(&args),
            Command::New(args) => commands::new::run(&args),
            Command::Push(args) => commands::push::run(args).await,
            Command::Pull(args) => commands::pull::run(args).await,
            Command::Add(args) => commands::add::run(args).await,
            Command::Install(args) => commands::install::run(args).await,
            Command::Update(args) => commands::update::run(args).await,
            Command::Remove(args) => commands::remove::run(&args),
            Command::Key(args) => commands::key::run(&args),
            Command::Sign(args) => commands::sign::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            let prefix = error_prefix(color);
            eprintln!("{prefix}: {}", one_line(&err));
            ExitCode::from(exit::code(&err))
        }
    }
}
