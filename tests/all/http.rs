//! `wasi:http` behind grants: linked for every component; a request goes
//! out only to an origin the manifest grants, anything else is
//! `HTTP-request-denied` (and an `Event::Denied` naming the origin). The
//! http-fetch (Rust) and py-fetch (Python) plugins, on `wasi:http`
//! itself, and js-fetch (JavaScript, through `fetch`) fetch from a server
//! each test starts on loopback.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use witplug_host::{Error, Event, Grants, Host, Limits, Plugin, PluginError};

use crate::support::fixture;

/// A loopback HTTP server answering every request with `body_size` bytes
/// (or `hello from <path>` when 0), until the test ends.
async fn server(body_size: usize) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("?").to_owned();
                let body = if body_size == 0 {
                    format!("hello from {path}")
                } else {
                    "x".repeat(body_size)
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

async fn fetcher(grants: Grants, limits: Limits) -> (Host, std::sync::Arc<Plugin>) {
    fetcher_in("http-fetch", grants, limits).await
}

async fn fetcher_in(
    plugin: &str,
    grants: Grants,
    limits: Limits,
) -> (Host, std::sync::Arc<Plugin>) {
    let mut builder = crate::support::builder();
    builder.grants(plugin, grants).limits(limits);
    let host = builder.build().unwrap();
    let plugin = host.load_file(fixture(plugin)).await.unwrap();
    (host, plugin)
}

#[tokio::test]
async fn a_granted_origin_answers_and_any_other_is_denied_by_name() {
    granted_origin_answers_and_any_other_is_denied("http-fetch").await;
}

#[tokio::test]
async fn python_reaches_a_granted_origin_and_no_other() {
    granted_origin_answers_and_any_other_is_denied("py-fetch").await;
}

#[tokio::test]
async fn javascript_fetch_reaches_a_granted_origin_and_no_other() {
    granted_origin_answers_and_any_other_is_denied("js-fetch").await;
}

async fn granted_origin_answers_and_any_other_is_denied(plugin: &str) {
    let (port, other) = (server(0).await, server(0).await);
    let grants = Grants::new().http(format!("http://127.0.0.1:{port}"));
    let (host, fetch) = fetcher_in(plugin, grants, Limits::default()).await;
    let mut events = host.events();

    let answer = fetch.handle(&format!("http://127.0.0.1:{port}/x")).await.unwrap();
    assert_eq!(answer, "200 hello from /x");

    let url = format!("http://127.0.0.1:{other}/x");
    let err = fetch.handle(&url).await.unwrap_err();
    match plugin {
        // On wasi:http itself, the refusal's own code.
        "http-fetch" | "py-fetch" => assert!(
            matches!(&err, Error::Plugin { error: PluginError::Denied(what), .. } if *what == format!("http:{url}")),
            "{err}"
        ),
        // Through `fetch`, a `TypeError` the plugin returns as `failed`.
        _ => assert!(
            matches!(&err, Error::Plugin { error: PluginError::Failed(why), .. } if why.contains("NetworkError")),
            "{err}"
        ),
    }
    let denied = std::iter::from_fn(|| events.try_recv().ok()).find_map(|event| match event {
        Event::Denied { capability, .. } => Some(capability),
        _ => None,
    });
    assert_eq!(denied, Some(format!("http:http://127.0.0.1:{other}")));
    assert_eq!(fetch.metrics().denied, 1);
    assert_eq!(fetch.restarts(), 0, "a refusal is an error, not a trap");
}

#[tokio::test]
async fn without_a_grant_no_request_leaves() {
    let port = server(0).await;
    let (_host, fetch) = fetcher(Grants::new(), Limits::default()).await;
    let err = fetch.handle(&format!("http://127.0.0.1:{port}/")).await.unwrap_err();
    assert!(matches!(&err, Error::Plugin { error: PluginError::Denied(_), .. }), "{err}");
}

#[tokio::test]
async fn a_response_body_over_max_output_fails_cleanly() {
    let port = server(64 * 1024).await;
    let mut limits = Limits::default();
    limits.max_output = 4096;
    let grants = Grants::new().http(format!("http://127.0.0.1:{port}"));
    let url = format!("http://127.0.0.1:{port}/big");
    let (_host, fetch) = fetcher(grants.clone(), limits).await;
    let err = fetch.handle(&url).await.unwrap_err();
    assert!(matches!(&err, Error::Plugin { error: PluginError::Failed(_), .. }), "{err}");
    assert_eq!(fetch.restarts(), 0);
    // Under the default limits the same response arrives whole.
    let (_host, fetch) = fetcher(grants, Limits::default()).await;
    assert_eq!(fetch.handle(&url).await.unwrap().len(), "200 ".len() + 64 * 1024);
}

#[tokio::test]
async fn an_operator_can_switch_http_off_and_then_it_fails_at_load() {
    let host = crate::support::builder().switch_off("wasi:http").build().unwrap();
    let err = host.load_file(fixture("http-fetch")).await.unwrap_err();
    assert!(
        matches!(&err, Error::MissingImport { import, .. } if import.starts_with("wasi:http/")),
        "{err}"
    );
}

#[tokio::test]
async fn an_http_grant_that_is_not_an_origin_fails_the_load() {
    let host = crate::support::builder()
        .grants("http-fetch", Grants::new().http("https://api.example.com/v1"))
        .build()
        .unwrap();
    let err = host.load_file(fixture("http-fetch")).await.unwrap_err();
    assert!(err.to_string().contains("no path"), "{err}");
}
