//! `witplug call`: one call of one export, in WAVE.

use std::process::ExitCode;

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Result, bail};
use wasmtime::component::wasm_wave;
use witplug_host::{Error, Val};

use crate::HostArgs;
use crate::nats::NatsArgs;
use crate::out;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plugins: HostArgs,
    #[command(flatten)]
    nats: NatsArgs,
    /// The plugin: its file name in the folder, without `.wasm` or `.wat`.
    plugin: String,
    /// The export: `greet`, `handle`, or in full `witplug:plugin/guest@0.2.0#handle`.
    export: String,
    /// The arguments, each a WAVE value: `'"text"'`, `42`, `'[1, 2]'`.
    args: Vec<String>,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let mut builder = args.plugins.builder();
    let bus = args.nats.apply(&mut builder).await?;
    let host = builder.build()?;
    let code = call(&host, &args).await;
    // What the call published leaves before the process ends.
    if let Some(bus) = bus
        && let Err(err) = bus.flush().await
    {
        eprintln!("warning: {err}");
    }
    code
}

async fn call(host: &witplug_host::Host, args: &Args) -> Result<ExitCode> {
    let path = find(&args.plugins.dir, &args.plugin)?;
    let plugin = host.load_file(&path).await?;
    if plugin.is_core_module() {
        // Numbers in and out, in WAVE.
        for value in plugin.call_wave(&args.export, &args.args).await? {
            out!("{value}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let values = plugin.parse_wave_args(&args.export, &args.args)?;
    let results = plugin.call(&args.export, &values).await?;
    let printed = results.iter().map(wasm_wave::to_string).collect::<Result<Vec<_>, _>>()?;
    // A plugin that returns `err(...)` handled its failure, but the call
    // still failed: say so on stderr and exit non-zero, as for a trap.
    if let ([Val::Result(Err(_))], [text]) = (results.as_slice(), printed.as_slice()) {
        eprintln!("error: plugin `{}` returned {text}", plugin.name());
        return Ok(ExitCode::FAILURE);
    }
    for value in printed {
        out!("{value}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The file of the plugin `name` in `dir`: `name.wasm`, or `name.wat`.
///
/// # Errors
///
/// When there is none, an error listing the plugins the folder holds, each
/// once, without compiling any.
fn find(dir: &std::path::Path, name: &str) -> Result<PathBuf> {
    const KINDS: [&str; 2] = ["wasm", "wat"];
    if let Some(path) =
        KINDS.iter().map(|ext| dir.join(format!("{name}.{ext}"))).find(|path| path.exists())
    {
        return Ok(path);
    }
    let entries =
        std::fs::read_dir(dir).map_err(|source| Error::Io { path: dir.to_owned(), source })?;
    let plugins: BTreeSet<String> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let ext = path.extension()?.to_str()?;
            KINDS.contains(&ext).then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    let plugins: Vec<String> = plugins.into_iter().collect();
    let listed = if plugins.is_empty() { "none".to_owned() } else { plugins.join(", ") };
    bail!("no plugin named `{name}` in {} (plugins there: {listed})", dir.display())
}
