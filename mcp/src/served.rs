//! Resources, prompts and completion across the plugins that serve them
//! (contract 0.3's `server` exports): listed from every serving plugin in
//! name order, a plugin that fails to answer skipped (and logged) so that
//! one bad plugin never hides the others; a read, a prompt or a completion
//! routed to the plugin that has it.

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
    tracing::warn!(target: "witplug::mcp", plugin = plugin.name(), "{what} skipped: {err}");
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

/// `resources/read`: the first serving plugin that has `uri`.
pub(crate) async fn read(host: &Host, uri: &str) -> Result<Value, Missing> {
    for plugin in serving(host) {
        match plugin.read_resource(uri).await {
            Ok(contents) => {
                let contents: Vec<Value> = contents.iter().map(content::contents_of).collect();
                return Ok(json!({ "contents": contents }));
            }
            Err(err) if not_found(&err) => {}
            Err(err) => return Err(Missing::Failed(crate::failure_text(&err))),
        }
    }
    Err(Missing::NotFound)
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
async fn with_prompt(host: &Host, name: &str) -> Option<std::sync::Arc<Plugin>> {
    for plugin in serving(host) {
        if let Ok(list) = plugin.list_prompts().await
            && list.iter().any(|prompt| prompt.name == name)
        {
            return Some(plugin);
        }
    }
    None
}

/// The serving plugin that lists the resource template `uri_template`.
async fn with_template(host: &Host, uri_template: &str) -> Option<std::sync::Arc<Plugin>> {
    for plugin in serving(host) {
        if let Ok(list) = plugin.list_resource_templates().await
            && list.iter().any(|template| template.uri_template == uri_template)
        {
            return Some(plugin);
        }
    }
    None
}

/// `prompts/get`.
pub(crate) async fn prompt(
    host: &Host,
    name: &str,
    arguments: &[(String, String)],
) -> Result<Value, Missing> {
    let plugin = with_prompt(host, name).await.ok_or(Missing::NotFound)?;
    match plugin.get_prompt(name, arguments).await {
        Ok(result) => Ok(content::prompt_result(&result)),
        Err(err) if not_found(&err) => Err(Missing::NotFound),
        Err(err) => Err(Missing::Failed(crate::failure_text(&err))),
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
    let Some(plugin) = plugin else {
        return Ok(json!({ "completion": { "values": [], "total": 0, "hasMore": false } }));
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
        Err(err) => Err(Missing::Failed(crate::failure_text(&err))),
    }
}
