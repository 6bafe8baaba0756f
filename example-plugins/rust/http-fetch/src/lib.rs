//! Shows `wasi:http` behind grants: `handle(url)` fetches `url` with a GET
//! and answers `<status> <body>`. The host sends the request only to an
//! origin the manifest grants (`http = ["http://127.0.0.1:8080"]`);
//! otherwise it answers `HTTP-request-denied`, an error like any other,
//! which this plugin returns as `denied`. A redirect is not followed.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;
use witplug_sdk::{Error, Plugin, Result};

#[derive(Default)]
struct HttpFetch;

impl Plugin for HttpFetch {
    fn handle(&mut self, url: &str) -> Result<String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::invalid_input("expected a URL, `http://host/path`"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(Error::invalid_input(format!("the scheme `{other}`"))),
        };
        let (status, body) = get(&scheme, authority, path).map_err(|code| match code {
            ErrorCode::HttpRequestDenied => Error::Denied(format!("http:{url}")),
            other => Error::failed(format!("GET {url}: {other:?}")),
        })?;
        Ok(format!("{status} {body}"))
    }
}

witplug_sdk::export_plugin!(HttpFetch);

fn get(
    scheme: &Scheme,
    authority: &str,
    path: &str,
) -> std::result::Result<(u16, String), ErrorCode> {
    let request = OutgoingRequest::new(Fields::new());
    let invalid = |_| ErrorCode::HttpRequestUriInvalid;
    request.set_scheme(Some(scheme)).map_err(invalid)?;
    request.set_authority(Some(authority)).map_err(invalid)?;
    request.set_path_with_query(Some(path)).map_err(invalid)?;
    let pending = outgoing_handler::handle(request, None)?;
    let response = loop {
        match pending.get() {
            Some(Ok(answer)) => break answer?,
            Some(Err(())) => return Err(ErrorCode::InternalError(Some("read twice".into()))),
            None => pending.subscribe().block(),
        }
    };
    let status = response.status();
    let body = response.consume().map_err(|()| ErrorCode::HttpResponseIncomplete)?;
    let stream = body.stream().map_err(|()| ErrorCode::HttpResponseIncomplete)?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend(chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(_)) => {
                return Err(ErrorCode::HttpResponseIncomplete);
            }
        }
    }
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
