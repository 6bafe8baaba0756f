//! `witplug cache`: the folder of compiled plugins, as an operator sees
//! it: where it is, what it holds, and emptying it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use witplug_host::{cache::CacheEntries, cache::CacheFolder, config::units};

use crate::output::out;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print the cache folder, and on stderr what it holds.
    Dir {
        #[command(flatten)]
        folder: Folder,
    },
    /// Remove the entries unused for `--max-age`, then the oldest past
    /// `--max-size`.
    Prune {
        #[command(flatten)]
        folder: Folder,
        /// Remove entries unused for this long, e.g. `7d` or `12h`.
        #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = units::parse_duration)]
        max_age: Duration,
        /// Then remove the oldest until the rest take at most this, e.g. `1GiB`.
        #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = units::parse_size)]
        max_size: u64,
    },
    /// Remove every entry: plugins compile again at their next load.
    Clean {
        #[command(flatten)]
        folder: Folder,
    },
}

/// The folder: `--cache`, or the host's default.
#[derive(Debug, clap::Args)]
struct Folder {
    /// The cache folder (default: `$XDG_CACHE_HOME/witplug` or `~/.cache/witplug`).
    #[arg(long, value_name = "DIR", env = "WITPLUG_CACHE")]
    cache: Option<PathBuf>,
    #[command(flatten)]
    output: crate::output::JsonArg,
}

impl Folder {
    fn open(&self) -> Result<CacheFolder> {
        let dir = self.cache.clone().or_else(crate::host_args::default_cache_dir);
        Ok(CacheFolder::new(dir.context("no cache folder: give --cache DIR")?))
    }
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let (folder, done) = match &args.action {
        Action::Dir { folder } => {
            let cache = folder.open()?;
            let held = cache.held();
            if folder.output.json {
                let dir = cache.dir().to_string_lossy();
                crate::output::print_json(&serde_json::json!({ "dir": dir, "held": held }))?;
            } else {
                out!("{}", cache.dir().display());
                eprintln!("{} entries, {}", held.entries, witplug_build::human_size(held.bytes));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Action::Prune { folder, max_age, max_size } => {
            (folder, folder.open()?.prune(*max_age, *max_size))
        }
        Action::Clean { folder } => (folder, folder.open()?.clean()),
    };
    let left = folder.open()?.held();
    report(folder, done, left)
}

fn report(folder: &Folder, removed: CacheEntries, left: CacheEntries) -> Result<ExitCode> {
    if folder.output.json {
        crate::output::print_json(&serde_json::json!({ "removed": removed, "left": left }))?;
    } else {
        out!(
            "removed {} entries ({}); {} left ({})",
            removed.entries,
            witplug_build::human_size(removed.bytes),
            left.entries,
            witplug_build::human_size(left.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}
