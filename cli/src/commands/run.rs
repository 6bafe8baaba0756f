//! `witplug run [--watch] [--nats URL]`: a long-running host over the
//! plugins folder, alone or on a NATS bus shared with other hosts.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use witplug_host::config::units;
use witplug_host::observe::RecvError;

use crate::host_args::HostArgs;
use crate::nats_args::NatsArgs;
use crate::output::out;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plugins: HostArgs,
    #[command(flatten)]
    watch: WatchArgs,
    #[command(flatten)]
    nats: NatsArgs,
    /// Print each event as one line of JSON (NDJSON) instead of text.
    #[arg(long)]
    json: bool,
    /// Serve the host's figures for Prometheus at `http://ADDR/metrics`,
    /// e.g. `127.0.0.1:9464` (read from the counters at each scrape).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
}

/// Serves `GET /metrics` on `addr` until the process ends; returns the
/// address bound (a port of 0 picks one).
async fn serve_metrics(
    addr: std::net::SocketAddr,
    host: Arc<witplug_host::Host>,
    bus: Option<Arc<witplug_host::nats::NatsBus>>,
) -> Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|err| anyhow::anyhow!("--metrics {addr}: {err}"))?;
    let bound = listener.local_addr()?;
    let scrape = move || {
        let (host, bus) = (host.clone(), bus.clone());
        async move {
            let mut text = host.prometheus_text();
            if let Some(bus) = bus {
                let stats = bus.stats();
                text.push_str(&format!(
                    "# HELP witplug_nats_messages_total Messages through NATS, by what became \
                     of them.\n# TYPE witplug_nats_messages_total counter\n\
                     witplug_nats_messages_total{{result=\"sent\"}} {}\n\
                     witplug_nats_messages_total{{result=\"dropped\"}} {}\n\
                     witplug_nats_messages_total{{result=\"received\"}} {}\n\
                     witplug_nats_messages_total{{result=\"lost\"}} {}\n\
                     # HELP witplug_nats_reconnects_total Reconnections to the NATS server.\n\
                     # TYPE witplug_nats_reconnects_total counter\n\
                     witplug_nats_reconnects_total {}\n",
                    stats.sent, stats.dropped, stats.received, stats.lost, stats.reconnects
                ));
            }
            ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
        }
    };
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape));
    // Bounded as every endpoint is: a scraper that sends a request keeps
    // its place whatever idle connections a stranger holds.
    let (gate, bounds) = (witplug_endpoint::Gate::open(), witplug_endpoint::Bounds::default());
    tokio::spawn(witplug_endpoint::serve(listener, app, gate, bounds, std::future::pending()));
    Ok(bound)
}

/// `--watch` and how often it looks.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Reload a plugin when its `.wasm` or `.toml` changes (calls in flight
    /// finish on the old version); load added files, unload removed ones.
    #[arg(long)]
    pub watch: bool,
    /// How often to look at the folder with `--watch`.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = units::parse_duration)]
    pub interval: Duration,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    // Listening from the start: a Ctrl-C while the plugins load (a large
    // component compiles for seconds) stops the host once they are loaded,
    // rather than killing it.
    let interrupted = interrupted()?;
    let mut builder = args.plugins.builder()?;
    let bus = args.nats.apply(&mut builder).await?;
    let host = Arc::new(builder.build()?);
    let mut events = host.events();
    let json = args.json;
    let printer = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) if json => {
                    if let Ok(line) = serde_json::to_string(&event) {
                        out!("{line}");
                    }
                }
                Ok(event) => out!("{event}"),
                Err(RecvError::Lagged(missed)) if json => {
                    out!("{}", serde_json::json!({ "event": "missed", "count": missed }));
                }
                Err(RecvError::Lagged(missed)) => out!("({missed} events missed)"),
                Err(RecvError::Closed) => break,
            }
        }
    });
    let report = host.load_dir(&args.plugins.dir()).await?;
    for error in &report.failed {
        eprintln!("failed: {error}");
    }
    for error in host.init_all().await {
        eprintln!("failed: {error}");
    }
    let _watcher = args.watch.watch.then(|| host.watch(args.plugins.dir(), args.watch.interval));
    if let Some(addr) = args.metrics.or(crate::host_args::config().metrics.addr) {
        let bound = serve_metrics(addr, host.clone(), bus.clone()).await?;
        eprintln!("serving metrics for Prometheus on http://{bound}/metrics");
    }
    eprintln!(
        "running {} plugins from {}{}; Ctrl-C stops",
        host.plugins().len(),
        args.plugins.dir().display(),
        if args.watch.watch { ", watching for changes" } else { "" }
    );
    interrupted.await?;
    for error in host.stop_all().await {
        eprintln!("failed: {error}");
    }
    if let Some(bus) = &bus {
        let stats = bus.stats();
        eprintln!(
            "NATS: sent {}, dropped {}, received {}, lost {}, reconnects {}",
            stats.sent, stats.dropped, stats.received, stats.lost, stats.reconnects
        );
    }
    // Let the last events print.
    tokio::time::sleep(Duration::from_millis(50)).await;
    printer.abort();
    Ok(ExitCode::SUCCESS)
}

/// Resolves at the first Ctrl-C (SIGINT) from now on.
#[cfg(unix)]
fn interrupted() -> std::io::Result<impl Future<Output = std::io::Result<()>>> {
    // Registered here, not at the first poll as `ctrl_c` is.
    let mut signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        signal.recv().await;
        Ok(())
    })
}

/// Resolves at the first Ctrl-C from now on.
#[cfg(not(unix))]
fn interrupted() -> std::io::Result<impl Future<Output = std::io::Result<()>>> {
    let signal = tokio::spawn(tokio::signal::ctrl_c());
    Ok(async move { signal.await.map_err(std::io::Error::other)? })
}
