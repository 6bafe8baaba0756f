//! What a plugin may reach through `wasi:http/outgoing-handler`: requests
//! to the origins its `http` grants name (`https://api.example.com`,
//! `http://127.0.0.1:8080`, `*.example.org`), checked on every request
//! (a redirect is a new request of the plugin's), with bodies bounded by
//! its `max-input` (sent) and `max-output` (received). Anything else is the
//! interface's own `HTTP-request-denied`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::clock::Moment;
use crate::config::limits::Limits;

/// One granted origin: a scheme (or either of `http` and `https`), a host
/// (or every subdomain of one, for `*.`), and a port (or the scheme's).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: Option<String>,
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

impl Origin {
    fn parse(grant: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("`http`: `{grant}` {why}");
        let (scheme, rest) = match grant.split_once("://") {
            Some((scheme @ ("http" | "https"), rest)) => (Some(scheme.to_owned()), rest),
            Some((other, _)) => return Err(bad(&format!("has the scheme `{other}`, not http(s)"))),
            None => (None, grant),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(bad("is not an origin: no path, query or user"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || port.parse::<u16>().is_ok() => (
                host,
                Some(port.parse::<u16>().map_err(|_| bad("has a port that is not a number"))?),
            ),
            _ => (rest, None),
        };
        let (wildcard, host) = match host.strip_prefix("*.") {
            Some(base) => (true, base),
            None => (false, host),
        };
        if host.is_empty() || host.contains('*') {
            return Err(bad("needs a host, with `*.` only in front"));
        }
        Ok(Self { scheme, host: host.to_ascii_lowercase(), wildcard, port })
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        if self.port.unwrap_or(default_port) != port {
            return false;
        }
        let host = host.to_ascii_lowercase();
        match self.wildcard {
            true => host.strip_suffix(&self.host).is_some_and(|sub| sub.ends_with('.')),
            false => host == self.host,
        }
    }
}

/// Checks an `http` grant when the manifest is read.
pub(crate) fn check_grant(grant: &str) -> Result<(), String> {
    Origin::parse(grant).map(|_| ())
}

/// The hooks wasmtime-wasi-http calls for one plugin instance.
pub(crate) struct Origins {
    allowed: Arc<[Origin]>,
    denied: Arc<dyn Fn(String) + Send + Sync>,
    max_request: u64,
    max_response: u64,
    /// Requests in flight: sent and not yet answered in full.
    in_flight: Arc<AtomicU64>,
    /// The `requests` budget.
    max_in_flight: u64,
    /// The bytes of one write an outgoing body buffers.
    body_chunk: usize,
    /// The `host-memory` budget, which the responses in flight may not pass
    /// by themselves.
    host_memory: u64,
    /// When the current call must end: no request outlives it.
    pub until: Moment,
}

/// One request in flight, counted until its response body is dropped.
struct InFlight(Arc<AtomicU64>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Origins {
    /// What the responses in flight may hold in the host: charged to
    /// `host-memory`.
    pub fn responses_held(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed) * RESPONSE_BUFFER
    }

    /// The origins `grants` name (checked at load), with request bodies up
    /// to `max_request` bytes and responses up to `max_response`;
    /// `denied` hears of each refused origin.
    pub fn new(
        grants: &[String],
        limits: &Limits,
        denied: impl Fn(String) + Send + Sync + 'static,
    ) -> Self {
        let allowed = grants.iter().filter_map(|grant| Origin::parse(grant).ok()).collect();
        Self {
            allowed,
            denied: Arc::new(denied),
            max_request: limits.max_input,
            max_response: limits.max_output,
            in_flight: Arc::default(),
            max_in_flight: limits.requests,
            body_chunk: usize::try_from(body_chunk_size(limits.host_memory)).unwrap_or(usize::MAX),
            host_memory: limits.host_memory,
            until: Moment::now(),
        }
    }

    /// The origin of `uri` when a grant allows it, else its text for the
    /// refusal.
    fn check(&self, uri: &http::Uri) -> Result<(), String> {
        let scheme = uri.scheme_str().unwrap_or("https");
        let host = uri.host().unwrap_or("");
        let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
        if self.allowed.iter().any(|origin| origin.allows(scheme, host, port)) {
            Ok(())
        } else {
            Err(format!("{scheme}://{host}:{port}"))
        }
    }
}

type Sent = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type Answer = Box<dyn Future<Output = Result<(http::Response<WasiBody>, Sent), HttpError>> + Send>;

/// The most the host buffers of one response coming in before the plugin
/// reads it: hyper's read buffer at its largest (8 KiB and 100 pages of 4
/// KiB). Each request in flight is charged this much to `host-memory`.
pub(crate) const RESPONSE_BUFFER: u64 = 8192 + 4096 * 100;

/// The largest write an outgoing body takes at once, when the
/// `host-memory` budget is large enough: 64 KiB.
const MAX_BODY_CHUNK: u64 = 64 << 10;

/// The chunks an outgoing body buffers besides the one being written:
/// one, so a body holds at most two chunks unsent.
pub(crate) const BODY_BUFFER_CHUNKS: usize = 1;

/// The bytes of one write an outgoing body takes, for a `host-memory`
/// budget: 64 KiB, or a 32nd of a smaller budget (at least 1 KiB).
pub(crate) fn body_chunk_size(host_memory: u64) -> u64 {
    (host_memory / 32).clamp(1 << 10, MAX_BODY_CHUNK)
}

/// The most an outgoing body holds unsent: what each one is charged to
/// `host-memory` (wasmtime-wasi-http queues `BODY_BUFFER_CHUNKS + 1` chunks).
pub(crate) fn body_buffer_size(host_memory: u64) -> u64 {
    body_chunk_size(host_memory) * (BODY_BUFFER_CHUNKS as u64 + 1)
}

impl WasiHttpHooks for Origins {
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        BODY_BUFFER_CHUNKS
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        self.body_chunk
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Sent,
    ) -> Answer {
        drop(fut);
        if let Err(origin) = self.check(request.uri()) {
            (self.denied)(format!("http:{origin}"));
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        if in_flight >= self.max_in_flight {
            let budget = self.max_in_flight;
            return Box::new(async move {
                Err(HttpError::InternalError(Some(format!(
                    "over the `requests` budget of {budget} in flight"
                ))))
            });
        }
        if (in_flight + 1) * RESPONSE_BUFFER > self.host_memory {
            let budget = crate::text::format_size(self.host_memory);
            return Box::new(async move {
                Err(HttpError::InternalError(Some(format!(
                    "the responses in flight would pass the `host-memory` budget of {budget}"
                ))))
            });
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(self.in_flight.clone());
        // No request outlives the call that sent it: every wait is cut to
        // what is left of the call's deadline.
        let left = self.until.remaining();
        let cut = |wait: Option<Duration>| Some(wait.map_or(left, |wait| wait.min(left)));
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: cut(options.connect_timeout),
            first_byte_timeout: cut(options.first_byte_timeout),
            between_bytes_timeout: cut(options.between_bytes_timeout),
        };
        let (max_request, max_response) = (self.max_request, self.max_response);
        let request = request.map(|body| {
            limited(body, max_request, move || HttpError::HttpRequestBodySize(Some(max_request)))
        });
        Box::new(async move {
            let send = wasmtime_wasi_http::default_send_request(request, Some(options));
            let (response, sent) = match tokio::time::timeout(left, send).await {
                Ok(answer) => answer?,
                Err(_) => return Err(HttpError::ConnectionReadTimeout),
            };
            let response = response.map(|body| {
                let body = limited(body.boxed_unsync(), max_response, move || {
                    HttpError::HttpResponseBodySize(Some(max_response))
                });
                // The request stays in flight until its body is dropped.
                body.map_frame(move |frame| {
                    let _ = &in_flight;
                    frame
                })
                .boxed_unsync()
            });
            Ok((response, Box::new(sent) as Sent))
        })
    }
}

/// `body`, failing with `too_large()` past `limit` bytes.
fn limited(
    body: WasiBody,
    limit: u64,
    too_large: impl Fn() -> HttpError + Send + 'static,
) -> WasiBody {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    Limited::new(body, limit)
        .map_err(move |err| match err.downcast::<HttpError>() {
            Ok(inner) => *inner,
            Err(_) => too_large(),
        })
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(grant: &str, url: &str) -> bool {
        let origins = Origins::new(&[grant.to_owned()], &Limits::default(), |_| {});
        origins.check(&url.parse().unwrap()).is_ok()
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        assert!(allows("https://api.example.com", "https://api.example.com/v1?q=1"));
        assert!(!allows("https://api.example.com", "http://api.example.com/"));
        assert!(!allows("https://api.example.com", "https://api.example.com:8443/"));
        assert!(allows("http://127.0.0.1:8080", "http://127.0.0.1:8080/x"));
        assert!(!allows("http://127.0.0.1:8080", "http://127.0.0.1:8081/x"));
        assert!(allows("*.example.org", "https://a.b.example.org/"));
        assert!(allows("*.example.org", "http://a.example.org/"));
        assert!(!allows("*.example.org", "https://example.org/"));
        assert!(!allows("*.example.org", "https://badexample.org/"));
        assert!(allows("API.example.com", "https://api.EXAMPLE.com/"));
    }

    #[test]
    fn grants_that_are_not_origins_are_refused() {
        assert!(check_grant("https://api.example.com/").is_ok());
        assert!(check_grant("ftp://x").unwrap_err().contains("scheme `ftp`"));
        assert!(check_grant("https://x/path").unwrap_err().contains("no path"));
        assert!(check_grant("https://x:port").unwrap_err().contains("port"));
        assert!(check_grant("a.*.org").is_err());
    }
}
