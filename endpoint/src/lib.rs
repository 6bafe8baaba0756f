//! The HTTP endpoints of a witplug host (`witplug mcp --http`, `witplug run
//! --metrics`), served so that a stranger on the network cannot starve the
//! clients the endpoint is for.
//!
//! axum's own `serve` sets no bound a stranger would meet: no cap on
//! connections, no time to send a request's headers, nothing said when the
//! process runs out of descriptors. [`serve`] takes an [`axum::Router`] and
//! serves it over HTTP/1.1 with:
//! - a cap on open connections ([`Bounds::max_connections`]), never more
//!   than three quarters of the process's descriptor limit, which is first
//!   raised to its hard limit ([`raise_descriptor_limit`]);
//! - a time to send each request's headers, which also bounds the wait for
//!   the next request on a kept-alive connection
//!   ([`Bounds::header_timeout`]), and an idle time after which a
//!   connection that moves no bytes is closed ([`Bounds::idle_timeout`]);
//! - a number of requests per connection ([`Bounds::max_requests`]);
//! - a [`Gate`], checked on each request's head before its body is read
//!   (the origin, the bearer token). A connection is *admitted* once one of
//!   its requests passes the gate. Connections not admitted yet may hold at
//!   most `max_connections - reserve`; past that, the oldest of them is
//!   closed for a new one. So however many connections a stranger opens
//!   and leaves silent, a client that sends a good request gets in and
//!   keeps its place. (An [open gate](Gate::open) admits no one: with no
//!   token to tell a client from a stranger, every connection gives way,
//!   oldest first, to a new one);
//! - accept failures (descriptors run out, say) told once per burst on the
//!   log, and answered by closing the oldest connection not admitted.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use witplug_endpoint::{Bounds, Gate, serve};
//!
//! let app = axum::Router::new().route("/metrics", axum::routing::get(|| async { "up 1\n" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
//! serve(listener, app, Gate::open(), Bounds::default(), std::future::pending()).await;
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What one endpoint allows its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bounds {
    /// Connections open at once: 1,024 by default (and never more than
    /// three quarters of the descriptor limit).
    pub max_connections: usize,
    /// Of those, how many only admitted connections may take: 64.
    pub reserve: usize,
    /// Time to send a request's headers, from the first byte or from the
    /// end of the last response: 10 s.
    pub header_timeout: Duration,
    /// Time a connection may move no bytes at all: 120 s. (An MCP event
    /// stream sends a keep-alive every 15 s.)
    pub idle_timeout: Duration,
    /// Requests one connection may carry; the last is answered with
    /// `Connection: close`: 1,000.
    pub max_requests: u64,
    /// Time the connections open at shutdown have to finish: 5 s.
    pub grace: Duration,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            max_connections: 1_024,
            reserve: 64,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_requests: 1_000,
            grace: Duration::from_secs(5),
        }
    }
}

/// The check on each request's head: `None` lets it through (and admits
/// its connection), `Some(response)` answers it instead, before its body is
/// read.
#[derive(Clone)]
pub struct Gate {
    check: Arc<Check>,
    /// Whether passing it admits a connection: not for a gate that lets
    /// anyone through, whose connections stay strangers (the oldest one
    /// gives way to a new one), so that a stranger who sends requests
    /// cannot take every place for good.
    admits: bool,
}

/// What a [`Gate`] asks of a request's head.
type Check = dyn Fn(&Parts) -> Option<Response> + Send + Sync;

impl Gate {
    /// A gate that lets every request through, admitting no connection:
    /// every connection may be closed, oldest first, for a new one.
    pub fn open() -> Self {
        Self { check: Arc::new(|_| None), admits: false }
    }

    /// A gate that asks `check`; a connection whose request passes it is
    /// admitted, and keeps its place.
    pub fn new(check: impl Fn(&Parts) -> Option<Response> + Send + Sync + 'static) -> Self {
        Self { check: Arc::new(check), admits: true }
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

/// Raises the process's soft limit on open descriptors to its hard limit;
/// gives back the limit now in force (`None`: unlimited, or not known).
pub fn raise_descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = rustix::process::Rlimit { current: limit.maximum, ..limit };
            if let Err(err) = setrlimit(Resource::Nofile, raised) {
                tracing::debug!(target: "witplug::endpoint", "raising the descriptor limit: {err}");
            }
        }
        getrlimit(Resource::Nofile).current
    }
    #[cfg(not(unix))]
    None
}

/// The connections of one endpoint.
#[derive(Default)]
struct Connections {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    open: HashMap<u64, Arc<Connection>>,
    /// Those not admitted yet, oldest first (admitted and closed ones are
    /// skipped when met).
    waiting: VecDeque<u64>,
    admitted: usize,
}

