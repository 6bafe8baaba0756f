//! Resources, prompts and completion across the plugins that serve them
//! (contract 0.3's `server` exports): listed from every serving plugin in
//! name order, a plugin that fails to answer skipped (and logged) so that
//! one bad plugin never hides the others; a read, a prompt or a completion
//! routed to the plugin that lists it (a resource's URI, a template the URI
//! matches, a prompt's name), never to another: a plugin cannot answer for
//! what another serves. A name two plugins list is refused, naming both.

use serde_json::{Value, json};
use witplug_host::mcp::CompletionRef;
use witplug_host::{Error as HostError, Host, Plugin, PluginError};

use crate::content;

/// The plugins that serve, in name order.
fn serving(host: &Host) -> Vec<std::sync::Arc<Plugin>> {
    let mut plugins: Vec<_> = host.plugins().into_iter().filter(|plugin| plugin.serves()).collect();
    plugins.sort_by(|a, b| a.name().cmp(b.name()));
    plugins
}

/// Whether any loaded plugin serves resources, prompts or completion.
pub(crate) fn any(host: &Host) -> bool {
    host.plugins().iter().any(|plugin| plugin.serves())
}

fn skipped(plugin: &Plugin, what: &str, err: &HostError) {
    // The error's text is the host's: plugin text in it was made safe.
    tracing::warn!(target: "witplug::mcp", plugin = plugin.name(), "{what} skipped: {err}");
}

/// The longest name or URI a request may look up; longer ones are no one's.
const MAX_NAME: usize = witplug_host::mcp::MAX_URI;

/// One line naming the plugin that failed and why.
fn failed(plugin: &Plugin, err: &HostError) -> Missing {
    match err {
        HostError::Plugin { .. } => {
            Missing::Failed(format!("plugin `{}`: {}", plugin.name(), crate::failure_text(err)))
        }
        _ => Missing::Failed(crate::failure_text(err)),
    }
}

