//! The `witplug` binary, run as a user would, on the example plugins.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn plugins_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    assert!(
        dir.join("greeter-fr.wasm").is_file(),
        "the example plugins are missing: run `cargo xtask build-plugins`"
    );
    dir
}

/// The `witplug` binary of this build: `cargo xtask test` builds it
/// before the tests, beside the test binary's folder.
pub fn witplug_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let bin = profile.join(format!("witplug{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p witplug-cli` (or `cargo xtask test`)",
        bin.display()
    );
    bin
}

fn witplug(args: &[&str]) -> Output {
    Command::new(witplug_bin())
        .args(args)
        .env_remove("WITPLUG_PLUGINS")
        .env_remove("WITPLUG_LOG")
        .env("WITPLUG_CACHE", cli_cache())
        .env("WITPLUG_DATA", cli_data())
        .output()
        .expect("running witplug")
}

/// The suite's data folder, so that these tests never write the user's
/// (`~/.local/share/witplug`).
pub fn cli_data() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("witplug-cli-data")
}

/// The suite's cache, so these tests do not write the user's, and find
/// the example plugins compiled.
fn cli_cache() -> PathBuf {
    crate::support::suite_cache()
}

/// Runs witplug with plugin logs switched off, so stderr holds only errors.
fn witplug_quiet(args: &[&str]) -> Output {
    Command::new(witplug_bin())
        .args(args)
        .env_remove("WITPLUG_PLUGINS")
        .env("WITPLUG_LOG", "off")
        .env("WITPLUG_CACHE", cli_cache())
        .env("WITPLUG_DATA", cli_data())
        .output()
        .expect("running witplug")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Fails unless the command failed with exactly one line on stderr.
fn assert_one_line_error(output: &Output) -> String {
    assert!(!output.status.success(), "succeeded: {}", stdout(output));
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(!err.contains("thread '"), "the CLI itself panicked: {err}");
    err.trim_end().to_owned()
}

#[test]
fn call_prints_the_result_in_wave() {
    let dir = plugins_dir();
    let output =
        witplug(&["call", "--plugins", dir.to_str().unwrap(), "greeter-fr", "greet", "\"JP\""]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "\"Bonjour, JP!\"\n");
}

#[test]
fn call_reaches_interface_exports_by_short_name() {
    let dir = plugins_dir();
    let output =
        witplug(&["call", "--plugins", dir.to_str().unwrap(), "counter", "handle", "\"tick\""]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "ok(\"1\")\n");
}

#[test]
fn a_wrong_export_lists_the_exports() {
    let dir = plugins_dir();
    let output = witplug(&["call", "--plugins", dir.to_str().unwrap(), "greeter-en", "hello"]);
    let err = assert_one_line_error(&output);
    assert_eq!(err, "error: plugin `greeter-en` has no export `hello` (exports: language, greet)");
}

#[test]
fn bad_arguments_are_one_line() {
    let dir = plugins_dir();
    let dir = dir.to_str().unwrap();
    let err =
        assert_one_line_error(&witplug(&["call", "--plugins", dir, "greeter-en", "greet", "JP"]));
    assert!(
        err.starts_with("error: plugin `greeter-en`, export `greet`: argument `name`:"),
        "{err}"
    );
    let err = assert_one_line_error(&witplug(&["call", "--plugins", dir, "greeter-en", "greet"]));
    assert!(err.contains("expects 1 argument"), "{err}");
    let err = assert_one_line_error(&witplug(&["call", "--plugins", dir, "nope", "greet"]));
    assert!(err.starts_with(&format!("error: no plugin named `nope` in {dir} (plugins there: ")));
    // Components and WAT files, each once, though manifests share the names.
    let listed = err.split("plugins there: ").nth(1).unwrap().trim_end_matches(')');
    let names: Vec<&str> = listed.split(", ").collect();
    assert!(names.starts_with(&["counter", "echo"]) && names.contains(&"math"), "{err}");
    assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "sorted, no repeats: {err}");
    let err = assert_one_line_error(&witplug(&["call", "--plugins", "/nonexistent", "x", "y"]));
    assert!(err.starts_with("error: /nonexistent: "), "{err}");
    let err = assert_one_line_error(&witplug(&["frobnicate"]));
    assert!(err.contains("frobnicate"), "{err}");
    assert_eq!(witplug(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn inspect_shows_the_host_import_and_the_exports() {
    let path = plugins_dir().join("greeter-en.wasm");
    let output = witplug(&["inspect", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let wit = stdout(&output);
    assert!(wit.contains("import witplug:plugin/host@0.2.0;"), "{wit}");
    assert!(wit.contains("export greet: func(name: string) -> string;"), "{wit}");
    let err = assert_one_line_error(&witplug(&["inspect", "Cargo.toml"]));
    assert_eq!(err, "error: Cargo.toml: not a WebAssembly file");
}

#[test]
fn list_shows_every_plugin_and_fails_on_bad_files() {
    let dir = plugins_dir();
    let output = witplug(&["list", "--plugins", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = stdout(&output);
    for name in
        ["counter", "echo", "greeter-en", "greeter-es", "greeter-fr", "messenger", "tool-user"]
    {
        assert!(listing.lines().any(|line| line.starts_with(name)), "{name} missing: {listing}");
    }
    assert!(listing.contains("Counts its calls"), "{listing}");

    let scratch = std::env::temp_dir().join(format!("witplug-cli-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::copy(dir.join("echo.wasm"), scratch.join("echo.wasm")).unwrap();
    std::fs::write(scratch.join("broken.wasm"), "not wasm").unwrap();
    let output = witplug(&["list", "--plugins", scratch.to_str().unwrap()]);
    let listing = stdout(&output);
    std::fs::remove_dir_all(&scratch).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(listing.contains("echo"), "{listing}");
    assert!(listing.contains("broken.wasm: not a WebAssembly file"), "{listing}");
    assert!(listing.ends_with("1 loaded, 1 failed\n"), "{listing}");
}

#[test]
fn each_hostile_plugin_fails_with_its_own_error_on_one_line() {
    let dir = plugins_dir();
    let dir = dir.to_str().unwrap();
    let cases = [
        (
            "hostile-loop",
            "\"\"",
            "error: plugin `hostile-loop` timed out: the call ran past its 1s deadline",
        ),
        ("hostile-memory", "\"\"", "error: plugin `hostile-memory` hit its memory limit of 64 MiB"),
        (
            "hostile-recursion",
            "\"\"",
            "error: plugin `hostile-recursion` overflowed its 512 KiB wasm stack",
        ),
        (
            "hostile-panic",
            "\"x\"",
            "error: plugin `hostile-panic` trapped: panicked: cannot handle \"x\"",
        ),
        (
            "hostile-log-flood",
            "\"\"",
            "error: plugin `hostile-log-flood` wrote more than 1000 log lines in one call",
        ),
        (
            "hostile-output",
            "\"\"",
            "error: plugin `hostile-output` returned 100 MiB of output, over its limit of 16 MiB",
        ),
        (
            "hostile-overreach",
            "\"tool\"",
            "error: plugin `hostile-overreach` returned err(denied(\"tool:shell\"))",
        ),
        (
            "hostile-snoop",
            "\"file:/etc/passwd\"",
            "error: plugin `hostile-snoop` returned err(failed(\"cannot read /etc/passwd:",
        ),
    ];
    for (plugin, arg, expected) in cases {
        let output = witplug_quiet(&["call", "--plugins", dir, plugin, "handle", arg]);
        let err = assert_one_line_error(&output);
        // A trap or a limit exits 3; an error the plugin returned, 1.
        let code = if err.contains(" returned err(") { 1 } else { 3 };
        assert_eq!(output.status.code(), Some(code), "{plugin}");
        assert!(err.starts_with(expected), "{plugin}: {err}");
    }
}

#[test]
fn operator_limits_come_from_flags() {
    let dir = plugins_dir();
    let dir = dir.to_str().unwrap();
    let output = witplug_quiet(&[
        "call",
        "--plugins",
        dir,
        "--deadline",
        "100ms",
        "hostile-loop",
        "handle",
        "\"\"",
    ]);
    assert_eq!(
        assert_one_line_error(&output),
        "error: plugin `hostile-loop` timed out: the call ran past its 100ms deadline"
    );
    let output = witplug_quiet(&[
        "call",
        "--plugins",
        dir,
        "--fuel",
        "1000",
        "hostile-loop",
        "handle",
        "\"\"",
    ]);
    assert!(assert_one_line_error(&output).contains("ran out of fuel"));
    let output =
        witplug(&["call", "--plugins", dir, "--memory", "lots", "counter", "handle", "\"\""]);
    assert!(assert_one_line_error(&output).contains("invalid value 'lots' for '--memory <SIZE>'"));
}

#[test]
fn inspect_shows_what_each_import_was_granted() {
    let path = plugins_dir().join("tool-user.wasm");
    let output = witplug(&["inspect", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("tools: upper, reverse, fail, translate"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("wasi:filesystem/preopens") && l.ends_with("folders: none")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("wasi:cli/stdout") && l.ends_with("discarded")),
        "{text}"
    );
}

#[test]
fn stats_runs_a_workload_and_prints_the_table() {
    let dir = plugins_dir();
    let output = witplug_quiet(&[
        "stats",
        "--plugins",
        dir.to_str().unwrap(),
        "--calls",
        "5",
        "counter",
        "echo",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(table.starts_with("PLUGIN"), "{table}");
    let row =
        |name: &str| table.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap().to_owned();
    assert_eq!(row("counter").split_whitespace().nth(1), Some("5"), "{table}");
    assert_eq!(row("TOTAL").split_whitespace().nth(1), Some("10"), "{table}");
}

#[test]
fn run_prints_events_and_stops_on_ctrl_c() {
    use std::io::BufRead;
    let dir = plugins_dir();
    let mut child = Command::new(witplug_bin())
        .args(["run", "--watch", "--plugins", dir.to_str().unwrap()])
        .env("WITPLUG_LOG", "off")
        .env("WITPLUG_CACHE", cli_cache())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once it says it runs (however long loading took).
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let running = line.contains("Ctrl-C stops");
        said.push(line);
        if running {
            break;
        }
    }
    assert!(said.last().is_some_and(|line| line.contains("Ctrl-C stops")), "{said:#?}");
    let interrupted =
        Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    said.extend(lines.map(Result::unwrap));
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{said:#?}");
    let events = stdout(&output);
    assert!(events.contains("counter: loaded"), "{events}");
    assert!(events.contains("counter: initialised"), "{events}");
    assert!(events.contains("counter: stopped"), "{events}");
    assert!(said.iter().any(|line| line.contains("watching for changes")), "{said:#?}");
}

#[test]
fn precompile_fills_the_cache_that_later_commands_use() {
    let plugins = crate::support::Scratch::new();
    plugins.copy_fixture("counter");
    plugins.copy_fixture("greeter-en");
    let dir = plugins.path();
    let cache = std::env::temp_dir().join(format!("witplug-precompile-{}", std::process::id()));
    let cache = cache.to_str().unwrap();
    let output = witplug(&["precompile", "--plugins", dir.to_str().unwrap(), "--cache", cache]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("compiled ") && text.contains("counter.wasm"), "{text}");
    assert!(text.trim_end().ends_with("0 failed"), "{text}");
    let output = witplug(&[
        "call",
        "--plugins",
        dir.to_str().unwrap(),
        "--cache",
        cache,
        "counter",
        "handle",
        "\"x\"",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::remove_dir_all(cache).unwrap();
    std::fs::remove_file(format!("{cache}.key")).unwrap();
    let err = assert_one_line_error(&witplug(&["precompile", "--no-cache"]));
    assert!(err.contains("needs a cache folder"), "{err}");
}

#[test]
fn call_reaches_wat_plugins_too() {
    let dir = plugins_dir();
    let output =
        witplug_quiet(&["call", "--plugins", dir.to_str().unwrap(), "math", "factorial", "5"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "120");
}

/// As a plugin author outside this repository would: `witplug new`, then
/// `witplug build`, then a host loads and calls the component.
#[test]
fn a_new_plugin_builds_outside_the_workspace_and_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = std::env::temp_dir().join(format!("witplug-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (dir_arg, sdk) = (dir.to_str().unwrap(), root.join("guest-sdk"));
    let created =
        witplug(&["new", "hello-there", "--dir", dir_arg, "--sdk-path", sdk.to_str().unwrap()]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let manifest = dir.join("hello-there/Cargo.toml");
    assert!(std::fs::read_to_string(&manifest).unwrap().contains("crate-type = [\"cdylib\"]"));

    // The workspace's target folder: the SDK's dependencies compiled for
    // wasm by `cargo xtask test` are reused.
    let out = dir.join("plugins");
    let built = Command::new(witplug_bin())
        .args(["build", "--release", "--manifest-path", manifest.to_str().unwrap(), "--out"])
        .arg(&out)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let stdout = String::from_utf8_lossy(&built.stdout);
    assert!(stdout.contains("hello-there") && stdout.contains("1 built"), "{stdout}");
    // Built again in the same profile: up to date.
    let again = Command::new(witplug_bin())
        .args(["build", "--release", "--manifest-path", manifest.to_str().unwrap(), "--out"])
        .arg(&out)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.contains("0 built, 1 up to date"), "{again}");

    let called = witplug_quiet(&[
        "call",
        "--plugins",
        out.to_str().unwrap(),
        "hello-there",
        "handle",
        "\"hi\"",
    ]);
    assert!(called.status.success(), "{}", String::from_utf8_lossy(&called.stderr));
    assert_eq!(String::from_utf8_lossy(&called.stdout).trim(), "ok(\"hi\")");
    let again = witplug(&["new", "hello-there", "--dir", dir_arg]);
    let err = assert_one_line_error(&again);
    assert!(err.ends_with("hello-there already exists"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A Python plugin outside the repository: `witplug new --lang python`
/// writes it, `witplug build` runs componentize-py (the one `cargo xtask
/// test` installed), and the component answers; built again unchanged, it
/// is up to date.
#[test]
fn a_new_python_plugin_builds_outside_the_workspace_and_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = crate::support::Scratch::new();
    let created =
        witplug(&["new", "hello-py", "--lang", "python", "--dir", dir.path().to_str().unwrap()]);
    assert!(created.status.success(), "{}", stderr(&created));
    let plugin = dir.path().join("hello-py");
    assert!(plugin.join("app.py").is_file());
    let out = dir.path().join("plugins");
    let build = || {
        Command::new(witplug_bin())
            .args(["build", "--manifest-path", plugin.to_str().unwrap(), "--out"])
            .arg(&out)
            .env("WITPLUG_TOOLS", root.join("target/tools"))
            .output()
            .unwrap()
    };
    let built = build();
    assert!(built.status.success(), "{}", stderr(&built));
    assert!(stdout(&built).contains("1 built, 0 up to date"), "{}", stdout(&built));
    let again = build();
    assert!(stdout(&again).contains("0 built, 1 up to date"), "{}", stdout(&again));

    let called =
        witplug_quiet(&["call", "--plugins", out.to_str().unwrap(), "hello-py", "handle", "\"x\""]);
    assert!(called.status.success(), "{}", stderr(&called));
    assert_eq!(stdout(&called).trim(), "ok(\"x\")");

    let not_a_plugin = witplug(&["build", "--manifest-path", out.to_str().unwrap()]);
    let err = assert_one_line_error(&not_a_plugin);
    assert!(err.contains("no Cargo.toml, app.py or app.js here"), "{err}");
}

#[test]
fn nats_an_unreachable_server_is_a_warning_and_the_call_still_answers() {
    let url = format!("nats://127.0.0.1:{}", crate::nats_server::free_port());
    let dir = plugins_dir();
    let plugins = dir.to_str().unwrap();
    let output = witplug_quiet(&[
        "call",
        "--nats",
        &url,
        "--plugins",
        plugins,
        "counter",
        "handle",
        "\"x\"",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "ok(\"1\")\n");
    let warning = stderr(&output);
    assert_eq!(warning.lines().count(), 1, "{warning}");
    assert!(warning.starts_with(&format!("warning: NATS at {url}: ")), "{warning}");
}

#[test]
fn nats_a_call_in_one_process_reaches_a_tool_in_a_witplug_run_process() {
    use std::io::{BufRead, BufReader};

    let server = crate::nats_server::NatsServer::start();
    let dir = crate::support::Scratch::new();
    dir.copy_fixture("word-count");
    dir.write("word-count.toml", "[provides]\ntools = [\"count-words\"]\n");
    let mut run = Command::new(witplug_bin())
        .args(["run", "--nats", &server.url(), "--plugins", dir.path().to_str().unwrap()])
        .env("WITPLUG_LOG", "off")
        .env("WITPLUG_CACHE", cli_cache())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `witplug run` says it runs once its plugins are loaded and offered.
    let mut lines = BufReader::new(run.stderr.take().unwrap()).lines();
    let running = lines.by_ref().map_while(Result::ok).find(|line| line.starts_with("running"));
    assert!(running.is_some(), "witplug run ended before running");

    let output = witplug_quiet(&[
        "call",
        "--nats",
        &server.url(),
        "--plugins",
        plugins_dir().to_str().unwrap(),
        "tool-user",
        "handle",
        r#""count-words:{\"text\":\"one two three\"}""#,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "ok(\"count-words says: 3\")\n");

    let interrupted = Command::new("kill").args(["-INT", &run.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(run.wait().unwrap().success(), "{rest:?}");
    assert!(rest.iter().any(|line| line.starts_with("NATS: sent 0, dropped 0")), "{rest:?}");
}

#[test]
fn kv_reads_and_changes_what_a_plugin_keeps_across_processes() {
    let scratch = crate::support::Scratch::new();
    let data = scratch.path().to_str().unwrap();
    let plugins = plugins_dir();
    let plugins = plugins.to_str().unwrap();
    let count = || {
        stdout(&witplug_quiet(&[
            "call",
            "kv-counter",
            "handle",
            "\"\"",
            "--plugins",
            plugins,
            "--data",
            data,
        ]))
    };
    // Each call is a host of its own, on the same database file.
    assert_eq!(count(), "ok(\"1\")\n");
    assert_eq!(count(), "ok(\"2\")\n");
    assert!(scratch.path().join("keyvalue.redb").is_file());

    let kv = |args: &[&str]| {
        let mut all = vec!["kv"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data", data]);
        witplug_quiet(&all)
    };
    assert_eq!(stdout(&kv(&["list", "kv-counter"])), "default\n");
    assert_eq!(stdout(&kv(&["list", "kv-counter", "default"])), "count\n");
    assert_eq!(stdout(&kv(&["get", "kv-counter", "default", "count"])), "2\n");
    assert!(kv(&["set", "kv-counter", "default", "count", "41"]).status.success());
    assert_eq!(count(), "ok(\"42\")\n");
    assert!(kv(&["delete", "kv-counter", "default", "count"]).status.success());

    let missing = kv(&["get", "kv-counter", "default", "count"]);
    assert_eq!(missing.status.code(), Some(4), "not found");
    let line = assert_one_line_error(&missing);
    assert!(line.contains("no key `count` in kv-counter's bucket `default`"), "{line}");
    let line = assert_one_line_error(&kv(&["get", "kv-counter", "a/b", "k"]));
    assert!(line.contains("`a/b` is not a bucket name"), "{line}");
    let line = assert_one_line_error(&kv(&["list", "kv-counter", "--kv", "nats"]));
    assert!(line.contains("give --nats URL too"), "{line}");
}

#[test]
fn each_exit_code_has_its_case() {
    let dir = plugins_dir();
    let dir = dir.to_str().unwrap();
    let code = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--plugins", dir]);
        witplug_quiet(&all).status.code()
    };
    assert_eq!(code(&["call", "greeter-fr", "greet", "\"JP\""]), Some(0));
    assert_eq!(code(&["call", "tool-user", "handle", "\"x\""]), Some(1), "the plugin's error");
    assert_eq!(code(&["call", "greeter-fr", "greet"]), Some(2), "wrong arguments");
    assert_eq!(code(&["frobnicate"]), Some(2), "wrong arguments");
    assert_eq!(code(&["call", "hostile-loop", "handle", "\"\""]), Some(3), "a limit");
    assert_eq!(code(&["call", "hostile-panic", "handle", "\"x\""]), Some(3), "a trap");
    assert_eq!(code(&["call", "nope", "handle"]), Some(4), "no such plugin");
    assert_eq!(code(&["call", "greeter-fr", "nope"]), Some(4), "no such export");
    let scratch = crate::support::Scratch::new();
    scratch.write("broken.wasm", "not wasm");
    let broken =
        witplug_quiet(&["call", "broken", "x", "--plugins", scratch.path().to_str().unwrap()]);
    assert_eq!(broken.status.code(), Some(5), "a file that is not a plugin");
    let help = stdout(&witplug(&["--help"]));
    assert!(help.contains("Exit codes:") && help.contains("4  not found"), "{help}");
    assert!(help.contains("6  unavailable for now"), "{help}");
}

#[test]
fn conventions_completions_colour_verbosity_and_version() {
    let bash = witplug(&["completion", "bash"]);
    assert!(bash.status.success());
    assert!(stdout(&bash).contains("_witplug()") && stdout(&bash).contains("kv"), "bash");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = witplug(&["completion", shell]);
        assert!(script.status.success() && !script.stdout.is_empty(), "{shell}");
    }
    assert_eq!(witplug(&["completion", "tcsh"]).status.code(), Some(2));

    // NO_COLOR wins over CLICOLOR_FORCE; --color always wins over both.
    let dir = plugins_dir();
    let dir = dir.to_str().unwrap();
    let run = |color: Option<&str>, env: &[(&str, &str)]| {
        let mut command = Command::new(witplug_bin());
        command
            .args(["call", "nope", "handle", "--plugins", dir])
            .env("WITPLUG_CACHE", cli_cache());
        if let Some(color) = color {
            command.args(["--color", color]);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        for (key, value) in env {
            command.env(key, value);
        }
        stderr(&command.output().unwrap())
    };
    let forced = run(None, &[("CLICOLOR_FORCE", "1")]);
    assert!(forced.contains('\x1b'), "CLICOLOR_FORCE colours: {forced:?}");
    let plain = run(None, &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]);
    assert!(!plain.contains('\x1b'), "NO_COLOR: {plain:?}");
    assert!(plain.starts_with("error: no plugin named `nope`"), "{plain}");
    assert!(run(Some("always"), &[("NO_COLOR", "1")]).contains('\x1b'));
    assert!(!run(Some("never"), &[("CLICOLOR_FORCE", "1")]).contains('\x1b'));
    // Clap's own errors too, with its "did you mean" kept on the one line.
    let typo = stderr(&witplug(&["--color", "never", "cal"]));
    assert_eq!(typo.lines().count(), 1, "{typo}");
    assert!(typo.contains("'cal'") && typo.contains("'call'") && !typo.contains('\x1b'), "{typo}");

    // -q: no plugin log lines; -v: the host's notices too.
    let greet = |flag: &str| {
        let mut command = Command::new(witplug_bin());
        command.args(["call", "wasi-greeter", "greet", "\"JP\"", "--plugins", dir]);
        if !flag.is_empty() {
            command.arg(flag);
        }
        command.env_remove("WITPLUG_LOG").env("WITPLUG_CACHE", cli_cache()).env("NO_COLOR", "1");
        command.output().unwrap()
    };
    let normal = stderr(&greet(""));
    assert!(normal.contains("greeting JP"), "plugin log lines by default: {normal}");
    let quiet = greet("-q");
    assert!(quiet.status.success() && quiet.stderr.is_empty(), "{}", stderr(&quiet));
    assert!(stderr(&greet("-v")).len() >= normal.len());

    let long = stdout(&witplug(&["--version"]));
    for part in ["witplug 0.1.0", "wasmtime 48.", "witplug:plugin@0.1.0", "witplug:plugin@0.2.0"] {
        assert!(long.contains(part), "{part} in {long}");
    }
    assert!(long.contains("wasi:keyvalue@0.2.0-draft2"), "{long}");
    assert_eq!(stdout(&witplug(&["-V"])).lines().count(), 1);
}

#[test]
fn call_takes_a_call_expression_and_an_argument_from_stdin() {
    let dir = plugins_dir();
    let dir = dir.to_str().unwrap();
    let expression =
        witplug_quiet(&["call", "greeter-fr", "greet(\"JP, (the first)\")", "--plugins", dir]);
    assert_eq!(stdout(&expression), "\"Bonjour, JP, (the first)!\"\n");
    let sum = witplug_quiet(&["call", "math", "add(2, 3)", "--plugins", dir]);
    assert_eq!(stdout(&sum), "5\n");
    let mut piped = Command::new(witplug_bin())
        .args(["call", "greeter-fr", "greet", "-", "--plugins", dir])
        .env("WITPLUG_LOG", "off")
        .env("WITPLUG_CACHE", cli_cache())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(piped.stdin.as_mut().unwrap(), b"a \"quoted\" name").unwrap();
    drop(piped.stdin.take());
    let output = piped.wait_with_output().unwrap();
    assert_eq!(stdout(&output), "\"Bonjour, a \\\"quoted\\\" name!\"\n");
    let err = assert_one_line_error(&witplug_quiet(&[
        "call",
        "greeter-fr",
        "greet(\"JP)",
        "--plugins",
        dir,
    ]));
    assert!(err.contains("not closed"), "{err}");
}

#[test]
fn json_output_parses_and_holds_what_the_table_shows() {
    let dir = plugins_dir();
    let dir = dir.to_str().unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let output = witplug_quiet(args);
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{args:?}: {err}: {}", stdout(&output)))
    };

    // list: the same plugins as the table, with their contract.
    let table = stdout(&witplug_quiet(&["list", "--plugins", dir]));
    let listed = json(&["list", "--plugins", dir, "--json"]);
    let plugins = listed["plugins"].as_array().unwrap();
    assert_eq!(table.lines().count(), plugins.len() + 2, "a header and a total line");
    for plugin in plugins {
        let name = plugin["name"].as_str().unwrap();
        let row = table.lines().find(|line| line.split_whitespace().next() == Some(name));
        let row = row.unwrap_or_else(|| panic!("{name} is not in the table"));
        let contract = plugin["contract"].as_str().unwrap_or("-");
        assert!(row.split_whitespace().any(|cell| cell == contract), "{name}: {row}");
    }
    assert_eq!(listed["failed"], serde_json::json!([]));

    // inspect: the contract and what each import gives.
    let file = format!("{dir}/kv-counter.wasm");
    let shown = json(&["inspect", &file, "--json"]);
    assert_eq!(shown["contract"], "0.2.0");
    assert_eq!(shown["gives"]["wasi:keyvalue/store@0.2.0-draft2"], "buckets: default");
    assert!(shown["wit"].as_str().unwrap().contains("import wasi:keyvalue/store@0.2.0-draft2"));

    // workload: the calls the table counts, durations in nanoseconds.
    let stats = json(&["workload", "--plugins", dir, "--calls", "7", "counter", "echo", "--json"]);
    let rows = stats["plugins"].as_array().unwrap();
    let counter = rows.iter().find(|row| row["name"] == "counter").unwrap();
    assert_eq!(counter["calls"], 7);
    assert_eq!(counter["successes"], 7);
    assert!(counter["p50_ns"].as_u64().unwrap() > 0);
    assert_eq!(stats["total"]["calls"], 14);

    // kv: buckets and keys as lists, a value as text.
    let scratch = crate::support::Scratch::new();
    let data = scratch.path().to_str().unwrap();
    witplug_quiet(&["call", "kv-counter", "handle", "\"\"", "--plugins", dir, "--data", data]);
    let buckets = json(&["kv", "list", "kv-counter", "--data", data, "--json"]);
    assert_eq!(buckets, serde_json::json!([{ "bucket": "default", "shared": false }]));
    let keys = json(&["kv", "list", "kv-counter", "default", "--data", data, "--json"]);
    assert_eq!(keys, serde_json::json!(["count"]));
    let value = json(&["kv", "get", "kv-counter", "default", "count", "--data", data, "--json"]);
    assert_eq!(value, serde_json::json!({ "key": "count", "text": "1" }));

    // run: one event a line.
    let mut child = Command::new(witplug_bin())
        .args(["run", "--json", "--plugins", dir])
        .env("WITPLUG_LOG", "off")
        .env("WITPLUG_CACHE", cli_cache())
        .env("WITPLUG_DATA", cli_data())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let events: Vec<serde_json::Value> =
        lines.take(3).map(|line| serde_json::from_str(&line.unwrap()).unwrap()).collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(events.iter().all(|event| event["event"] == "loaded"), "{events:?}");
    assert_eq!(events[0]["plugin"], "counter");
}

#[test]
fn cache_shows_prunes_and_cleans_its_folder() {
    let scratch = crate::support::Scratch::new();
    let cache = scratch.path().join("cache");
    let cache = cache.to_str().unwrap();
    let dir = plugins_dir();
    let one = crate::support::Scratch::new();
    for name in ["counter", "echo", "greeter-fr"] {
        std::fs::copy(dir.join(format!("{name}.wasm")), one.path().join(format!("{name}.wasm")))
            .unwrap();
    }
    let built =
        witplug_quiet(&["precompile", "--plugins", one.path().to_str().unwrap(), "--cache", cache]);
    assert!(built.status.success(), "{}", stderr(&built));

    let shown = witplug_quiet(&["cache", "dir", "--cache", cache]);
    assert_eq!(stdout(&shown), format!("{cache}\n"));
    let held: serde_json::Value = serde_json::from_slice(
        &witplug_quiet(&["cache", "dir", "--cache", cache, "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(held["held"]["entries"], 3);
    let bytes = held["held"]["bytes"].as_u64().unwrap();
    assert!(bytes > 0);

    // Nothing is old: only the size bound removes, oldest first.
    let pruned = witplug_quiet(&["cache", "prune", "--cache", cache, "--max-age", "1d"]);
    assert_eq!(stdout(&pruned), format!("removed 0 entries (0 B); 3 left ({})\n", units(bytes)));
    let pruned = witplug_quiet(&["cache", "prune", "--cache", cache, "--max-size", "1B", "--json"]);
    let pruned: serde_json::Value = serde_json::from_slice(&pruned.stdout).unwrap();
    assert_eq!(pruned["removed"]["entries"], 3);
    assert_eq!(pruned["left"], serde_json::json!({ "entries": 0, "bytes": 0 }));

    witplug_quiet(&["precompile", "--plugins", one.path().to_str().unwrap(), "--cache", cache]);
    let cleaned = witplug_quiet(&["cache", "clean", "--cache", cache]);
    assert!(stdout(&cleaned).starts_with("removed 3 entries"), "{}", stdout(&cleaned));
    let err = assert_one_line_error(&witplug_quiet(&["cache", "prune", "--max-age", "1y"]));
    assert!(err.contains("not a duration unit"), "{err}");
}

fn units(bytes: u64) -> String {
    witplug_build::human_size(bytes)
}

#[test]
fn call_reaches_the_tools_other_plugins_of_its_folder_provide() {
    let dir = plugins_dir();
    let dir = dir.to_str().unwrap();
    // tool-user calls count-words, which word-count provides; relay calls
    // it too.
    let input = r#""count-words:{\"text\": \"a b c\"}""#;
    let used = witplug_quiet(&["call", "tool-user", "handle", input, "--plugins", dir]);
    assert_eq!(stdout(&used), "ok(\"count-words says: 3\")\n", "{}", stderr(&used));
    let relayed = witplug_quiet(&[
        "call",
        "relay",
        "handle",
        r#""{\"text\": \"a b c d\"}""#,
        "--plugins",
        dir,
    ]);
    assert_eq!(stdout(&relayed), "ok(\"4\")\n", "{}", stderr(&relayed));
    // A tool nobody in the folder provides is still not found.
    let missing =
        witplug_quiet(&["call", "tool-user", "handle", "\"translate:x\"", "--plugins", dir]);
    assert_eq!(stdout(&missing), "ok(\"no tool named translate\")\n");
}

#[test]
fn call_delivers_what_it_publishes_to_the_subscribers_of_its_folder() {
    let dir = crate::support::Scratch::new();
    for name in ["order-desk", "ledger", "messenger"] {
        dir.copy_fixture(name);
    }
    dir.write("order-desk.toml", "[grants]\npublish = [\"orders.*\"]\n");
    dir.write("ledger.toml", "[grants]\nsubscribe = [\"orders.created\"]\n");
    // messenger subscribes to nothing order-desk may publish: not loaded.
    dir.write("messenger.toml", "[grants]\nsubscribe = [\"news.*\"]\n");
    let folder = dir.path().to_str().unwrap();
    let placed = witplug_quiet(&["call", "--plugins", folder, "order-desk", "handle", "\"3\""]);
    assert!(placed.status.success(), "{}", stderr(&placed));
    assert_eq!(stdout(&placed), "ok(\"placed 3 orders, 3 in all\")\n");
    assert_eq!(stderr(&placed), "ledger received 3 messages\n");
    // -q: only the answer.
    let quiet =
        witplug_quiet(&["-q", "call", "--plugins", folder, "order-desk", "handle", "\"1\""]);
    assert_eq!(stdout(&quiet), "ok(\"placed 1 orders, 1 in all\")\n");
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn a_config_file_sets_the_host_and_flags_and_environment_win_over_it() {
    let scratch = crate::support::Scratch::new();
    let dir = plugins_dir();
    let config =
        format!("plugins = {:?}\n[limits]\ndeadline = \"200 ms\"\n", dir.to_str().unwrap());
    scratch.write("witplug.toml", &config);
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(witplug_bin());
        command
            .args(args)
            .current_dir(scratch.path())
            .env_remove("WITPLUG_PLUGINS")
            .env_remove("WITPLUG_CONFIG")
            .env("WITPLUG_LOG", "off")
            .env("WITPLUG_CACHE", cli_cache())
            .env("WITPLUG_DATA", cli_data());
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().unwrap()
    };
    // The file: its plugins folder (witplug.toml in the current folder),
    // its deadline.
    assert_eq!(stdout(&run(&["call", "counter", "handle", "\"x\""], &[])), "ok(\"1\")\n");
    let timed_out = assert_one_line_error(&run(&["call", "hostile-loop", "handle", "\"\""], &[]));
    assert!(timed_out.ends_with("ran past its 200ms deadline"), "{timed_out}");
    // A flag wins over the file.
    let flagged = run(&["call", "hostile-loop", "handle", "\"\"", "--deadline", "300ms"], &[]);
    assert!(assert_one_line_error(&flagged).ends_with("ran past its 300ms deadline"));
    // The environment wins over the file, and a flag over the environment.
    let env = [("WITPLUG_PLUGINS", "/nonexistent")];
    let err = assert_one_line_error(&run(&["call", "counter", "handle", "\"x\""], &env));
    assert!(err.starts_with("error: /nonexistent"), "{err}");
    let flag = ["call", "counter", "handle", "\"x\"", "--plugins", dir.to_str().unwrap()];
    assert_eq!(stdout(&run(&flag, &env)), "ok(\"1\")\n");
    // --config names another file; a wrong key is one line naming it.
    scratch.write("other.toml", "plugin = \"x\"\n");
    let err = assert_one_line_error(&run(&["list", "--config", "other.toml"], &[]));
    assert!(err.contains("other.toml: line 1: unknown field `plugin`"), "{err}");
    let err = assert_one_line_error(&run(&["list", "--config", "missing.toml"], &[]));
    assert!(err.contains("missing.toml: no such configuration file"), "{err}");
}
