//! MCP's round trip: `tools/call` of `count-words` (the word-count plugin)
//! over stdio and over streamable HTTP, each beside the floor, an rmcp
//! server whose tool is a native Rust closure doing the same count (MCP's
//! own cost), and beside the same tool through `Host::call_tool` directly
//! (the sandbox's cost); then, over stdio, contract 0.3's rich calls of
//! `mcp-everything`: a tool answering an image, and one reporting three
//! progress notifications before it answers, each beside the same done
//! natively. The client is rmcp's, the same for both sides.
//!
//! `cargo xtask bench` runs it after the host's benchmark and adds its rows
//! to BENCHMARKS.md: p50 and p99 of one call, and calls per second, one
//! caller at a time; witplug's calls and the floor's alternate in rounds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, JsonObject,
    ListToolsResult, NumberOrString, PaginatedRequestParams, ProgressNotificationParam,
    ProgressToken, RequestMetaObject, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use witplug_host::Host;
use witplug_mcp::{HttpOptions, McpOptions, McpServer};

type Fallible<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Calls measured per row, in rounds of [`ROUND`], after [`WARMUP`]
/// unmeasured ones.
const CALLS: usize = 4_000;
const ROUND: usize = 250;
const WARMUP: usize = 300;

fn main() -> Fallible<()> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.next().as_deref() {
        // Child processes: a stdio server, witplug's or the floor's.
        Some("--serve-witplug") => {
            let dir = PathBuf::from(args.next().ok_or("--serve-witplug DIR")?);
            return runtime.block_on(serve_witplug(&dir));
        }
        Some("--serve-floor") => return runtime.block_on(serve_floor()),
        _ => {}
    }
    let rows = runtime.block_on(measure_all())?;
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// The plugins folder the benchmark serves: word-count and mcp-everything,
/// with their manifests.
fn plugins() -> Fallible<PathBuf> {
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let dir = std::env::temp_dir().join(format!("witplug-mcp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for plugin in ["word-count", "mcp-everything"] {
        for file in [format!("{plugin}.wasm"), format!("{plugin}.toml")] {
            std::fs::copy(built.join(&file), dir.join(&file)).map_err(|err| {
                format!("{}: {err}: run `cargo xtask build-plugins`", built.join(&file).display())
            })?;
        }
    }
    Ok(dir)
}

async fn host(dir: &Path) -> Fallible<Arc<Host>> {
    let host = Arc::new(Host::builder().build()?);
    let report = host.load_dir(dir).await?;
    if let Some(error) = report.failed.first() {
        return Err(error.to_string().into());
    }
    Ok(host)
}

async fn serve_witplug(dir: &Path) -> Fallible<()> {
    let server = McpServer::new(host(dir).await?, McpOptions::default());
    server.serve_stdio().await?;
    Ok(())
}

async fn serve_floor() -> Fallible<()> {
    let running = Native.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}

/// The floor: an rmcp server whose `count-words` is a native closure.
#[derive(Clone)]
struct Native;

/// A 1×1 red pixel, as `mcp-everything` answers it.
const RED_PIXEL: &[u8] =
    include_bytes!("../../example-plugins/rust/mcp-everything/src/red-pixel.png");

fn native_tools() -> Vec<Tool> {
    let schema = json!({
        "type": "object",
        "properties": { "text": { "type": "string" } },
        "required": ["text"],
    });
    let Value::Object(schema) = schema else { unreachable!("an object") };
    let empty = Arc::new(JsonObject::new());
    vec![
        Tool::new("count-words", "Counts the words of a text", Arc::new(schema)),
        Tool::new("test_image_content", "Answers an image", empty.clone()),
        Tool::new("progress_burst", "Reports progress 1, 2 and 3 of 3 at once", empty),
    ]
}

impl ServerHandler for Native {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(native_tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        native_tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        use base64::Engine as _;
        match request.name.as_ref() {
            "test_image_content" => {
                let data = base64::engine::general_purpose::STANDARD.encode(RED_PIXEL);
                let image = ContentBlock::image(data, "image/png");
                return Ok(CallToolResult::success(vec![image]).into());
            }
            "progress_burst" => {
                if let Some(token) = context.meta.get_progress_token() {
                    for step in 1..=3 {
                        let mut report =
                            ProgressNotificationParam::new(token.clone(), f64::from(step));
                        report.total = Some(3.0);
                        let _ = context.peer.notify_progress(report).await;
                    }
                }
                let text = ContentBlock::text("Progress reported.");
                return Ok(CallToolResult::success(vec![text]).into());
            }
            _ => {}
        }
        let text = request.arguments.as_ref().and_then(|a| a.get("text")).and_then(Value::as_str);
        let count = text.unwrap_or_default().split_whitespace().count();
        let mut result = CallToolResult::success(vec![ContentBlock::text(count.to_string())]);
        result.structured_content = Some(json!({ "result": count }));
        Ok(result.into())
    }
}

/// The times of calls, one at a time.
#[derive(Default)]
struct Times(Vec<Duration>);

impl Times {
    /// Adds the times of `calls` calls of `call`.
    async fn add<F: AsyncFnMut() -> Fallible<()>>(
        &mut self,
        calls: usize,
        mut call: F,
    ) -> Fallible<()> {
        for _ in 0..calls {
            let started = Instant::now();
            call().await?;
            self.0.push(started.elapsed());
        }
        Ok(())
    }

    fn at(&self, quantile: f64) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort();
        let index = ((sorted.len() - 1) as f64 * quantile).round() as usize;
        sorted[index].as_secs_f64() * 1e6
    }

    fn per_second(&self) -> f64 {
        let total: Duration = self.0.iter().sum();
        self.0.len() as f64 / total.as_secs_f64()
    }

    fn cell(&self) -> String {
        format!(
            "{:.1} µs (p99 {:.1} µs; {:.0} calls/s)",
            self.at(0.5),
            self.at(0.99),
            self.per_second()
        )
    }
}

