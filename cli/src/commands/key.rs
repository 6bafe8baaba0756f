//! `witplug key new FILE`: an Ed25519 key pair for signing plugins: the
//! secret key in FILE (`0600`, never over an existing file), the public
//! one in FILE with `.pub`, for trust policies.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use witplug_registry::sign::KeyPair;

use crate::output::out;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make a key pair.
    New {
        /// Where the secret key goes (the public one beside it, `.pub`).
        file: PathBuf,
    },
}

pub fn run(args: &Args) -> Result<ExitCode> {
    match &args.command {
        Command::New { file } => {
            let key = KeyPair::generate().map_err(anyhow::Error::msg)?;
            key.save(file)?;
            out!("{}", key.public().id());
        }
    }
    Ok(ExitCode::SUCCESS)
}
