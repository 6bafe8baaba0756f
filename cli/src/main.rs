//! `witplug`: build, list, call and inspect component plugins from the command line.

mod commands;
mod exit;
mod nats_args;
mod table;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use witplug_host::{Host, HostBuilder, units};

/// Prints one line on stdout. A reader that went away (`witplug list |
/// head`) ends the command quietly, where `println!` would panic.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))
    };
}

pub(crate) use out;

/// Prints `value` as one line of JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let line = serde_json::to_string(value)?;
    print_line(format_args!("{line}"));
    Ok(())
}

/// `--json`: data as JSON on stdout instead of a table (diagnostics stay
/// on stderr).
#[derive(Debug, Clone, Copy, clap::Args)]
struct JsonArg {
    /// Print JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
}

fn print_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(err) = writeln!(std::io::stdout().lock(), "{line}") {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {err}");
        std::process::exit(1);
    }
}

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
}

/// The plugins folder, and the limits the host operator sets.
#[derive(Debug, clap::Args)]
struct HostArgs {
    /// The plugins folder.
    #[arg(
        id = "dir",
        long = "plugins",
        value_name = "DIR",
        default_value = "plugins",
        env = "WITPLUG_PLUGINS"
    )]
    dir_arg: PathBuf,
    /// Wall-clock time per call, e.g. `500ms` or `2s` (default 1s).
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    deadline: Option<Duration>,
    /// Linear memory per plugin, e.g. `16MiB` (default 64 MiB).
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    memory: Option<u64>,
    /// Fuel per call; turns on fuel metering (default: off).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Where compiled plugins are cached (default:
    /// `$XDG_CACHE_HOME/witplug` or `~/.cache/witplug`).
    #[arg(long, value_name = "DIR", env = "WITPLUG_CACHE")]
    cache: Option<PathBuf>,
    /// Compile every plugin at each start; use no cache (wins over --cache).
    #[arg(long)]
    no_cache: bool,
    /// The largest plugin file to read, e.g. `64MiB` (default 256 MiB);
    /// larger files are refused before they are read.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    max_file_size: Option<u64>,
    /// Where the host keeps plugins' state: their key-value buckets, in
    /// `DIR/keyvalue.redb` (default: `$XDG_DATA_HOME/witplug` or
    /// `~/.local/share/witplug`).
    #[arg(long = "data", value_name = "DIR", env = "WITPLUG_DATA")]
    data: Option<PathBuf>,
    /// Share a key-value bucket between plugins, e.g. `orders=order-desk,ledger`
    /// (each still needs it in its `[grants] keyvalue`). Repeatable.
    #[arg(long = "share-bucket", value_name = "NAME=PLUGINS", value_parser = parse_share)]
    share_bucket: Vec<(String, Vec<String>)>,
}

/// `NAME=PLUGIN,PLUGIN`.
fn parse_share(text: &str) -> Result<(String, Vec<String>), String> {
    let (name, plugins) =
        text.split_once('=').ok_or_else(|| format!("`{text}` is not NAME=PLUGIN,PLUGIN"))?;
    if !witplug_host::is_bucket_name(name) {
        return Err(format!("`{name}` is not a bucket name (1 to 64 of a-z A-Z 0-9 _ -)"));
    }
    let plugins: Vec<String> =
        plugins.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if plugins.is_empty() {
        return Err(format!("`{text}` names no plugin"));
    }
    Ok((name.to_owned(), plugins))
}

impl HostArgs {
    /// A host whose default limits are the ones given, raising the
    /// ceilings to them where they pass.
    fn host(&self) -> anyhow::Result<Host> {
        Ok(self.builder()?.build()?)
    }

    /// The plugins folder: `--plugins`, else `$WITPLUG_PLUGINS`, else the
    /// configuration file's, else `plugins`.
    fn dir(&self) -> PathBuf {
        match &config().plugins {
            Some(dir) if defaulted("dir") => dir.clone(),
            _ => self.dir_arg.clone(),
        }
    }