/// A client of a server under measure.
type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// witplug's times and the floor's, taken in alternating rounds of
/// [`ROUND`] calls after [`WARMUP`] each, so that the machine's drift
/// weighs on both alike.
async fn paired(witplug: &Client, floor: &Client, probe: Probe) -> Fallible<(Times, Times)> {
    let (mut ours, mut theirs) = (Times::default(), Times::default());
    Times::default().add(WARMUP, async || probe(witplug).await).await?;
    Times::default().add(WARMUP, async || probe(floor).await).await?;
    for round in 0..CALLS / ROUND {
        if round % 2 == 0 {
            ours.add(ROUND, async || probe(witplug).await).await?;
            theirs.add(ROUND, async || probe(floor).await).await?;
        } else {
            theirs.add(ROUND, async || probe(floor).await).await?;
            ours.add(ROUND, async || probe(witplug).await).await?;
        }
    }
    Ok((ours, theirs))
}

/// One measured call, checked.
type Probe = for<'a> fn(&'a Client) -> std::pin::Pin<Box<dyn Future<Output = Fallible<()>> + 'a>>;

fn arguments() -> JsonObject {
    let Value::Object(arguments) = json!({ "text": "one two three" }) else {
        unreachable!("an object")
    };
    arguments
}

/// `tools/call` of `count-words` through `client`, checked.
fn call(client: &Client) -> std::pin::Pin<Box<dyn Future<Output = Fallible<()>> + '_>> {
    Box::pin(async move {
        let request = CallToolRequestParams::new("count-words").with_arguments(arguments());
        let result = client.call_tool(request).await?;
        if result.is_error == Some(true) || result.structured_content != Some(json!({"result": 3}))
        {
            return Err(format!("an unexpected answer: {result:?}").into());
        }
        Ok(())
    })
}

/// `tools/call` of `test_image_content` through `client`, checked.
fn image(client: &Client) -> std::pin::Pin<Box<dyn Future<Output = Fallible<()>> + '_>> {
    Box::pin(async move {
        let request =
            CallToolRequestParams::new("test_image_content").with_arguments(JsonObject::new());
        let result = client.call_tool(request).await?;
        let image = result.content.first().and_then(|block| block.as_image());
        if result.is_error == Some(true) || image.is_none_or(|image| image.mime_type != "image/png")
        {
            return Err(format!("an unexpected answer: {result:?}").into());
        }
        Ok(())
    })
}

