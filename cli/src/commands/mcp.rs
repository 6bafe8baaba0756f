//! `witplug mcp`: the plugins folder's tools, served to AI agents over the
//! Model Context Protocol (stdio by default, streamable HTTP with `--http`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use witplug_host::{Event, observe::RecvError};
use witplug_mcp::{HttpOptions, LogReceiver, McpOptions, McpServer};

use crate::commands::run::WatchArgs;
use crate::host_args::HostArgs;
use crate::nats_args::NatsArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plugins: HostArgs,
    /// Serve streamable HTTP at this address (at `/mcp`) instead of stdio;
    /// port 0 picks a free one, printed on stderr
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// The bearer token HTTP clients must send, from this file; required
    /// for an address other than loopback
    #[arg(long, value_name = "FILE", requires = "http")]
    token_file: Option<PathBuf>,
    /// An origin allowed to reach the HTTP server besides loopback's
    /// (e.g. `https://app.example.com`); may be repeated
    #[arg(long, value_name = "ORIGIN", requires = "http")]
    allow_origin: Vec<String>,
    /// Offer only the tools whose names match this pattern (`*` for any
    /// run of characters); may be repeated
    #[arg(long, value_name = "PATTERN")]
    expose: Vec<String>,
    /// Also offer each default-world plugin's `handle` as a tool named
    /// after the plugin
    #[arg(long)]
    expose_handle: bool,
    /// The most one incoming message may take (a request over it is
    /// answered with an error naming its size and this bound)
    #[arg(long, value_name = "SIZE", default_value = "16 MiB", value_parser = witplug_host::config::units::parse_size)]
    max_message: u64,
    // With `--watch`, clients also hear that the tools changed.
    #[command(flatten)]
    watch: WatchArgs,
    #[command(flatten)]
    nats: NatsArgs,
}

pub async fn run(args: Args, logs: LogReceiver) -> Result<ExitCode> {
    let mut builder = args.plugins.builder()?;
    args.nats.apply(&mut builder).await?;
    let host = Arc::new(builder.build()?);
    // Stdout is the protocol's (over stdio): everything else goes to stderr.
    let report = host.load_dir(&args.plugins.dir()).await?;
    for error in &report.failed {
        eprintln!("failed: {error}");
    }
    for error in host.init_all().await {
        eprintln!("failed: {error}");
    }
    let max_message = usize::try_from(args.max_message).unwrap_or(usize::MAX);
    let options = McpOptions::default().expose_handle(args.expose_handle).max_message(max_message);
    let options = args.expose.iter().fold(options, |options, p| options.expose(p));
    let server = McpServer::new(host.clone(), options);
    tokio::spawn({
        let server = server.clone();
        async move { server.forward_logs(logs).await }
    });
    let _watcher = args.watch.watch.then(|| host.watch(args.plugins.dir(), args.watch.interval));
    if args.watch.watch {
        let mut events = host.events();
        let server = server.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::Loaded { .. } | Event::Unloaded { .. } | Event::Reloaded { .. })
                    | Err(RecvError::Lagged(_)) => server.tools_changed().await,
                    Ok(_) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
    let tools = match host.tools().len() {
        1 => "1 tool".to_owned(),
        n => format!("{n} tools"),
    };
    match args.http {
        None => {
            eprintln!("serving {tools} over MCP on stdio");
            server.serve_stdio().await?;
        }
        Some(addr) => {
            let mut options = HttpOptions::new(addr);
            if let Some(file) = &args.token_file {
                options = options.token_file(file);
            }
            for origin in &args.allow_origin {
                options = options.allow_origin(origin);
            }
            let bound = |addr| eprintln!("serving {tools} over MCP at http://{addr}/mcp");
            let shutdown = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            witplug_mcp::serve_http(server, options, bound, shutdown).await?;
        }
    }
    for error in host.stop_all().await {
        eprintln!("failed: {error}");
    }
    Ok(ExitCode::SUCCESS)
}
