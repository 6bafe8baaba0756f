//! The folders of `host/src` are layers: each uses only the layers below
//! it, in the order `host/src/lib.rs` lists them, so there is no import
//! cycle among them. This reads every `crate::` path of every file (and
//! the root re-exports they go through) and names any that goes up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, bottom first. `root` is the files beside `lib.rs`.
const LAYERS: [&str; 14] = [
    "contract",
    "root",
    "config",
    "mcp",
    "tools",
    "bus",
    "kv",
    "nats",
    "observe",
    "instance_state",
    "imports",
    "compile",
    "plugin",
    "host",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The layer a file of `host/src` belongs to: its top folder, or the folder
/// its module file stands beside (`kv.rs` is `kv/`'s), else `root`.
fn layer_of(relative: &Path) -> &'static str {
    let first = relative.components().next().unwrap().as_os_str().to_str().unwrap();
    let first = first.strip_suffix(".rs").unwrap_or(first);
    LAYERS.iter().find(|layer| **layer == first).copied().unwrap_or("root")
}

/// The source without its comments (doc links name paths too, but a link
/// is not a use).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every first segment after `crate::`, including each item of a
/// `crate::{A, b::C}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut top = String::new();
            let mut depth = 0;
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ if depth == 0 => top.push(c),
                    _ => {}
                }
            }
            for item in top.split(',') {
                let name: String =
                    item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String =
                rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            found.push(name);
        }
    }
    found
}

/// The layer each name re-exported at the crate root comes from, read from
/// `lib.rs`'s `pub use` lines.
fn reexports(lib: &str) -> BTreeMap<String, &'static str> {
    let mut names = BTreeMap::new();
    let code = code(lib);
    for statement in code.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else { continue };
        let first = path.split("::").next().unwrap().trim();
        let layer = LAYERS.iter().find(|layer| **layer == first).copied().unwrap_or("root");
        let last = path.rsplit("::").next().unwrap();
        let items = last.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.split(" as ").last().unwrap().trim();
            if !name.is_empty() {
                names.insert(name.to_owned(), layer);
            }
        }
    }
    names
}

#[test]
fn each_folder_of_host_src_uses_only_the_layers_below_it() {
    let root = src();
    let lib = std::fs::read_to_string(root.join("lib.rs")).unwrap();
    let reexported = reexports(&lib);
    let rank = |layer: &str| LAYERS.iter().position(|l| *l == layer).unwrap();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    assert!(files.len() > 30, "{files:?}");
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        // The crate's front: the root's names and the old names kept for
        // a release (`compat.rs`) reach every wing, and nothing uses them.
        if relative == Path::new("lib.rs") || relative == Path::new("compat.rs") {
            continue;
        }
        let layer = layer_of(relative);
        for name in crate_paths(&code(&std::fs::read_to_string(file).unwrap())) {
            let used = if let Some(layer) = LAYERS.iter().find(|l| **l == name) {
                layer
            } else if let Some(layer) = reexported.get(&name) {
                layer
            } else {
                "root"
            };
            if used != layer && rank(used) >= rank(layer) {
                upward
                    .push(format!("{} ({layer}) uses crate::{name} ({used})", relative.display()));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "uses that go up a layer:\n{}", upward.join("\n"));
}

#[test]
fn the_checker_reads_groups_and_skips_comments() {
    let paths = crate_paths(&code(
        "use crate::{Error, store::{a, b}, Result};\n/// [x](crate::host::Host)\nlet y = crate::bus::X;",
    ));
    assert_eq!(paths, ["Error", "store", "Result", "bus"]);
}
