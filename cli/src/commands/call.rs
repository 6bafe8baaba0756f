//! `witplug call`: one call of one export, in WAVE.

use std::process::ExitCode;

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Result;
use wasmtime::component::wasm_wave;
use witplug_host::{Error, Val};

use crate::host_args::HostArgs;
use crate::nats_args::NatsArgs;
use crate::output::out;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    plugins: HostArgs,
    #[command(flatten)]
    nats: NatsArgs,
    /// The plugin: its file name in the folder, without `.wasm` or `.wat`.
    plugin: String,
    /// The export: `greet`, `handle`, or in full `witplug:plugin/guest@0.2.0#handle`;
    /// or a whole call expression, `'greet("JP")'`.
    export: String,
    /// The arguments, each a WAVE value: `'"text"'`, `42`, `'[1, 2]'`; `-`
    /// reads one from stdin, as a string.
    args: Vec<String>,
    /// Call the tool named by EXPORT, as an agent does, with the JSON input
    /// given as the one argument (`{}` when none): its result's content
    /// items are printed one a line, an image or audio as a summary of its
    /// type and size.
    #[arg(long)]
    tool: bool,
    /// With `--tool`: print the whole result as JSON (bytes in base64).
    #[arg(long, requires = "tool")]
    json: bool,
}

/// The export and the arguments of `args`: given apart, or as one call
/// expression (`greet("JP", 3)`); a `-` argument is stdin, as a string.
fn export_and_args(args: &Args) -> Result<(String, Vec<String>)> {
    let (export, given) = match args.export.split_once('(') {
        Some((name, rest)) if args.args.is_empty() && rest.ends_with(')') => {
            let inside = &rest[..rest.len() - 1];
            (name.trim().to_owned(), split_arguments(inside)?)
        }
        _ => (args.export.clone(), args.args.clone()),
    };
    let mut stdin = None;
    let values = given
        .into_iter()
        .map(|arg| {
            if arg != "-" {
                return Ok(arg);
            }
            if stdin.is_some() {
                anyhow::bail!("`-` (stdin) may stand for one argument only");
            }
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|err| anyhow::anyhow!("reading the argument from stdin: {err}"))?;
            stdin = Some(());
            Ok(wasm_wave::to_string(&Val::String(text))?)
        })
        .collect::<Result<_>>()?;
    Ok((export, values))
}

/// The top-level, comma-separated values of a call expression's
/// parentheses, each left as WAVE text: commas inside strings, characters,
/// lists, tuples and records do not split.
fn split_arguments(inside: &str) -> Result<Vec<String>> {
    let mut values = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut current = String::new();
    for c in inside.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth = depth.checked_sub(1).ok_or_else(|| {
                        anyhow::anyhow!("unbalanced `{c}` in the call expression")
                    })?;
                }
                ',' if depth == 0 => {
                    values.push(std::mem::take(&mut current).trim().to_owned());
                    continue;
                }
                _ => {}
            },
        }
        current.push(c);
    }
    if quote.is_some() || depth != 0 {
        anyhow::bail!("the call expression's arguments are not closed: `({inside})`");
    }
    let last = current.trim();
    if !last.is_empty() || !values.is_empty() {
        values.push(last.to_owned());
    }
    Ok(values)
}

pub async fn run(args: Args, quiet: bool) -> Result<ExitCode> {
    let mut builder = args.plugins.builder()?;
    let bus = args.nats.apply(&mut builder).await?;
    let host = builder.build()?;
    crate::output::show_compiles(&host);
    let mut reached = Vec::new();
    let code = call(&host, &args, &mut reached).await;
    // The subscribers reached finish what the call published before the
    // process ends: each is unloaded after those that publish to it, and an
    // unload delivers what is queued first.
    let subscribers: Vec<_> =
        reached.iter().filter(|(_, how)| *how == Reached::Subscriber).collect();
    if !subscribers.is_empty() {
        for (plugin, _) in &reached {
            let _ = host.unload(plugin.name()).await;
        }
        if !quiet {
            for (plugin, _) in subscribers {
                let received = plugin.metrics().messages_delivered;
                let plural = if received == 1 { "" } else { "s" };
                eprintln!("{} received {received} message{plural}", plugin.name());
            }
        }
    }
    // What the call published leaves before the process ends.
    if let Some(bus) = bus
        && let Err(err) = bus.flush().await
    {
        eprintln!("warning: {err}");
    }
    code
}

