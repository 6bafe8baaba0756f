//! The host's figures for Prometheus (`Host::prometheus_text`, served by
//! `witplug run --metrics`), read by a parser this project did not write:
//! the official Python client library's (`prometheus-client` on PyPI,
//! pinned), which `cargo xtask test` installs under `target/tools/` and
//! names in `WITPLUG_PROMETHEUS_PYTHON`. `tests/prometheus/parse.py`
//! prints what it parsed as JSON.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{builder, fixture};

fn python() -> PathBuf {
    let python = std::env::var_os("WITPLUG_PROMETHEUS_PYTHON").map(PathBuf::from).expect(
        "WITPLUG_PROMETHEUS_PYTHON is not set: run `cargo xtask test`, which installs the \
         Prometheus client",
    );
    assert!(python.exists(), "{} is missing: run `cargo xtask test`", python.display());
    python
}

/// What the official parser makes of `text`.
fn parse(text: &str) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus/parse.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(parsed: &Value, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = parsed["samples"].as_array().unwrap().iter().find(|sample| {
        sample[0] == name && labels.iter().all(|(key, value)| sample[1][*key] == *value)
    });
    found.unwrap_or_else(|| panic!("no sample {name} {labels:?}"))[2].as_f64().unwrap()
}

#[tokio::test]
async fn a_scrape_parses_and_counts_every_call() {
    let host = builder().build().unwrap();
    for name in ["counter", "tool-user", "hostile-panic"] {
        host.load_file(fixture(name)).await.unwrap();
    }
    let counter = host.plugin("counter").unwrap();
    for _ in 0..5 {
        counter.handle("tick").await.unwrap();
    }
    let _ = host.plugin("tool-user").unwrap().handle("no colon").await;
    let _ = host.plugin("hostile-panic").unwrap().handle("x").await;

    let parsed = parse(&host.prometheus_text());
    assert_eq!(parsed["types"]["witplug_calls"], "counter");
    assert_eq!(parsed["types"]["witplug_call_duration_seconds"], "histogram");
    let calls = |plugin, outcome| {
        sample(&parsed, "witplug_calls_total", &[("plugin", plugin), ("outcome", outcome)])
    };
    assert_eq!(calls("counter", "ok"), 5.0);
    assert_eq!(calls("tool-user", "error"), 1.0);
    assert_eq!(calls("hostile-panic", "trap"), 1.0);
    assert_eq!(sample(&parsed, "witplug_restarts_total", &[("plugin", "hostile-panic")]), 1.0);

    // The histogram: cumulative buckets, the last holding every call.
    let buckets: Vec<f64> = parsed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[0] == "witplug_call_duration_seconds_bucket" && s[1]["plugin"] == "counter")
        .map(|s| s[2].as_f64().unwrap())
        .collect();
    assert!(buckets.windows(2).all(|pair| pair[0] <= pair[1]), "{buckets:?}");
    assert_eq!(buckets.last(), Some(&5.0));
    let count = ("plugin", "counter");
    assert_eq!(sample(&parsed, "witplug_call_duration_seconds_count", &[count]), 5.0);
    assert!(sample(&parsed, "witplug_call_duration_seconds_sum", &[count]) > 0.0);
    assert_eq!(sample(&parsed, "witplug_plugins", &[]), 3.0);
    assert!(sample(&parsed, "witplug_cache_lookups_total", &[("result", "hit")]) >= 0.0);
}

#[test]
fn witplug_run_serves_the_metrics_over_http() {
    let port = crate::nats_server::free_port();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let mut run = Command::new(crate::cli::witplug_bin())
        .args(["run", "--metrics", &format!("127.0.0.1:{port}"), "--plugins"])
        .arg(&dir)
        .env("WITPLUG_LOG", "off")
        .env("WITPLUG_CACHE", crate::support::suite_cache())
        .env("WITPLUG_DATA", crate::cli::cli_data())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // It says when it serves, then when every plugin is loaded.
    let mut loaded = 0;
    for line in BufReader::new(run.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("running ") {
            loaded = rest.split_whitespace().next().unwrap().parse::<u64>().unwrap();
            break;
        }
    }
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let _ = run.kill();
    let _ = run.wait();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    let parsed = parse(body);
    assert!(loaded > 30, "{loaded}");
    assert_eq!(sample(&parsed, "witplug_plugins", &[]), loaded as f64);
    let calls = [("plugin", "py-counter"), ("outcome", "ok")];
    assert_eq!(sample(&parsed, "witplug_calls_total", &calls), 0.0, "init is not a call");
    // Loaded from the suite's cache, each component a hit.
    assert!(sample(&parsed, "witplug_cache_lookups_total", &[("result", "hit")]) >= 30.0);
}
