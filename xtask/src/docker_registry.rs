//! The registry the distribution tests push to and pull from: Debian's
//! `docker-registry` (distribution 2.8), a real OCI registry. It is run by
//! the tests themselves, on a free loopback port with in-memory storage
//! and a configuration of their own (never the packaged one, which
//! listens on every interface). Installed here when missing: the binary
//! unpacked from the package under `target/tools/` (no service started),
//! with `apt-get download` (after `apt-get update` when root and the
//! package lists are empty).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::workspace_root;

/// What names a `docker-registry` binary to use instead.
pub const ENV: &str = "WITPLUG_DOCKER_REGISTRY";

const HOW: &str = "install it with `sudo apt-get install docker-registry` (Debian's \
                   distribution 2.8), or set WITPLUG_DOCKER_REGISTRY to its binary";

/// The `docker-registry` binary, unpacked under `target/tools/` first when
/// neither `$WITPLUG_DOCKER_REGISTRY` nor the one on `PATH` is there.
pub fn install() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(ENV) {
        let path = PathBuf::from(path);
        if !runs(&path) {
            bail!("{ENV} is {}, which does not run", path.display());
        }
        return Ok(path);
    }
    let dir = workspace_root().join("target/tools/docker-registry");
    let unpacked = dir.join("usr/bin/docker-registry");
    if runs(&unpacked) {
        return Ok(unpacked);
    }
    let on_path = PathBuf::from("/usr/bin/docker-registry");
    if runs(&on_path) {
        return Ok(on_path);
    }
    println!("installing docker-registry under {} ...", dir.display());
    let debs = workspace_root().join("target/tools/debs");
    std::fs::create_dir_all(&debs)?;
    if !download(&debs) {
        let root =
            Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if !root {
            bail!("apt-get download docker-registry failed: {HOW}");
        }
        let updated =
            Command::new("apt-get").args(["update", "-qq"]).stdout(Stdio::null()).status();
        if !updated.is_ok_and(|s| s.success()) || !download(&debs) {
            bail!("apt-get could not download docker-registry: {HOW}");
        }
    }
    let deb = std::fs::read_dir(&debs)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("docker-registry_"))
        })
        .context("the downloaded docker-registry package")?;
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&dir)
        .status()
        .context("running dpkg-deb")?;
    if !status.success() || !runs(&unpacked) {
        bail!("unpacking {} did not give a working docker-registry: {HOW}", deb.display());
    }
    Ok(unpacked)
}

fn download(into: &Path) -> bool {
    Command::new("apt-get")
        .args(["download", "-qq", "docker-registry"])
        .current_dir(into)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn runs(binary: &Path) -> bool {
    binary.is_file()
        && Command::new(binary)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// A `docker-registry` on a free loopback port, in memory, stopped when
/// dropped.
pub struct Running {
    child: std::process::Child,
    addr: String,
}

impl Running {
    /// Starts `binary` with a configuration of its own in `dir`.
    pub fn start(binary: &Path, dir: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .context("finding a free port")?
            .port();
        std::fs::create_dir_all(dir)?;
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  inmemory: {{}}\nhttp:\n  addr: 127.0.0.1:{port}\n"
            ),
        )?;
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let addr = format!("127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            if started.elapsed() > std::time::Duration::from_secs(20) {
                bail!("docker-registry did not start on {addr}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(Self { child, addr })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
