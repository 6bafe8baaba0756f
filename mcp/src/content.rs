//! What plugins serve (contract 0.3's values, checked by the host) as the
//! protocol has it: content blocks, resources, templates, contents,
//! prompts. Bytes go out in base64.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use witplug_host::mcp::{
    Content, Prompt, PromptResult, ResourceBody, ResourceContents, ResourceInfo, ResourceTemplate,
    Role,
};

/// A content block of a tool's result, a prompt's message or a sampled
/// message, as JSON: the SDK's block ([`protocol_block`]), serialized.
pub(crate) fn block(content: &Content) -> Value {
    protocol_block(content).and_then(serde_json::to_value).unwrap_or(Value::Null)
}

/// A content block as the SDK's type, made directly for the common kinds
/// (no JSON in between), through JSON for a resource link.
pub(crate) fn protocol_block(
    content: &Content,
) -> Result<rmcp::model::ContentBlock, serde_json::Error> {
    use rmcp::model::{ContentBlock, ResourceContents as Contents};
    Ok(match content {
        Content::Text(text) => ContentBlock::text(text.clone()),
        Content::Image(blob) => {
            ContentBlock::image(STANDARD.encode(&blob.data), blob.mime_type.clone())
        }
        Content::Audio(blob) => {
            ContentBlock::audio(STANDARD.encode(&blob.data), blob.mime_type.clone())
        }
        Content::Embedded(embedded) => ContentBlock::resource(match &embedded.body {
            ResourceBody::Text(text) => Contents::TextResourceContents {
                uri: embedded.uri.clone(),
                mime_type: embedded.mime_type.clone(),
                text: text.clone(),
                meta: None,
            },
            ResourceBody::Bytes(bytes) => Contents::BlobResourceContents {
                uri: embedded.uri.clone(),
                mime_type: embedded.mime_type.clone(),
                blob: STANDARD.encode(bytes),
                meta: None,
            },
        }),
        Content::ResourceLink(resource) => {
            let mut link = resource_info(resource);
            link["type"] = json!("resource_link");
            serde_json::from_value(link)?
        }
    })
}

/// A tool's whole result as MCP carries it: its content blocks, and its
/// structured content when it has some.
pub fn result_json(result: &witplug_host::mcp::ToolResult) -> Value {
    let content: Vec<Value> = result.content.iter().map(block).collect();
    let mut value = json!({ "content": content });
    if let Some(structured) =
        result.structured.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        value["structuredContent"] = structured;
    }
    value
}

/// Text, image or audio content from a protocol block (a sampled message).
pub(crate) fn from_block(block: &Value) -> Option<Content> {
    let text = |key: &str| block.get(key).and_then(Value::as_str);
    let blob = || {
        let data = STANDARD.decode(text("data")?).ok()?;
        Some(witplug_host::mcp::Blob { data, mime_type: text("mimeType")?.to_owned() })
    };
    match text("type")? {
        "text" => Some(Content::Text(text("text")?.to_owned())),
        "image" => blob().map(Content::Image),
        "audio" => blob().map(Content::Audio),
        _ => None,
    }
}

/// A resource as `resources/list` shows it.
pub(crate) fn resource_info(resource: &ResourceInfo) -> Value {
    let mut value = json!({ "uri": resource.uri, "name": resource.name });
    optional(&mut value, "title", resource.title.as_deref());
    optional(&mut value, "description", resource.description.as_deref());
    optional(&mut value, "mimeType", resource.mime_type.as_deref());
    if let Some(size) = resource.size {
        value["size"] = json!(size);
    }
    value
}

/// A template as `resources/templates/list` shows it.
pub(crate) fn template(template: &ResourceTemplate) -> Value {
    let mut value = json!({ "uriTemplate": template.uri_template, "name": template.name });
    optional(&mut value, "title", template.title.as_deref());
    optional(&mut value, "description", template.description.as_deref());
    optional(&mut value, "mimeType", template.mime_type.as_deref());
    value
}

/// One resource's contents, as `resources/read` answers them.
pub(crate) fn contents_of(contents: &ResourceContents) -> Value {
    let mut value = json!({ "uri": contents.uri });
    optional(&mut value, "mimeType", contents.mime_type.as_deref());
    match &contents.body {
        ResourceBody::Text(text) => value["text"] = json!(text),
        ResourceBody::Bytes(bytes) => value["blob"] = json!(STANDARD.encode(bytes)),
    }
    value
}

/// A prompt as `prompts/list` shows it.
pub(crate) fn prompt(prompt: &Prompt) -> Value {
    let arguments: Vec<Value> = prompt
        .arguments
        .iter()
        .map(|argument| {
            let mut value = json!({ "name": argument.name, "required": argument.required });
            optional(&mut value, "description", argument.description.as_deref());
            value
        })
        .collect();
    let mut value = json!({ "name": prompt.name, "arguments": arguments });
    optional(&mut value, "title", prompt.title.as_deref());
    optional(&mut value, "description", prompt.description.as_deref());
    value
}

/// A filled-in prompt, as `prompts/get` answers it.
pub(crate) fn prompt_result(result: &PromptResult) -> Value {
    let messages: Vec<Value> = result
        .messages
        .iter()
        .map(|message| {
            let role = match message.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({ "role": role, "content": block(&message.content) })
        })
        .collect();
    let mut value = json!({ "messages": messages });
    optional(&mut value, "description", result.description.as_deref());
    value
}

fn optional(value: &mut Value, key: &str, text: Option<&str>) {
    if let Some(text) = text {
        value[key] = json!(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use witplug_host::mcp::Blob;

    #[test]
    fn blocks_are_the_protocols() {
        let image = Content::Image(Blob { data: vec![1, 2, 3], mime_type: "image/png".into() });
        assert_eq!(
            block(&image),
            json!({"type": "image", "data": "AQID", "mimeType": "image/png"})
        );
        let Some(Content::Image(back)) = from_block(&block(&image)) else { panic!("no image") };
        assert_eq!((back.data, back.mime_type.as_str()), (vec![1, 2, 3], "image/png"));
        let embedded = Content::Embedded(ResourceContents {
            uri: "test://x".into(),
            mime_type: None,
            body: ResourceBody::Bytes(vec![0]),
        });
        assert_eq!(
            block(&embedded),
            json!({"type": "resource", "resource": {"uri": "test://x", "blob": "AA=="}})
        );
        let parsed: rmcp::model::ContentBlock = serde_json::from_value(block(&embedded)).unwrap();
        assert!(serde_json::to_value(parsed).is_ok());
    }
}
