//! `cargo xtask new-plugin NAME`: a plugin crate that builds as it stands.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{flag_value, workspace_root};

/// What `new-plugin` was asked to create.
#[derive(Debug)]
pub struct Options {
    pub name: String,
    pub world: World,
    pub dir: PathBuf,
}

/// The worlds of `wit/` that witplug-sdk can export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    Plugin,
    Greeter,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut name = None;
        let mut world = World::Plugin;
        let mut dir = workspace_root().join("example-plugins");
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--world" => {
                    world = match flag_value(arg, args.next())?.as_str() {
                        "plugin" => World::Plugin,
                        "greeter" => World::Greeter,
                        other => bail!("unknown world `{other}` (expected `plugin` or `greeter`)"),
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
                "new-plugin needs a name: cargo xtask new-plugin NAME [--world plugin|greeter] [--dir DIR]"
            );
        };
        check_name(&name)?;
        Ok(Self { name, world, dir })
    }
}

/// Creates the crate at `<dir>/<name>`.
pub fn run(options: &Options) -> Result<()> {
    let crate_dir = options.dir.join(&options.name);
    if crate_dir.exists() {
        bail!("{} already exists", crate_dir.display());
    }
    std::fs::create_dir_all(crate_dir.join("src"))
        .with_context(|| format!("creating {}", crate_dir.display()))?;
    let in_workspace =
        options.dir.canonicalize().is_ok_and(|dir| dir == workspace_root().join("example-plugins"));
    std::fs::write(crate_dir.join("Cargo.toml"), manifest(options, in_workspace)?)?;
    std::fs::write(crate_dir.join("src/lib.rs"), source(options))?;
    println!("created {}", crate_dir.display());
    if in_workspace {
        println!("build it with: cargo xtask build-plugins -p {}", options.name);
    } else {
        println!("build it with: cargo xtask build-plugins --dir {}", options.dir.display());
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        bail!(
            "plugin name `{name}` must be kebab-case: lowercase letters, digits and `-`, starting with a letter"
        );
    }
    Ok(())
}

fn manifest(options: &Options, in_workspace: bool) -> Result<String> {
    let (sdk, standalone) = if in_workspace {
        ("witplug-sdk.workspace = true".to_owned(), "")
    } else {
        let sdk_dir = workspace_root().join("guest-sdk");
        (format!("witplug-sdk = {{ path = {:?} }}", path_str(&sdk_dir)?), "\n[workspace]\n")
    };
    Ok(format!(
        "[package]\n\
         name = \"{name}\"\n\
         description = \"TODO: one line saying what {name} does\"\n\
         version = \"0.1.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\
         \n\
         [lib]\n\
         crate-type = [\"cdylib\"]\n\
         \n\
         [dependencies]\n\
         {sdk}\n{standalone}",
        name = options.name
    ))
}

fn source(options: &Options) -> String {
    let type_name: String = options
        .name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
                .collect::<String>()
        })
        .collect();
    match options.world {
        World::Plugin => format!(
            "//! The `{name}` plugin: handles requests of the `plugin` world.\n\
             \n\
             use witplug_sdk::{{Error, Plugin, log}};\n\
             \n\
             #[derive(Default)]\n\
             struct {type_name};\n\
             \n\
             impl Plugin for {type_name} {{\n    \
                 fn handle(&mut self, input: &str) -> Result<String, Error> {{\n        \
                     log::info!(\"{name} got {{input}}\");\n        \
                     Ok(input.to_owned())\n    \
                 }}\n\
             }}\n\
             \n\
             witplug_sdk::export_plugin!({type_name});\n",
            name = options.name
        ),
        World::Greeter => format!(
            "//! The `{name}` plugin: a greeter of the `greeter` world.\n\
             \n\
             #[derive(Default)]\n\
             struct {type_name};\n\
             \n\
             impl witplug_sdk::Greeter for {type_name} {{\n    \
                 fn language(&mut self) -> String {{\n        \
                     \"English\".into()\n    \
                 }}\n\
             \n    \
                 fn greet(&mut self, name: &str) -> String {{\n        \
                     format!(\"Hello, {{name}}!\")\n    \
                 }}\n\
             }}\n\
             \n\
             witplug_sdk::export_greeter!({type_name});\n",
            name = options.name
        ),
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().with_context(|| format!("{} is not valid UTF-8", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_kebab_case() {
        assert!(check_name("my-plugin2").is_ok());
        for bad in ["My", "1abc", "a_b", "a-", ""] {
            assert!(check_name(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn generated_source_names_the_type() {
        let options = Options { name: "word-count".into(), world: World::Plugin, dir: "/x".into() };
        let source = source(&options);
        assert!(source.contains("struct WordCount;"), "{source}");
        assert!(source.contains("export_plugin!(WordCount)"), "{source}");
    }
}