    /// The builder of [`HostArgs::host`]: flags first, then the
    /// environment, then the configuration file, then the defaults.
    fn builder(&self) -> anyhow::Result<HostBuilder> {
        let config = config();
        let (mut limits, mut ceilings) = config.limits()?;
        if let Some(deadline) = self.deadline {
            limits.deadline = deadline;
            ceilings.deadline = ceilings.deadline.max(deadline);
        }
        if let Some(memory) = self.memory {
            limits.memory = memory;
            ceilings.memory = ceilings.memory.max(memory);
        }
        if self.fuel.is_some() {
            limits.fuel = self.fuel;
        }
        let mut builder = Host::builder();
        builder.limits(limits).ceilings(ceilings);
        if let Some(dir) = self.cache_dir() {
            builder.cache_dir(dir);
        }
        if let Some(bytes) = self.max_file_size.or(config.max_file_size) {
            builder.max_file_size(bytes);
        }
        if let Some(dir) = self.data_dir() {
            builder.data_dir(dir);
        }
        for (name, plugins) in self.shared_buckets() {
            builder.share_bucket(name, plugins);
        }
        Ok(builder)
    }

    /// The buckets shared: the configuration file's, and `--share-bucket`'s.
    fn shared_buckets(&self) -> Vec<(String, Vec<String>)> {
        let from_file = config().shared_buckets.iter().map(|(k, v)| (k.clone(), v.clone()));
        from_file.chain(self.share_bucket.iter().cloned()).collect()
    }

    /// The data folder: the one given, the configuration file's, or the
    /// user's data folder.
    fn data_dir(&self) -> Option<PathBuf> {
        self.data
            .clone()
            .or_else(|| config().data.clone())
            .or_else(|| user_dir("XDG_DATA_HOME", ".local/share"))
    }

    /// The cache folder: the one given, the configuration file's, or the
    /// user's cache folder.
    fn cache_dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache.clone().or_else(|| config().cache.clone()).or_else(default_cache_dir)
    }
}

/// The host's configuration file, read once before the command runs.
static CONFIG: std::sync::OnceLock<witplug_host::HostConfig> = std::sync::OnceLock::new();

/// The command's arguments (by id) that took their default value, which
/// the configuration file may then set.
static DEFAULTED: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();

/// The configuration file's settings (none without a file).
fn config() -> &'static witplug_host::HostConfig {
    CONFIG.get_or_init(witplug_host::HostConfig::default)
}

/// Whether the argument `id` took its default value.
fn defaulted(id: &str) -> bool {
    DEFAULTED.get().is_some_and(|ids| ids.contains(&id))
}

/// Reads `--config FILE`, or `witplug.toml` in the current folder when
/// there is one, and notes which of the command's arguments it may set.
fn read_config(path: Option<&std::path::Path>, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let config = match path {
        Some(path) => witplug_host::HostConfig::load(path)?
            .ok_or_else(|| anyhow::anyhow!("{}: no such configuration file", path.display()))?,
        None => witplug_host::HostConfig::load("witplug.toml".as_ref())?.unwrap_or_default(),
    };
    let _ = CONFIG.set(config);
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    let defaulted = ["dir", "nats_prefix", "kv"]
        .into_iter()
        .filter(|id| {
            leaf.ids().any(|present| present.as_str() == *id)
                && leaf.value_source(id) == Some(clap::parser::ValueSource::DefaultValue)
        })
        .collect();
    let _ = DEFAULTED.set(defaulted);
    Ok(())
}

/// Tells on stderr, when it is a terminal, of each compile that takes
/// over a second (a first load of a Python or JavaScript plugin), so that
/// seconds of work are not seconds of silence; in a pipe, says nothing.
fn show_compiles(host: &Host) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let mut events = host.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(
                    event @ (witplug_host::Event::Compiling { .. }
                    | witplug_host::Event::Compiled { .. }),
                ) => {
                    eprintln!("{event}");
                }
                Ok(_) | Err(witplug_host::RecvError::Lagged(_)) => {}
                Err(witplug_host::RecvError::Closed) => break,
            }
        }
    });
}

/// `$XDG_CACHE_HOME/witplug` or `~/.cache/witplug`.
fn default_cache_dir() -> Option<PathBuf> {
    user_dir("XDG_CACHE_HOME", ".cache")
}

/// `$XDG_VAR/witplug`, or `~/UNDER_HOME/witplug` when it is not set.
fn user_dir(xdg_var: &str, under_home: &str) -> Option<PathBuf> {
    let base = std::env::var_os(xdg_var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(under_home)))?;
    Some(base.join("witplug"))
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

/// `error`, in bold red when colouring.
fn error_prefix(color: bool) -> &'static str {
    if color { "\x1b[1;31merror\x1b[0m" } else { "error" }
}

/// An error and those of its causes its message does not already say, on
/// one line (see [`witplug_build::one_line`]).
fn one_line(err: &anyhow::Error) -> String {
    witplug_build::one_line(err.chain().map(ToString::to_string))
}
