//! MCP over streamable HTTP: rmcp's service behind two checks of our own,
//! made on each request's head before its body is read. A request whose
//! `Origin` is not one the server allows is refused (403), as the MCP
//! specification asks, so a web page cannot drive a local server; with a
//! token, a request without `Authorization: Bearer TOKEN` is refused (401).
//! An address that is not loopback is served only with a token. The
//! connections are `witplug_endpoint`'s: bounded in number and time, with
//! places kept for clients whose requests pass these checks.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::{Error, McpServer, Result};

/// Where and how to serve HTTP.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// The address to listen on; port 0 picks a free one.
    pub addr: SocketAddr,
    /// A file holding the bearer token clients must send; required for an
    /// address that is not loopback.
    pub token_file: Option<PathBuf>,
    /// Origins allowed besides those of loopback (`http://localhost:*`,
    /// `http://127.0.0.1:*`, `http://[::1]:*`), e.g. `https://app.example.com`.
    pub allowed_origins: Vec<String>,
    /// What the server allows its connections.
    pub bounds: witplug_endpoint::Bounds,
}

impl HttpOptions {
    /// Serving on `addr`, with no token and only loopback origins.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            token_file: None,
            allowed_origins: Vec::new(),
            bounds: witplug_endpoint::Bounds::default(),
        }
    }

    /// Requires the bearer token in `file`.
    pub fn token_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.token_file = Some(file.into());
        self
    }

    /// Allows requests from `origin` too.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Bounds the server's connections so.
    pub fn bounds(mut self, bounds: witplug_endpoint::Bounds) -> Self {
        self.bounds = bounds;
        self
    }
}

/// What the guard checks.
#[derive(Debug)]
struct Guard {
    /// `Bearer TOKEN`, when a token is required.
    authorization: Option<String>,
    allowed_origins: Vec<String>,
}

/// Serves `server` over streamable HTTP at `/mcp` on `options.addr`;
/// `bound` hears the address once listening, then the future runs until
/// `shutdown` fires.
///
/// # Errors
///
/// [`Error::NoToken`] for an address other than loopback without a token,
/// [`Error::Token`] for a token file that cannot be read or is empty,
/// [`Error::Bind`] when the address cannot be bound.
pub async fn serve_http(
    server: McpServer,
    options: HttpOptions,
    bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let token = match &options.token_file {
        Some(path) => Some(read_token(path)?),
        None if options.addr.ip().is_loopback() => None,
        None => return Err(Error::NoToken { addr: options.addr }),
    };
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| Error::Bind { addr: options.addr, source })?;
    let addr =
        listener.local_addr().map_err(|source| Error::Bind { addr: options.addr, source })?;
    let stop = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(stop.child_token())
        .with_max_request_body_bytes(server.max_message());
    if !options.addr.ip().is_loopback() {
        // Reached by other names than loopback's; the token guards it.
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || Ok(server.session()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let guard = Guard {
        authorization: token.map(|token| format!("Bearer {token}")),
        allowed_origins: options.allowed_origins,
    };
    let app = axum::Router::new().nest_service("/mcp", service);
    let gate = witplug_endpoint::Gate::new(move |head| check(&guard, head));
    bound(addr);
    let shutdown = async move {
        shutdown.await;
        stop.cancel();
    };
    witplug_endpoint::serve(listener, app, gate, options.bounds, shutdown).await;
    Ok(())
}

/// The token in `path`: its first line, trimmed.
fn read_token(path: &std::path::Path) -> Result<String> {
    let error = |reason: String| Error::Token { path: path.to_owned(), reason };
    let text = std::fs::read_to_string(path).map_err(|err| error(err.to_string()))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(error("it holds no token".to_owned()));
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(error("a token is printable ASCII without spaces".to_owned()));
    }
    Ok(token.to_owned())
}

/// Refuses a request from an origin not allowed, or without the token:
/// the answer, or `None` to let it through.
fn check(guard: &Guard, head: &Parts) -> Option<Response> {
    if let Some(origin) = head.headers.get(header::ORIGIN)
        && !origin_allowed(origin, &guard.allowed_origins)
    {
        return Some((StatusCode::FORBIDDEN, "origin not allowed").into_response());
    }
    if let Some(expected) = &guard.authorization {
        let given = head.headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
        if !given.is_some_and(|given| same(given, expected.as_bytes())) {
            let challenge = [(header::WWW_AUTHENTICATE, "Bearer")];
            return Some(
                (StatusCode::UNAUTHORIZED, challenge, "a bearer token is required").into_response(),
            );
        }
    }
    None
}

/// Whether `origin` is loopback's (any port) or one of `allowed`.
fn origin_allowed(origin: &HeaderValue, allowed: &[String]) -> bool {
    let Ok(origin) = origin.to_str() else { return false };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let (host, after) = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some(parts) => parts,
            None => return false,
        },
        None => rest.split_at(rest.find(':').unwrap_or(rest.len())),
    };
    let port_ok = match after.strip_prefix(':') {
        Some(port) => !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()),
        None => after.is_empty(),
    };
    port_ok && matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// Equal, in a time that depends on the length only (a token compared byte
/// by byte leaks how much of it a guess got right).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_origins_and_those_allowed_pass() {
        let origin = |s: &'static str| HeaderValue::from_static(s);
        let allowed = ["https://app.example.com".to_owned()];
        for ok in ["http://localhost:3000", "http://127.0.0.1", "http://[::1]:8080"] {
            assert!(origin_allowed(&origin(ok), &allowed), "{ok}");
        }
        assert!(origin_allowed(&origin("https://app.example.com"), &allowed));
        for refused in [
            "https://evil.example",
            "http://localhost.evil.example",
            "null",
            "http://127.0.0.1.nip.io",
            "https://app.example.com.evil",
        ] {
            assert!(!origin_allowed(&origin(refused), &allowed), "{refused}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"Bearer abc", b"Bearer abc"));
        assert!(!same(b"Bearer abd", b"Bearer abc"));
        assert!(!same(b"Bearer ab", b"Bearer abc"));
    }
}
