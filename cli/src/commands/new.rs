//! `witplug new`: a plugin crate anywhere, that builds as it stands.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::output::out;
use anyhow::Result;
use witplug_build::{Language, NewPlugin, Sdk, World};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plugin's name, kebab-case: the crate's folder and package name.
    name: String,
    /// The world it exports.
    #[arg(long, value_enum, default_value = "plugin")]
    world: WorldArg,
    /// The language it is written in: a Rust crate, or a folder with
    /// `app.py` or `app.js`.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// The folder to create the crate in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Take witplug-sdk from this local folder instead of crates.io.
    #[arg(long, value_name = "DIR", conflicts_with = "sdk_git")]
    sdk_path: Option<PathBuf>,
    /// Take witplug-sdk from this git repository instead of crates.io.
    #[arg(long, value_name = "URL")]
    sdk_git: Option<String>,
}

/// The worlds the SDK exports with a trait of its own; a plugin of a
/// host-defined world starts from a `plugin` crate and uses
/// `witplug_sdk::world!`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum WorldArg {
    Plugin,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Lang {
    Rust,
    Python,
    #[value(alias = "js")]
    Javascript,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let sdk = match (&args.sdk_path, &args.sdk_git) {
        (Some(path), _) => Sdk::Path(std::path::absolute(path)?),
        (None, Some(url)) => Sdk::Git(url.clone()),
        (None, None) => Sdk::default(),
    };
    let world = match args.world {
        WorldArg::Plugin => World::Plugin,
    };
    let mut plugin = NewPlugin::new(&args.name, &args.dir).world(world).sdk(sdk);
    match args.lang {
        Lang::Rust => {}
        Lang::Python => plugin = plugin.language(Language::Python),
        Lang::Javascript => plugin = plugin.language(Language::JavaScript),
    }
    let dir = witplug_build::new_plugin(&plugin)?;
    out!("created {}", dir.display());
    if plugin.language.is_some() {
        out!("build it with: witplug build --manifest-path {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "build it with: witplug build --manifest-path {} --release",
        dir.join("Cargo.toml").display()
    );
    Ok(ExitCode::SUCCESS)
}