/// How `call` reached a plugin of the folder besides the one it calls (the
/// plugins it reached are in the order found, each after one that reaches
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    /// It provides a tool a reached plugin may call.
    Provider,
    /// It subscribes to what a reached plugin may publish.
    Subscriber,
}

async fn call(
    host: &witplug_host::Host,
    args: &Args,
    reached: &mut Vec<(std::sync::Arc<witplug_host::Plugin>, Reached)>,
) -> Result<ExitCode> {
    let (export, values) = export_and_args(args)?;
    let path = find(&args.plugins.dir(), &args.plugin)?;
    let plugin = host.load_file(&path).await?;
    // The plugins of the folder that the call may reach, found from their
    // manifests: only they are compiled, so one call stays fast.
    for (file, how) in reachable(&args.plugins.dir(), &args.plugin, plugin.grants()) {
        match host.load_file(&file).await {
            Ok(loaded) => reached.push((loaded, how)),
            Err(err) => eprintln!("warning: {err}"),
        }
    }
    if args.tool {
        return call_tool(&plugin, args).await;
    }
    if plugin.is_core_module() {
        // Numbers in and out, in WAVE.
        for value in plugin.call_wave(&export, &values).await? {
            out!("{value}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let values = plugin.parse_wave_args(&export, &values)?;
    let results = plugin.call(&export, &values).await?;
    let printed = results.iter().map(wasm_wave::to_string).collect::<Result<Vec<_>, _>>()?;
    // A plugin that returns `err(...)` handled its failure, but the call
    // still failed: say so on stderr and exit non-zero, as for a trap.
    if let ([Val::Result(Err(_))], [text]) = (results.as_slice(), printed.as_slice()) {
        eprintln!("error: plugin `{}` returned {text}", plugin.name());
        return Ok(ExitCode::from(crate::exit::PLUGIN_ERROR));
    }
    for value in printed {
        out!("{value}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `--tool`: the plugin's tool EXPORT, with a rich result.
async fn call_tool(plugin: &witplug_host::Plugin, args: &Args) -> Result<ExitCode> {
    let input = match args.args.as_slice() {
        [] => "{}".to_owned(),
        [input] if input == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|err| anyhow::anyhow!("reading the input from stdin: {err}"))?;
            text
        }
        [input] => input.clone(),
        _ => anyhow::bail!("--tool takes one argument: the tool's input, as JSON"),
    };
    let call = witplug_host::mcp::ToolCall::default();
    let result = match plugin.run_tool_with(call, &args.export, &input).await {
        Ok(result) => result,
        Err(Error::Plugin { error, .. }) => {
            let line = witplug_host::describe(&error);
            eprintln!("error: plugin `{}` returned {line}", plugin.name());
            return Ok(ExitCode::from(crate::exit::PLUGIN_ERROR));
        }
        Err(err) => return Err(err.into()),
    };
    if args.json {
        crate::output::print_json(&crate::rich::json(&result))?;
    } else {
        for line in crate::rich::lines(&result) {
            out!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The component files in `dir` of the plugins a call of `caller` may
/// reach, read from the manifests beside them: those that provide a tool
/// `grants` lets it call, or subscribe to what it may publish, and in turn
/// those that these reach. In the order found, each after one that reaches
/// it.
fn reachable(
    dir: &std::path::Path,
    caller: &str,
    grants: &witplug_host::Grants,
) -> Vec<(PathBuf, Reached)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut manifests: Vec<(String, witplug_host::Manifest)> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "toml" {
                return None;
            }
            let name = path.file_stem()?.to_str()?.to_owned();
            let manifest = witplug_host::Manifest::load(&path).ok()??;
            (name != caller).then_some((name, manifest))
        })
        .collect();
    manifests.sort_by(|a, b| a.0.cmp(&b.0));
    let mut reach = std::collections::VecDeque::from([grants.clone()]);
    let mut found = Vec::new();
    while let Some(grants) = reach.pop_front() {
        manifests.retain(|(name, manifest)| {
            let how = if manifest.provides.tools.iter().any(|tool| grants.may_call(tool)) {
                Reached::Provider
            } else if grants.may_reach(&manifest.grants) {
                Reached::Subscriber
            } else {
                return true;
            };
            let file = dir.join(format!("{name}.wasm"));
            if !file.is_file() {
                return true;
            }
            found.push((file, how));
            reach.push_back(manifest.grants.clone());
            false
        });
    }
    found
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
    Err(crate::exit::NotFound(format!(
        "no plugin named `{name}` in {} (plugins there: {listed})",
        dir.display()
    ))
    .into())
}
