//! Every `witplug` command of the README works as written: each
//! `cargo run -p witplug-cli -- ...` line of its `sh` blocks runs against
//! the example plugins, from the repository's root. A trailing comment is
//! the expected output (`# 120`), the start of the expected error
//! (`# error: ...`), or says the command runs `until Ctrl-C`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::cli::witplug_bin;

const PREFIX: &str = "cargo run -p witplug-cli -- ";

/// The README's witplug command lines: their arguments and expectation.
fn commands(readme: &str) -> Vec<(Vec<String>, String)> {
    let mut in_sh = false;
    let mut commands = Vec::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if let Some(rest) = line.strip_prefix(PREFIX).filter(|_| in_sh) {
            commands.push(split(rest));
        }
    }
    commands
}

/// Splits a shell line into words (with `'...'` and `"..."` quoting) and its
/// trailing `# comment`.
fn split(line: &str) -> (Vec<String>, String) {
    let (mut words, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => (quote, started) = (Some(c), true),
            (None, '#') => return (words, chars.as_str().trim().to_owned()),
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    (words, String::new())
}

#[test]
fn the_readme_splits_commands_as_a_shell_would() {
    let (words, comment) = split(r#"call greeter-fr greet '"JP"'   # "Bonjour, JP!""#);
    assert_eq!(words, ["call", "greeter-fr", "greet", "\"JP\""]);
    assert_eq!(comment, "\"Bonjour, JP!\"");
}

#[test]
fn every_witplug_command_in_the_readme_works_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let commands = commands(&readme);
    assert!(commands.len() >= 8, "{commands:?}");
    let cache = crate::support::suite_cache();
    for (args, expected) in &commands {
        let mut command = Command::new(witplug_bin());
        command
            .args(args)
            .current_dir(root)
            .env_remove("WITPLUG_PLUGINS")
            .env("WITPLUG_LOG", "off")
            .env("WITPLUG_CACHE", &cache)
            .env("WITPLUG_DATA", crate::cli::cli_data());
        let shown = format!("`witplug {}`", args.join(" "));
        if expected.contains("until Ctrl-C") {
            runs_until_stopped(command, &shown);
            continue;
        }
        let output = command.output().unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        if expected.starts_with("error:") {
            assert!(!output.status.success(), "{shown} succeeded");
            assert!(stderr.starts_with(expected.as_str()), "{shown}: {stderr}");
        } else {
            assert!(output.status.success(), "{shown} failed: {stderr}");
            if !expected.is_empty() {
                assert_eq!(stdout.trim(), expected, "{shown}");
            }
        }
    }
}

/// Starts a command that runs until it is stopped, waits for it to report
/// the plugins it loaded, and stops it.
fn runs_until_stopped(mut command: Command, shown: &str) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let first = seen.recv_timeout(Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let first = first.unwrap_or_else(|_| panic!("{shown} printed nothing in 30 s"));
    assert!(first.ends_with(": loaded"), "{shown} printed {first}");
}
