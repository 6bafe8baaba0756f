//! `cargo xtask demo` and `cargo xtask test`: build the plugins, then run.

use anyhow::{Context, Result, bail};

use crate::build_plugins::{self, Options};
use crate::{cargo, workspace_root};

/// Builds the plugins and runs the demo host over `plugins/`, then two
/// hosts talking through a NATS server it starts (when one can be
/// installed).
pub fn demo(args: &[String]) -> Result<()> {
    let started = std::time::Instant::now();
    build_plugins::run(&Options::all())?;
    eprintln!("xtask: building the plugins: {:.1} s", started.elapsed().as_secs_f64());
    let plugins = workspace_root().join("plugins");
    let mut command = cargo();
    command
        .args(["run", "--quiet", "--package", "witplug-host", "--example", "demo", "--"])
        .arg(&plugins)
        .args(args);
    run_step("the demo", command)?;

    mcp_demo(&plugins)?;
    registry_demo(&plugins)?;

    // A new host each time: every `witplug call` is a process of its own.
    let witplug = crate::target_dir().join("debug").join("witplug");
    let data = crate::target_dir().join("tmp/kv-demo");
    let _ = std::fs::remove_dir_all(&data);
    println!(
        "\nState that lasts: kv-counter counts in its bucket (wasi:keyvalue, a redb file), three host processes one after the other:"
    );
    for _ in 0..3 {
        let mut call = std::process::Command::new(&witplug);
        call.args(["call", "kv-counter", "handle", "\"\""]).arg("--plugins").arg(&plugins);
        call.arg("--data").arg(&data).env("WITPLUG_LOG", "off");
        run_step("a call of kv-counter", call)?;
    }

    let jetstream = crate::target_dir().join("tmp/demo-jetstream");
    let _ = std::fs::remove_dir_all(&jetstream);
    let server = match crate::nats_server::install() {
        Ok(binary) => crate::nats_server::Running::start(&binary, &jetstream)?,
        Err(err) => {
            eprintln!("\nskipping the NATS step: {err:#}");
            return Ok(());
        }
    };
    println!();
    let mut command = cargo();
    command
        .args(["run", "--quiet", "--package", "witplug-host", "--features", "nats"])
        .args(["--example", "nats_demo", "--"])
        .arg(&plugins)
        .arg(server.url());
    run_step("the NATS demo", command)?;

    println!(
        "\nOne counter, two hosts: host A and host B keep kv-counter's bucket in NATS JetStream (--kv nats):"
    );
    for host in ["A", "B", "A", "B"] {
        let mut call = std::process::Command::new(&witplug);
        call.args(["call", "kv-counter", "handle", "\"\"", "--kv", "nats", "--nats", server.url()]);
        call.arg("--plugins").arg(&plugins).env("WITPLUG_LOG", "off");
        call.arg("--data").arg(data.join(host));
        let output = call.output().context("starting witplug")?;
        if !output.status.success() {
            bail!(
                "a call of kv-counter on JetStream failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        print!("host {host}: {}", String::from_utf8_lossy(&output.stdout));
    }
    Ok(())
}

/// A plugin published to a registry the demo starts, signed, added on one
/// machine and installed from the lock on another, which calls it.
fn registry_demo(plugins: &std::path::Path) -> Result<()> {
    let binary = match crate::docker_registry::install() {
        Ok(binary) => binary,
        Err(err) => {
            eprintln!("\nskipping the registry step: {err:#}");
            return Ok(());
        }
    };
    let root = crate::target_dir().join("tmp/registry-demo");
    let _ = std::fs::remove_dir_all(&root);
    let registry = crate::docker_registry::Running::start(&binary, &root)?;
    let witplug = crate::target_dir().join("debug").join("witplug");
    let reference = format!("{}/plugins/kv-counter:1.0.0", registry.addr());
    let (author, a, b) = (root.join("author"), root.join("machine-a"), root.join("machine-b"));
    for dir in [&author, &a, &b] {
        std::fs::create_dir_all(dir)?;
    }
    let step = |cwd: &std::path::Path, args: &[&str]| -> Result<String> {
        println!("$ witplug {}", args.join(" "));
        let output = std::process::Command::new(&witplug)
            .args(args)
            .current_dir(cwd)
            .env("WITPLUG_LOG", "off")
            .env("WITPLUG_DATA", cwd.join("data"))
            .env("WITPLUG_CACHE", cwd.join("cache"))
            .output()
            .context("starting witplug")?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        print!("{stdout}");
        if !output.status.success() {
            bail!("witplug {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        }
        Ok(stdout)
    };
    println!("\nPlugins through a registry (docker-registry on {}):", registry.addr());
    let file = plugins.join("kv-counter.wasm");
    step(&author, &["push", file.to_str().unwrap_or_default(), &reference])?;
    let key = step(&author, &["key", "new", "release.key"])?;
    step(&author, &["sign", &reference, "--key", "release.key"])?;
    let policy = format!("[trust]\n\"{}/plugins\" = [\"{}\"]\n", registry.addr(), key.trim());
    for machine in [&a, &b] {
        std::fs::write(machine.join("witplug.toml"), &policy)?;
    }
    step(&a, &["add", &reference, "--accept-grants"])?;
    std::fs::copy(a.join("witplug.lock"), b.join("witplug.lock"))?;
    step(&b, &["install"])?;
    step(&b, &["call", "kv-counter", "handle", "\"\""])?;
    Ok(())
}

/// An agent's session with `witplug mcp`: the official Python MCP client
/// lists the folder's tools and calls them, once with an input the schema
/// refuses.
fn mcp_demo(plugins: &std::path::Path) -> Result<()> {
    let mut build = cargo();
    build.args(["build", "--quiet", "--package", "witplug-cli"]);
    run_step("building the witplug CLI", build)?;
    let python = crate::venv::mcp_client::install()?;
    let witplug = crate::target_dir().join("debug").join("witplug");
    // A folder of its own with the one plugin the step calls: the server
    // answers once its folder is loaded.
    let folder = crate::target_dir().join("tmp/mcp-demo");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    for file in ["word-count.wasm", "word-count.toml"] {
        std::fs::copy(plugins.join(file), folder.join(file))
            .with_context(|| format!("copying {file} into {}", folder.display()))?;
    }
    let script = serde_json::json!({
        "transport": "stdio",
        "transcript": true,
        "command": [witplug, "mcp", "--plugins", folder],
        "env": { "WITPLUG_LOG": "off" },
        "steps": [
            { "op": "list" },
            { "op": "call", "name": "count-words", "arguments": { "text": "an agent calls a plugin" } },
            { "op": "call", "name": "count-words", "arguments": { "text": 42 } },
        ],
    });
    println!("\nAn MCP client (the official Python SDK) and `witplug mcp`:");
    let mut command = std::process::Command::new(python);
    command
        .arg(workspace_root().join("tests/mcp/client.py"))
        .arg(script.to_string())
        .stdout(std::process::Stdio::null());
    run_step("the MCP demo", command)
}

/// Builds the plugins and runs every test of the workspace. (That a new
/// plugin crate builds as it stands is one of them: the CLI test that goes
/// from `witplug new` to an answer.)
pub fn test(args: &[String]) -> Result<()> {
    build_plugins::run(&Options::all())?;
    // The CLI tests run the `witplug` binary, which lives in its own crate.
    // It is built with every target `cargo test` builds, in one go: features
    // are resolved once for both, so the tests reuse all the binary's crates
    // (built alone, it would give wasmtime other features and a second build).
    let mut build = cargo();
    build.args(["build", "--quiet", "--lib", "--bins", "--tests", "--examples"]);
    run_step("building the witplug CLI and the tests", build)?;
    // Every example plugin compiled once, into the cache the tests share:
    // the Python and JavaScript components take seconds each to compile,
    // and many tests, in-process and through the CLI, load them.
    let cache = workspace_root().join("target/tmp/witplug-suite-cache");
    // (The binary just built, not `cargo run -p witplug-cli`: that resolves
    // features for the CLI alone and would build wasmtime again.)
    let witplug =
        crate::target_dir().join("debug").join(format!("witplug{}", std::env::consts::EXE_SUFFIX));
    let mut precompile = std::process::Command::new(witplug);
    precompile
        .args(["precompile", "--plugins"])
        .arg(workspace_root().join("plugins"))
        .arg("--cache")
        .arg(&cache)
        .env("WITPLUG_LOG", "off");
    run_step("compiling the example plugins into the suite's cache", precompile)?;
    // The NATS tests start a real nats-server of their own.
    let nats_server = crate::nats_server::install()?;
    // The MCP tests drive `witplug mcp` with the official Python client.
    let mcp_python = crate::venv::mcp_client::install()?;
    // The MCP conformance test runs the official suite's server scenarios.
    let conformance = crate::mcp_conformance::install()?;
    // The distribution tests push to and pull from a real registry.
    let docker_registry = crate::docker_registry::install()?;
    // The metrics tests parse a scrape with the official Prometheus client.
    let prometheus_python = crate::venv::prometheus_client::install()?;
    let mut command = cargo();
    command
        .arg("test")
        .args(args)
        .env(crate::nats_server::ENV, nats_server)
        .env(crate::venv::mcp_client::ENV, mcp_python)
        .env(crate::mcp_conformance::ENV, conformance)
        .env(crate::docker_registry::ENV, docker_registry)
        .env(crate::venv::prometheus_client::ENV, prometheus_python)
        .env("WITPLUG_SUITE_CACHE", &cache);
    run_step("the tests", command)
}

/// Builds the plugins, runs the overhead benchmark in the bench profile,
/// prints its table and writes it to `BENCHMARKS.md`.
pub fn bench() -> Result<()> {
    build_plugins::run(&Options::all())?;
    // The rows across hosts talk through a local nats-server.
    let jetstream = workspace_root().join("target/tmp/bench-jetstream");
    let _ = std::fs::remove_dir_all(&jetstream);
    let server = crate::nats_server::Running::start(&crate::nats_server::install()?, &jetstream)?;
    eprintln!("building the benchmark in the bench profile (the first time takes minutes)...");
    let output = cargo()
        .args(["bench", "--quiet", "--package", "witplug-host", "--features", "nats"])
        .args(["--bench", "overhead"])
        .env("WITPLUG_NATS_URL", server.url())
        .current_dir(workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting the benchmark")?;
    if !output.status.success() {
        bail!("the benchmark failed");
    }
    let mut report = String::from_utf8(output.stdout).context("the benchmark's report")?;
    eprintln!("measuring MCP round trips...");
    let output = cargo()
        .args(["bench", "--quiet", "--package", "witplug-mcp", "--bench", "roundtrip"])
        .current_dir(workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting the MCP benchmark")?;
    if !output.status.success() {
        bail!("the MCP benchmark failed");
    }
    report.push_str(
        "\n## MCP\n\n`witplug mcp` answering `tools/call` from rmcp's client, one call at a time \
         (`cargo bench -p witplug-mcp --bench roundtrip`); the floor is an rmcp server whose tool \
         is a native Rust closure, over the same transport.\n\n\
         | measurement | witplug | floor | ratio | target |\n| --- | ---: | ---: | ---: | --- |\n",
    );
    report.push_str(&String::from_utf8(output.stdout).context("the MCP benchmark's rows")?);
    eprintln!("measuring key-value state...");
    let output = cargo()
        .args(["bench", "--quiet", "--package", "witplug-host", "--features", "nats"])
        .args(["--bench", "keyvalue"])
        .env("WITPLUG_NATS_URL", server.url())
        .current_dir(workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting the key-value benchmark")?;
    if !output.status.success() {
        bail!("the key-value benchmark failed");
    }
    report.push_str(
        "\n## Key-value state\n\n`get` and `set` of a 100-byte value by a plugin (kv-counter, \
         through `wasi:keyvalue`, the whole call into the plugin included), beside the same \
         operation on the same store used directly from Rust (`cargo bench -p witplug-host \
         --features nats --bench keyvalue`). redb: each write its own synced transaction, as \
         witplug's. JetStream: a local `nats-server -js`.\n\n\
         | measurement | witplug | floor | ratio | target |\n| --- | ---: | ---: | ---: | --- |\n",
    );
    report.push_str(&String::from_utf8(output.stdout).context("the key-value benchmark's rows")?);
    eprintln!("measuring pulls from a registry...");
    let docker_registry = crate::docker_registry::install()?;
    let output = cargo()
        .args(["bench", "--quiet", "--package", "witplug-registry", "--bench", "pull"])
        // The host library as the rows above built it, not a second time.
        .args(["--features", "witplug-host/nats"])
        .env(crate::docker_registry::ENV, docker_registry)
        .current_dir(workspace_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting the registry benchmark")?;
    if !output.status.success() {
        bail!("the registry benchmark failed");
    }
    report.push_str(
        "\n## Distribution\n\nPulls from a local registry (Debian's `docker-registry` 2.8, in \
         memory), a signature's verification, and a host starting from `witplug.lock` \
         (`cargo bench -p witplug-registry --bench pull`).\n\n\
         | measurement | witplug | floor | ratio | target |\n| --- | ---: | ---: | ---: | --- |\n",
    );
    report.push_str(&String::from_utf8(output.stdout).context("the registry benchmark's rows")?);
    print!("{report}");
    let path = workspace_root().join("BENCHMARKS.md");
    std::fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

pub(crate) fn run_step(what: &str, mut command: std::process::Command) -> Result<()> {
    let started = std::time::Instant::now();
    let status = command
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed after {:.1} s", started.elapsed().as_secs_f64());
    }
    // Which step ran and how long it took, on stderr: a first run takes
    // minutes, and says where they go.
    eprintln!("xtask: {what}: {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
