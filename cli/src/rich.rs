//! A tool's rich result (contract 0.3) as the CLI shows it: a line per
//! content item, text made safe by the one sanitizer and bytes summarised
//! (`image/png, 69 bytes`), or the whole as MCP's JSON, bytes in base64.

use serde_json::Value;
use witplug_host::mcp::{Content, ResourceBody, ToolResult};
use witplug_host::text::sanitize;

/// The longest line of text shown for one item.
const SHOWN: usize = 4096;

/// One line per content item, then the structured content.
pub(crate) fn lines(result: &ToolResult) -> Vec<String> {
    let mut lines: Vec<String> = result.content.iter().map(line).collect();
    if let Some(structured) = &result.structured {
        lines.push(format!("structured: {}", sanitize(structured, SHOWN)));
    }
    lines
}

fn size(bytes: usize) -> String {
    let plural = if bytes == 1 { "" } else { "s" };
    format!("{bytes} byte{plural}")
}

fn line(item: &Content) -> String {
    let safe = |text: &str| sanitize(text, witplug_host::text::NAME);
    match item {
        Content::Text(text) => sanitize(text, SHOWN),
        Content::Image(blob) => {
            format!("[image: {}, {}]", safe(&blob.mime_type), size(blob.data.len()))
        }
        Content::Audio(blob) => {
            format!("[audio: {}, {}]", safe(&blob.mime_type), size(blob.data.len()))
        }
        Content::ResourceLink(resource) => {
            format!("[link: {} ({})]", safe(&resource.uri), safe(&resource.name))
        }
        Content::Embedded(contents) => {
            let mime =
                contents.mime_type.as_deref().map_or(String::new(), |m| format!("{}, ", safe(m)));
            match &contents.body {
                ResourceBody::Text(text) => format!(
                    "[resource: {}, {mime}{} of text] {}",
                    safe(&contents.uri),
                    size(text.len()),
                    sanitize(text, SHOWN)
                ),
                ResourceBody::Bytes(bytes) => {
                    format!("[resource: {}, {mime}{}]", safe(&contents.uri), size(bytes.len()))
                }
            }
        }
    }
}

/// The whole result as JSON, as MCP carries it.
pub(crate) fn json(result: &ToolResult) -> Value {
    witplug_mcp::result_json(result)
}