/// One connection, as the endpoint sees it.
struct Connection {
    id: u64,
    admitted: AtomicBool,
    close: Notify,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes room for a new connection and registers it; `None` when every
    /// place is taken by admitted connections.
    fn enter(&self, bounds: &Bounds) -> Option<Arc<Connection>> {
        let mut inner = self.lock();
        let strangers = bounds.max_connections.saturating_sub(bounds.reserve).max(1);
        while inner.open.len() >= bounds.max_connections
            || inner.open.len().saturating_sub(inner.admitted) >= strangers
        {
            if !inner.close_oldest_waiting() {
                return None;
            }
        }
        inner.next += 1;
        let id = inner.next;
        let connection =
            Arc::new(Connection { id, admitted: AtomicBool::new(false), close: Notify::new() });
        inner.open.insert(id, connection.clone());
        inner.waiting.push_back(id);
        Some(connection)
    }

    /// Closes the oldest connection not admitted, to free its descriptor.
    fn close_oldest(&self) -> bool {
        self.lock().close_oldest_waiting()
    }

    /// Admits `connection`, if it is still open (it may have just been
    /// closed for a new one): counted under the lock, so the count never
    /// drifts from the connections open.
    fn admit(&self, connection: &Connection) {
        if connection.admitted.load(Ordering::Relaxed) {
            return;
        }
        let mut inner = self.lock();
        if inner.open.contains_key(&connection.id)
            && !connection.admitted.swap(true, Ordering::Relaxed)
        {
            inner.admitted += 1;
        }
    }

    fn leave(&self, connection: &Connection) {
        let mut inner = self.lock();
        if inner.open.remove(&connection.id).is_some()
            && connection.admitted.load(Ordering::Relaxed)
        {
            inner.admitted = inner.admitted.saturating_sub(1);
        }
        // Ids of connections gone or admitted are skipped when met; the
        // queue is pruned so it never outgrows the connections open.
        if inner.waiting.len() > 2 * inner.open.len() + 64 {
            let Inner { open, waiting, .. } = &mut *inner;
            waiting.retain(|id| open.get(id).is_some_and(|c| !c.admitted.load(Ordering::Relaxed)));
        }
    }

    fn count(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.open.len(), inner.admitted)
    }
}

impl Inner {
    fn close_oldest_waiting(&mut self) -> bool {
        while let Some(id) = self.waiting.pop_front() {
            let Some(connection) = self.open.get(&id) else { continue };
            if connection.admitted.load(Ordering::Relaxed) {
                continue;
            }
            if let Some(connection) = self.open.remove(&id) {
                connection.close.notify_one();
            }
            return true;
        }
        false
    }
}

/// Tells accept failures once per burst.
struct AcceptErrors {
    last: Option<Instant>,
    since: u64,
}

impl AcceptErrors {
    fn record(&mut self, err: &io::Error, addr: std::net::SocketAddr) {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < Duration::from_secs(10) => self.since += 1,
            _ => {
                let more = match self.since {
                    0 => String::new(),
                    n => format!(" ({n} more since the last report)"),
                };
                tracing::error!(
                    target: "witplug::endpoint",
                    "http://{addr}: accepting a connection failed: {err}{more}; closing the oldest connection not admitted"
                );
                self.last = Some(now);
                self.since = 0;
            }
        }
    }
}

/// Serves `app` on `listener` within `bounds`, each request's head checked
/// by `gate`, until `shutdown` resolves; then the open connections have
/// [`Bounds::grace`] to finish.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    gate: Gate,
    bounds: Bounds,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut bounds = bounds;
    if let Some(limit) = raise_descriptor_limit() {
        let usable = usize::try_from(limit / 4 * 3).unwrap_or(usize::MAX).max(16);
        if usable < bounds.max_connections {
            bounds.max_connections = usable;
            bounds.reserve = bounds.reserve.min(usable / 4);
        }
    }
    let addr = listener.local_addr().unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
    let connections = Arc::new(Connections::default());
    let stopping = Arc::new(Notify::new());
    let stopped = Arc::new(AtomicBool::new(false));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(bounds.header_timeout).keep_alive(true);
    let mut errors = AcceptErrors { last: None, since: 0 };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                errors.record(&err, addr);
                connections.close_oldest();
                // The backlog keeps the connection: try again shortly,
                // without spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(connection) = connections.enter(&bounds) else {
            // Every place is an admitted client's: this one is closed.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let task = Served {
            connections: connections.clone(),
            connection,
            gate: gate.clone(),
            app: app.clone(),
            bounds,
            stopping: stopping.clone(),
            stopped: stopped.clone(),
        };
        tokio::spawn(task.run(http.clone(), stream));
    }
    stopped.store(true, Ordering::Relaxed);
    stopping.notify_waiters();
    // The connections finish within the grace period, or are dropped.
    let deadline = Instant::now() + bounds.grace;
    while connections.count().0 > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One connection being served.
