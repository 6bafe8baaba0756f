//! `cargo xtask new-plugin NAME`: a plugin crate that builds as it stands.

use std::path::PathBuf;

use anyhow::{Result, bail};
use witplug_build::{NewPlugin, Sdk};

use crate::{flag_value, workspace_root};

/// What `new-plugin` was asked to create.
#[derive(Debug)]
pub struct Options {
    pub name: String,
    pub world: World,
    pub dir: PathBuf,
}

/// The worlds witplug-sdk can export with a trait of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Plugin,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut name = None;
        let mut world = World::Plugin;
        let mut dir = workspace_root().join("example-plugins/rust");
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--world" => {
                    world = match flag_value(arg, args.next())?.as_str() {
                        "plugin" => World::Plugin,
                        other => bail!(
                            "unknown world `{other}` (expected `plugin`; a host-defined world \
                             starts from a `plugin` crate with `witplug_sdk::world!`)"
                        ),
                    }
                }
                "--dir" => dir = flag_value(arg, args.next())?.into(),
                flag if flag.starts_with('-') => bail!("new-plugin: unknown option `{flag}`"),
                value if name.is_none() => name = Some(value.to_owned()),
                value => bail!("new-plugin: unexpected argument `{value}`"),
            }
        }
        let Some(name) = name else {
            bail!(
                "new-plugin needs a name: cargo xtask new-plugin NAME [--world plugin] [--dir DIR]"
            );
        };
        Ok(Self { name, world, dir })
    }
}

/// Creates the crate at `<dir>/<name>`, with the code of `witplug new`.
pub fn run(options: &Options) -> Result<()> {
    let in_workspace = options.dir.canonicalize().is_ok_and(|dir| {
        let root = workspace_root().join("example-plugins");
        dir == root.join("rust") || dir == root.join("hostile")
    });
    // Inside the workspace the SDK comes from it; elsewhere, from this
    // checkout, since the crate may not be published where it is built.
    let sdk =
        if in_workspace { Sdk::Workspace } else { Sdk::Path(workspace_root().join("guest-sdk")) };
    let world = match options.world {
        World::Plugin => witplug_build::World::Plugin,
    };
    let plugin = NewPlugin::new(&options.name, &options.dir).world(world).sdk(sdk);
    let crate_dir = witplug_build::new_plugin(&plugin)?;
    println!("created {}", crate_dir.display());
    if in_workspace {
        println!("build it with: cargo xtask build-plugins -p {}", options.name);
    } else {
        println!("build it with: cargo xtask build-plugins --dir {}", options.dir.display());
    }
    Ok(())
}