/// `tools/call` of `progress_burst`, asking for progress, through
/// `client`, checked.
fn progress(client: &Client) -> std::pin::Pin<Box<dyn Future<Output = Fallible<()>> + '_>> {
    Box::pin(async move {
        let mut meta = RequestMetaObject::default();
        meta.set_progress_token(ProgressToken(NumberOrString::Number(7)));
        let mut request =
            CallToolRequestParams::new("progress_burst").with_arguments(JsonObject::new());
        request.meta = Some(meta);
        let result = client.call_tool(request).await?;
        if result.is_error == Some(true) {
            return Err(format!("an unexpected answer: {result:?}").into());
        }
        Ok(())
    })
}

fn child(mode: &str, dir: &Path) -> Fallible<TokioChildProcess> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.arg(mode).arg(dir).env("WITPLUG_LOG", "off");
    Ok(TokioChildProcess::new(command)?)
}

/// The rows, as BENCHMARKS.md's table has them.
async fn measure_all() -> Fallible<Vec<String>> {
    let dir = plugins()?;
    let host = host(&dir).await?;
    let mut direct = Times::default();
    direct
        .add(CALLS, async || {
            let output = host.call_tool("count-words", r#"{"text":"one two three"}"#).await?;
            if output != "3" {
                return Err(format!("count-words answered {output}").into());
            }
            Ok(())
        })
        .await?;

    let witplug = ().serve(child("--serve-witplug", &dir)?).await?;
    let floor = ().serve(child("--serve-floor", &dir)?).await?;
    let (stdio, stdio_floor) = paired(&witplug, &floor, call).await?;
    let (images, images_floor) = paired(&witplug, &floor, image).await?;
    let (progressed, progressed_floor) = paired(&witplug, &floor, progress).await?;
    witplug.cancel().await?;
    floor.cancel().await?;

    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = McpServer::new(host.clone(), McpOptions::default());
    let options = HttpOptions::new(([127, 0, 0, 1], 0).into());
    tokio::spawn(witplug_mcp::serve_http(
        server,
        options,
        move |addr| {
            let _ = tx.send(addr);
        },
        std::future::pending(),
    ));
    let addr = rx.await?;
    let witplug = ().serve(StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp")));
    let witplug = witplug.await?;
    let service = StreamableHttpService::new(
        || Ok(Native),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().nest_service("/mcp", service);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let floor = ().serve(StreamableHttpClientTransport::from_uri(format!("http://{addr}/mcp")));
    let floor = floor.await?;
    let (http, http_floor) = paired(&witplug, &floor, call).await?;
    witplug.cancel().await?;
    floor.cancel().await?;
    let _ = std::fs::remove_dir_all(&dir);

    let ratio = |a: &Times, b: &Times| a.at(0.5) / b.at(0.5);
    Ok(vec![
        format!(
            "| MCP `tools/call` over stdio (count-words) | {} | {} | {:.2}× | (floor: rmcp, a native tool) |",
            stdio.cell(),
            stdio_floor.cell(),
            ratio(&stdio, &stdio_floor)
        ),
        format!(
            "| MCP `tools/call` over streamable HTTP (count-words) | {} | {} | {:.2}× | (floor: rmcp, a native tool) |",
            http.cell(),
            http_floor.cell(),
            ratio(&http, &http_floor)
        ),
        format!(
            "| MCP `tools/call` over stdio answering an image (mcp-everything, contract 0.3) | {} | {} | {:.2}× | ≤ 1.2× (floor: rmcp, a native tool answering the same image) |",
            images.cell(),
            images_floor.cell(),
            ratio(&images, &images_floor)
        ),
        format!(
            "| MCP `tools/call` over stdio with 3 progress notifications (mcp-everything, contract 0.3) | {} | {} | {:.2}× | ≤ 1.2× (floor: rmcp, a native tool sending the same) |",
            progressed.cell(),
            progressed_floor.cell(),
            ratio(&progressed, &progressed_floor)
        ),
        format!(
            "| the same tool through `Host::call_tool` | {} | - | - | (no floor: the sandbox's share of the rows above, whose floor is a native tool; wasmtime by hand on this call is the overhead table's same-host tool row) |",
            direct.cell()
        ),
    ])
}