struct Served {
    connections: Arc<Connections>,
    connection: Arc<Connection>,
    gate: Gate,
    app: axum::Router,
    bounds: Bounds,
    stopping: Arc<Notify>,
    stopped: Arc<AtomicBool>,
}

impl Served {
    async fn run(self, http: hyper::server::conn::http1::Builder, stream: TcpStream) {
        let moved = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Watched { inner: stream, moved: moved.clone() });
        let requests = Arc::new(AtomicU64::new(0));
        let (connections, connection) = (self.connections.clone(), self.connection.clone());
        let (gate, app, max_requests) =
            (self.gate.clone(), self.app.clone(), self.bounds.max_requests);
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let (connections, connection) = (connections.clone(), connection.clone());
            let (gate, app, requests) = (gate.clone(), app.clone(), requests.clone());
            async move {
                let (parts, body) = request.into_parts();
                if let Some(refused) = (gate.check)(&parts) {
                    return Ok::<_, std::convert::Infallible>(refused);
                }
                if gate.admits {
                    connections.admit(&connection);
                }
                let request = http::Request::from_parts(parts, Body::new(body));
                let mut response = call(app, request).await;
                if requests.fetch_add(1, Ordering::Relaxed) + 1 >= max_requests {
                    response
                        .headers_mut()
                        .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                }
                Ok(response)
            }
        });
        let conn = http.serve_connection(io, service);
        let mut conn = std::pin::pin!(conn);
        let idle = self.bounds.idle_timeout;
        let mut ticks = tokio::time::interval((idle / 4).max(Duration::from_millis(10)));
        let (mut seen, mut since) = (0, Instant::now());
        let stopping = self.stopping.notified();
        let mut stopping = std::pin::pin!(stopping);
        if self.stopped.load(Ordering::Relaxed) {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(target: "witplug::endpoint", "a connection ended: {err}");
                    }
                    break;
                }
                () = self.connection.close.notified() => break,
                () = &mut stopping => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(self.bounds.grace, conn.as_mut()).await;
                    break;
                }
                _ = ticks.tick() => {
                    let now = moved.load(Ordering::Relaxed);
                    if now != seen {
                        (seen, since) = (now, Instant::now());
                    } else if since.elapsed() >= idle {
                        tracing::debug!(target: "witplug::endpoint", "closed a connection idle for {idle:?}");
                        break;
                    }
                }
            }
        }
        self.connections.leave(&self.connection);
    }
}

/// Calls the router.
async fn call(app: axum::Router, request: http::Request<Body>) -> Response {
    use tower_service::Service;
    let mut app = app;
    match app.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A stream that counts the bytes it moves, so an idle one can be told.
struct Watched {
    inner: TcpStream,
    moved: Arc<AtomicU64>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.moved.fetch_add(read as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &polled {
            self.moved.fetch_add(*written as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strangers_make_way_and_admitted_clients_keep_their_places() {
        let bounds = Bounds { max_connections: 4, reserve: 2, ..Bounds::default() };
        let connections = Connections::default();
        let first = connections.enter(&bounds).unwrap();
        let second = connections.enter(&bounds).unwrap();
        // The strangers' share is full: a third closes the oldest.
        let _third = connections.enter(&bounds).unwrap();
        assert_eq!(connections.count(), (2, 0));
        let _ = first;
        connections.admit(&second);
        let _fourth = connections.enter(&bounds).unwrap();
        let _fifth = connections.enter(&bounds).unwrap();
        assert_eq!(connections.count(), (3, 1));
        connections.admit(&_fourth);
        connections.admit(&_fifth);
        // Every place but one admitted; a stranger takes the last one, and
        // then none is left for another once all are admitted.
        let sixth = connections.enter(&bounds).unwrap();
        connections.admit(&sixth);
        assert_eq!(connections.count(), (4, 4));
        assert!(connections.enter(&bounds).is_none());
    }

    #[test]
    fn a_connection_closed_while_its_request_passes_the_gate_is_not_counted() {
        let bounds = Bounds { max_connections: 4, reserve: 2, ..Bounds::default() };
        let connections = Connections::default();
        let first = connections.enter(&bounds).unwrap();
        let _second = connections.enter(&bounds).unwrap();
        let _third = connections.enter(&bounds).unwrap(); // closes the first
        connections.admit(&first);
        connections.leave(&first);
        assert_eq!(connections.count(), (2, 0));
        // Churn leaves the queue no longer than the connections open.
        for _ in 0..10_000 {
            let c = connections.enter(&bounds).unwrap();
            connections.leave(&c);
        }
        assert!(connections.lock().waiting.len() <= 2 * 2 + 64 + 1);
    }
}