/// What a request looks for in the plugins' lists.
#[derive(Clone, Copy)]
enum Lookup<'a> {
    /// A resource listed with this URI.
    Resource(&'a str),
    /// A template this URI matches.
    Matching(&'a str),
    /// A template of this URI template.
    Template(&'a str),
    /// A prompt of this name.
    Prompt(&'a str),
}

impl Lookup<'_> {
    fn what(self) -> &'static str {
        match self {
            Lookup::Resource(_) | Lookup::Matching(_) => "the resource",
            Lookup::Template(_) => "the resource template",
            Lookup::Prompt(_) => "the prompt",
        }
    }

    /// Whether `plugin` lists it.
    async fn in_lists_of(self, plugin: &Plugin) -> witplug_host::Result<bool> {
        Ok(match self {
            Lookup::Resource(uri) => plugin.list_resources().await?.iter().any(|r| r.uri == uri),
            Lookup::Matching(uri) => {
                let templates = plugin.list_resource_templates().await?;
                templates.iter().any(|t| matches_template(&t.uri_template, uri))
            }
            Lookup::Template(template) => {
                let templates = plugin.list_resource_templates().await?;
                templates.iter().any(|t| t.uri_template == template)
            }
            Lookup::Prompt(name) => plugin.list_prompts().await?.iter().any(|p| p.name == name),
        })
    }
}

/// The one serving plugin that lists what `lookup` asks for; a name two
/// plugins list is refused, naming both.
async fn owner(host: &Host, lookup: Lookup<'_>) -> Result<std::sync::Arc<Plugin>, Missing> {
    let what = lookup.what();
    let mut found: Option<std::sync::Arc<Plugin>> = None;
    for plugin in serving(host) {
        match lookup.in_lists_of(&plugin).await {
            Ok(false) => {}
            Ok(true) => {
                if let Some(first) = &found {
                    return Err(Missing::Failed(format!(
                        "{what} is served by both `{}` and `{}`",
                        first.name(),
                        plugin.name()
                    )));
                }
                found = Some(plugin);
            }
            Err(err) => skipped(&plugin, &format!("looking for {what}"), &err),
        }
    }
    found.ok_or(Missing::NotFound)
}

/// Whether `uri` is one of those `template` names: each `{name}` stands
/// for one or more characters other than `/` (RFC 6570's simple strings,
/// one path segment each).
pub(crate) fn matches_template(template: &str, uri: &str) -> bool {
    let mut parts = template.split('{');
    let Some(mut rest) = parts.next().and_then(|first| uri.strip_prefix(first)) else {
        return false;
    };
    for part in parts {
        let Some((_, literal)) = part.split_once('}') else { return false };
        let end = if literal.is_empty() {
            rest.find('/').unwrap_or(rest.len())
        } else {
            match rest.find(literal) {
                Some(end) => end,
                None => return false,
            }
        };
        if end == 0 || rest[..end].contains('/') {
            return false;
        }
        rest = &rest[end + literal.len()..];
    }
    rest.is_empty()
}

/// `resources/list`: every serving plugin's resources.
pub(crate) async fn resources(host: &Host) -> Value {
    let mut all = Vec::new();
    for plugin in serving(host) {
        match plugin.list_resources().await {
            Ok(list) => all.extend(list.iter().map(content::resource_info)),
            Err(err) => skipped(&plugin, "its resources", &err),
        }
    }
    json!({ "resources": all })
}

/// `resources/templates/list`: every serving plugin's templates.
pub(crate) async fn templates(host: &Host) -> Value {
    let mut all = Vec::new();
    for plugin in serving(host) {
        match plugin.list_resource_templates().await {
            Ok(list) => all.extend(list.iter().map(content::template)),
            Err(err) => skipped(&plugin, "its resource templates", &err),
        }
    }
    json!({ "resourceTemplates": all })
}

/// How a request for something no plugin has ended.
pub(crate) enum Missing {
    /// No plugin has it.
    NotFound,
    /// The plugin that has it failed; one line.
    Failed(String),
}

fn not_found(err: &HostError) -> bool {
    matches!(err, HostError::Plugin { error: PluginError::NotFound(_), .. })
}

/// `resources/read`: the plugin that lists `uri`, or else the one with a
/// template it matches.
pub(crate) async fn read(host: &Host, uri: &str) -> Result<Value, Missing> {
    if uri.len() > MAX_NAME {
        return Err(Missing::NotFound);
    }
    let plugin = match owner(host, Lookup::Resource(uri)).await {
        Err(Missing::NotFound) => owner(host, Lookup::Matching(uri)).await?,
        other => other?,
    };
    match plugin.read_resource(uri).await {
        Ok(contents) => {
            let contents: Vec<Value> = contents.iter().map(content::contents_of).collect();
            Ok(json!({ "contents": contents }))
        }
        Err(err) if not_found(&err) => Err(Missing::NotFound),
        Err(err) => Err(failed(&plugin, &err)),
    }
}

/// `prompts/list`: every serving plugin's prompts.
pub(crate) async fn prompts(host: &Host) -> Value {
    let mut all = Vec::new();
    for plugin in serving(host) {
        match plugin.list_prompts().await {
            Ok(list) => all.extend(list.iter().map(content::prompt)),
            Err(err) => skipped(&plugin, "its prompts", &err),
        }
    }
    json!({ "prompts": all })
}

/// The serving plugin that lists the prompt `name`.
async fn with_prompt(host: &Host, name: &str) -> Result<std::sync::Arc<Plugin>, Missing> {
    if name.len() > MAX_NAME {
        return Err(Missing::NotFound);
    }
    owner(host, Lookup::Prompt(name)).await
}

/// The serving plugin that lists the resource template `uri_template`.
async fn with_template(host: &Host, uri_template: &str) -> Result<std::sync::Arc<Plugin>, Missing> {
    if uri_template.len() > MAX_NAME {
        return Err(Missing::NotFound);
    }
    owner(host, Lookup::Template(uri_template)).await
}

/// `prompts/get`.
pub(crate) async fn prompt(
    host: &Host,
    name: &str,
    arguments: &[(String, String)],
) -> Result<Value, Missing> {
    let plugin = with_prompt(host, name).await?;
    match plugin.get_prompt(name, arguments).await {
        Ok(result) => Ok(content::prompt_result(&result)),
        Err(err) if not_found(&err) => Err(Missing::NotFound),
        Err(err) => Err(failed(&plugin, &err)),
    }
}

/// `completion/complete`.
pub(crate) async fn complete(
    host: &Host,
    reference: &CompletionRef,
    argument: &str,
    value: &str,
) -> Result<Value, Missing> {
    let plugin = match reference {
        CompletionRef::Prompt(name) => with_prompt(host, name).await,
        CompletionRef::ResourceTemplate(template) => with_template(host, template).await,
    };
    let plugin = match plugin {
        Ok(plugin) => plugin,
        Err(Missing::NotFound) => {
            return Ok(json!({ "completion": { "values": [], "total": 0, "hasMore": false } }));
        }
        Err(other) => return Err(other),
    };
    match plugin.complete(reference, argument, value).await {
        Ok(completion) => {
            let mut answer = json!({ "values": completion.values, "hasMore": completion.has_more });
            if let Some(total) = completion.total {
                answer["total"] = json!(total);
            }
            Ok(json!({ "completion": answer }))
        }
        Err(err) if not_found(&err) => Err(Missing::NotFound),
        Err(err) => Err(failed(&plugin, &err)),
    }
}

#[cfg(test)]
mod tests {
    use super::matches_template;

    #[test]
    fn a_template_variable_matches_one_path_segment() {
        assert!(matches_template("test://template/{id}/data", "test://template/123/data"));
        assert!(!matches_template("test://template/{id}/data", "test://template//data"));
        assert!(!matches_template("test://template/{id}/data", "test://template/1/2/data"));
        assert!(matches_template("notes://{day}", "notes://monday"));
        assert!(!matches_template("notes://{day}", "notes://a/b"));
        assert!(!matches_template("notes://{day}", "other://monday"));
    }
}
