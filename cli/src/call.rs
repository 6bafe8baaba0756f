//! `witplug call`: one call of one export, in WAVE.

use std::process::ExitCode;

use anyhow::Result;
use wasmtime::component::wasm_wave;
use witplug_host::{Error, Val};

use crate::HostArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plugins: HostArgs,
    /// The plugin: its file name in the folder, without `.wasm`.
    plugin: String,
    /// The export: `greet`, `handle`, or in full `witplug:plugin/guest@0.1.0#handle`.
    export: String,
    /// The arguments, each a WAVE value: `'"text"'`, `42`, `'[1, 2]'`.
    args: Vec<String>,
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let host = args.plugins.host()?;
    let path = args.plugins.dir.join(format!("{}.wasm", args.plugin));
    if !path.is_file() {
        // Say which plugins there are, without compiling them all.
        let mut available: Vec<String> = std::fs::read_dir(&args.plugins.dir)
            .map_err(|source| Error::Io { path: args.plugins.dir.clone(), source })?
            .filter_map(|entry| entry.ok()?.path().file_stem()?.to_str().map(str::to_owned))
            .filter(|name| args.plugins.dir.join(format!("{name}.wasm")).is_file())
            .collect();
        available.sort();
        return Err(Error::NoSuchPlugin { name: args.plugin, available }.into());
    }
    let plugin = host.load_file(&path).await?;
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
        println!("{value}");
    }
    Ok(ExitCode::SUCCESS)
}
