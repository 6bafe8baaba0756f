//! `cargo xtask package`: packages the published crates and checks that
//! each one compiles from its package alone, as a user downloading it from
//! crates.io gets it.
//!
//! `cargo package` would check this too, by building each package in a
//! workspace of its own: a second full build of wasmtime, unoptimised and
//! with other features than the tests' build, which takes minutes. Here the
//! packages are unpacked side by side into `target/package-check/`, the
//! sibling crates patched to their packaged copies (they are not on
//! crates.io yet), and each is type-checked alone, with its own features,
//! with the workspace's lockfile and profiles, in the workspace's target
//! folder: `cargo clippy` has already checked nearly every dependency
//! there, so only what the packages change is checked again.

use std::path::Path;

use anyhow::{Context, Result};

use crate::{cargo, target_dir, workspace_root};

/// The published libraries, each after the ones it depends on.
const LIBRARIES: [&str; 6] = [
    "witplug-sdk",
    "witplug-host",
    "witplug-build",
    "witplug-endpoint",
    "witplug-registry",
    "witplug-mcp",
];

/// Every published crate: the libraries, then the CLI, which nothing
/// depends on.
const CRATES: [&str; 7] = [
    LIBRARIES[0],
    LIBRARIES[1],
    LIBRARIES[2],
    LIBRARIES[3],
    LIBRARIES[4],
    LIBRARIES[5],
    "witplug-cli",
];

/// Packages the crates (passing `args` on to `cargo package`) and checks
/// each from its package.
pub fn run(args: &[String]) -> Result<()> {
    let mut package = cargo();
    package.arg("package").arg("--no-verify").args(args);
    for name in CRATES {
        package.args(["--package", name]);
    }
    crate::run::run_step("packaging the published crates", package)?;

    let manifest = read_manifest(&workspace_root().join("Cargo.toml"))?;
    let version = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("package"))
        .and_then(|package| package.get("version"))
        .and_then(toml::Value::as_str)
        .context("Cargo.toml: no [workspace.package] version")?;
    let target = target_dir();
    let check = target.join("package-check");
    if check.exists() {
        std::fs::remove_dir_all(&check).with_context(|| format!("removing {}", check.display()))?;
    }
    std::fs::create_dir_all(&check).with_context(|| format!("creating {}", check.display()))?;
    let folders: Vec<String> = CRATES.iter().map(|name| format!("{name}-{version}")).collect();
    for folder in &folders {
        let file = target.join("package").join(format!("{folder}.crate"));
        let mut unpack = std::process::Command::new("tar");
        unpack.arg("-xzf").arg(&file).arg("-C").arg(&check);
        crate::run::run_step(&format!("unpacking {}", file.display()), unpack)?;
    }
    std::fs::copy(workspace_root().join("Cargo.lock"), check.join("Cargo.lock"))
        .context("copying Cargo.lock")?;
    let workspace = check_workspace(&folders, manifest.get("profile"))?;
    std::fs::write(check.join("Cargo.toml"), workspace).context("writing the check workspace")?;

    for name in CRATES {
        let mut command = cargo();
        command
            .args(["check", "--quiet", "--package", name, "--manifest-path"])
            .arg(check.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target);
        crate::run::run_step(&format!("checking {name} from its package alone"), command)?;
        eprintln!("{name} {version}: compiles from its package alone");
    }
    Ok(())
}

fn read_manifest(path: &Path) -> Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The manifest of the workspace of unpacked packages: each a member, the
/// libraries patched in for the crates.io versions the others ask for, and
/// the workspace's own profiles, so that its dependencies are built as
/// they are for the tests.
fn check_workspace(folders: &[String], profile: Option<&toml::Value>) -> Result<String> {
    let mut patch = toml::Table::new();
    for (name, folder) in LIBRARIES.iter().zip(folders) {
        let mut path = toml::Table::new();
        path.insert("path".to_owned(), folder.clone().into());
        patch.insert((*name).to_owned(), path.into());
    }
    let mut workspace = toml::Table::new();
    workspace.insert("resolver".to_owned(), "3".into());
    workspace.insert(
        "members".to_owned(),
        folders.iter().cloned().map(toml::Value::from).collect::<Vec<_>>().into(),
    );
    let mut root = toml::Table::new();
    root.insert("workspace".to_owned(), workspace.into());
    let mut crates_io = toml::Table::new();
    crates_io.insert("crates-io".to_owned(), patch.into());
    root.insert("patch".to_owned(), crates_io.into());
    if let Some(profile) = profile {
        root.insert("profile".to_owned(), profile.clone());
    }
    toml::to_string(&root).context("writing the check workspace's manifest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_workspace_patches_the_libraries_and_keeps_the_profiles() {
        let folders: Vec<String> = CRATES.iter().map(|name| format!("{name}-1.2.3")).collect();
        let profile: toml::Value =
            toml::from_str::<toml::Table>("[dev.package.wasmtime]\nopt-level = 2\n")
                .unwrap()
                .into();
        let text = check_workspace(&folders, Some(&profile)).unwrap();
        let manifest: toml::Table = toml::from_str(&text).unwrap();

        let members = manifest["workspace"]["members"].as_array().unwrap();
        assert_eq!(members.len(), CRATES.len());
        let patch = manifest["patch"]["crates-io"].as_table().unwrap();
        assert_eq!(patch["witplug-host"]["path"].as_str(), Some("witplug-host-1.2.3"));
        assert_eq!(patch["witplug-sdk"]["path"].as_str(), Some("witplug-sdk-1.2.3"));
        assert_eq!(patch["witplug-build"]["path"].as_str(), Some("witplug-build-1.2.3"));
        assert_eq!(patch["witplug-mcp"]["path"].as_str(), Some("witplug-mcp-1.2.3"));
        // Nothing depends on the CLI: patching it would only warn.
        assert!(!patch.contains_key("witplug-cli"));
        assert_eq!(
            manifest["profile"]["dev"]["package"]["wasmtime"]["opt-level"].as_integer(),
            Some(2)
        );
    }
}
