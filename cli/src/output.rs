//! What commands print: lines and JSON on stdout (a closed pipe ends the
//! command quietly), and on stderr the error line and compile notices.

use std::io::IsTerminal;

use witplug_host::Host;

/// Prints one line on stdout. A reader that went away (`witplug list |
/// head`) ends the command quietly, where `println!` would panic.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::print_line(format_args!($($arg)*))
    };
}

pub(crate) use out;

/// Prints `value` as one line of JSON on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let line = serde_json::to_string(value)?;
    print_line(format_args!("{line}"));
    Ok(())
}

/// `--json`: data as JSON on stdout instead of a table (diagnostics stay
/// on stderr).
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct JsonArg {
    /// Print JSON on stdout instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn print_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(err) = writeln!(std::io::stdout().lock(), "{line}") {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {err}");
        std::process::exit(1);
    }
}

/// Tells on stderr, when it is a terminal, of each compile that takes
/// over a second (a first load of a Python or JavaScript plugin), so that
/// seconds of work are not seconds of silence; in a pipe, says nothing.
pub(crate) fn show_compiles(host: &Host) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let mut events = host.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(
                    event @ (witplug_host::Event::Compiling { .. }
                    | witplug_host::Event::Compiled { .. }),
                ) => {
                    eprintln!("{event}");
                }
                Ok(_) | Err(witplug_host::observe::RecvError::Lagged(_)) => {}
                Err(witplug_host::observe::RecvError::Closed) => break,
            }
        }
    });
}

/// `error`, in bold red when colouring.
pub(crate) fn error_prefix(color: bool) -> &'static str {
    if color { "\x1b[1;31merror\x1b[0m" } else { "error" }
}

/// An error and those of its causes its message does not already say, on
/// one line (see [`witplug_build::one_line`]).
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    witplug_build::one_line(err.chain().map(ToString::to_string))
}
