//! Everything an MCP server does, as the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`) calls it, written on the public
//! SDK as any plugin author would: tools answering text, an image, audio,
//! an embedded resource and several items; logging and progress during a
//! call; a tool that samples the agent's model and three that ask its user;
//! resources, a resource template, a watched resource; prompts; argument
//! completion. `witplug mcp --plugins DIR` serves it.
//!
//! Its manifest (`plugins/mcp-everything.toml`) grants `sampling` and
//! `elicitation`.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use witplug_sdk::mcp::{
    self, Completion, CompletionRef, Content, ElicitReply, Message, Prompt, PromptResult, Prompts,
    ResourceContents, ResourceInfo, ResourceTemplate, Resources, Server, ToolResult,
};
use witplug_sdk::{Error, Plugin, Result, Tools};

/// A 1×1 red pixel.
const RED_PIXEL: &[u8] = include_bytes!("red-pixel.png");
/// Eight samples of silence.
const SILENCE: &[u8] = include_bytes!("silence.wav");

/// A tool that takes nothing.
#[derive(Deserialize, JsonSchema)]
struct Nothing {}

#[derive(Deserialize, JsonSchema)]
struct Sampling {
    /// The prompt to send to the model.
    prompt: String,
}

#[derive(Deserialize, JsonSchema)]
struct Asking {
    /// The message to show the user.
    message: String,
}

#[derive(Default)]
struct Everything;

/// Waits a little, as the suite's tools do between notifications.
fn pause() {
    std::thread::sleep(Duration::from_millis(50));
}

/// The user's answer, as a line of text.
fn answered(prefix: &str, reply: &ElicitReply) -> ToolResult {
    let action = match reply.action {
        mcp::ElicitAction::Accept => "accept",
        mcp::ElicitAction::Decline => "decline",
        mcp::ElicitAction::Cancel => "cancel",
    };
    let content = reply.content.as_deref().unwrap_or("{}");
    ToolResult::text(format!("{prefix}: action={action}, content={content}"))
}

impl Plugin for Everything {
    fn tools() -> Tools<Self> {
        Tools::new()
            .rich_tool("test_simple_text", "Answers simple text", |_: &mut Self, _: Nothing| {
                Ok(ToolResult::text("This is a simple text response for testing."))
            })
            .read_only()
            .rich_tool("test_image_content", "Answers an image", |_: &mut Self, _: Nothing| {
                Ok(ToolResult::new(vec![Content::image(RED_PIXEL, "image/png")]))
            })
            .read_only()
            .rich_tool("test_audio_content", "Answers audio", |_: &mut Self, _: Nothing| {
                Ok(ToolResult::new(vec![Content::audio(SILENCE, "audio/wav")]))
            })
            .read_only()
            .rich_tool(
                "test_embedded_resource",
                "Answers an embedded resource",
                |_: &mut Self, _: Nothing| {
                    Ok(ToolResult::new(vec![Content::embedded(ResourceContents::text(
                        "test://embedded-resource",
                        "text/plain",
                        "This is an embedded resource content.",
                    ))]))
                },
            )
            .read_only()
            .rich_tool(
                "test_multiple_content_types",
                "Answers text, an image and a resource",
                |_: &mut Self, _: Nothing| {
                    Ok(ToolResult::new(vec![
                        Content::text("Multiple content types test:"),
                        Content::image(RED_PIXEL, "image/png"),
                        Content::embedded(ResourceContents::text(
                            "test://mixed-content-resource",
                            "application/json",
                            json!({"test": "data", "value": 123}).to_string(),
                        )),
                    ]))
                },
            )
            .read_only()
            .rich_tool(
                "test_tool_with_logging",
                "Logs three lines while it runs",
                |_: &mut Self, _: Nothing| {
                    log::info!("Tool execution started");
                    pause();
                    log::info!("Tool processing data");
                    pause();
                    log::info!("Tool execution completed");
                    Ok(ToolResult::text("Logged three lines."))
                },
            )
            .rich_tool(
                "progress_burst",
                "Reports progress 1, 2 and 3 of 3 at once (for benchmarks)",
                |_: &mut Self, _: Nothing| {
                    for step in 1..=3 {
                        mcp::progress(f64::from(step), Some(3.0), None);
                    }
                    Ok(ToolResult::text("Progress reported."))
                },
            )
            .rich_tool("test_error_handling", "Always fails", |_: &mut Self, _: Nothing| {
                Err(Error::Failed("This tool intentionally returns an error for testing".into()))
            })
            .rich_tool(
                "test_tool_with_progress",
                "Reports progress 0, 50 and 100 of 100",
                |_: &mut Self, _: Nothing| {
                    mcp::progress(0.0, Some(100.0), None);
                    pause();
                    mcp::progress(50.0, Some(100.0), Some("halfway"));
                    pause();
                    mcp::progress(100.0, Some(100.0), Some("done"));
                    Ok(ToolResult::text("Progress reported."))
                },
            )
            .rich_tool(
                "test_sampling",
                "Asks the agent's model to answer a prompt",
                |_: &mut Self, input: Sampling| {
                    let reply = mcp::Sample::new().user(input.prompt).max_tokens(100).send()?;
                    let text = match reply.content {
                        Content::Text(text) => text,
                        _ => "(not text)".to_owned(),
                    };
                    Ok(ToolResult::text(format!("LLM response: {text}")))
                },
            )
            .rich_tool(
                "test_elicitation",
                "Asks the user for a name and an email address",
                |_: &mut Self, input: Asking| {
                    let schema = json!({
                        "type": "object",
                        "properties": {
                            "username": {"type": "string", "description": "User's response"},
                            "email": {"type": "string", "description": "User's email address"},
                        },
                        "required": ["username", "email"],
                    });
                    Ok(answered("User response", &mcp::elicit(&input.message, &schema)?))
                },
            )
            .rich_tool(
                "test_elicitation_sep1034_defaults",
                "Asks the user, with defaults for every kind of field",
                |_: &mut Self, _: Nothing| {
                    let schema = json!({
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "default": "John Doe"},
                            "age": {"type": "integer", "default": 30},
                            "score": {"type": "number", "default": 95.5},
                            "status": {
                                "type": "string",
                                "enum": ["active", "inactive", "pending"],
                                "default": "active",
                            },
                            "verified": {"type": "boolean", "default": true},
                        },
                    });
                    let reply = mcp::elicit("Please review your details", &schema)?;
                    Ok(answered("Elicitation completed", &reply))
                },
            )
            .rich_tool(
                "test_elicitation_sep1330_enums",
                "Asks the user to choose, in each kind of enum",
                |_: &mut Self, _: Nothing| {
                    let schema = json!({
                        "type": "object",
                        "properties": {
                            "untitledSingle": {
                                "type": "string",
                                "enum": ["option1", "option2", "option3"],
                            },
                            "titledSingle": {
                                "type": "string",
                                "oneOf": [
                                    {"const": "value1", "title": "First Option"},
                                    {"const": "value2", "title": "Second Option"},
                                    {"const": "value3", "title": "Third Option"},
                                ],
                            },
                            "legacyEnum": {
                                "type": "string",
                                "enum": ["opt1", "opt2", "opt3"],
                                "enumNames": ["Option One", "Option Two", "Option Three"],
                            },
                            "untitledMulti": {
                                "type": "array",
                                "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                            },
                            "titledMulti": {
                                "type": "array",
                                "items": {
                                    "anyOf": [
                                        {"const": "value1", "title": "First Choice"},
                                        {"const": "value2", "title": "Second Choice"},
                                        {"const": "value3", "title": "Third Choice"},
                                    ],
                                },
                            },
                        },
                    });
                    let reply = mcp::elicit("Choose your options", &schema)?;
                    Ok(answered("Elicitation completed", &reply))
                },
            )
            .raw_tool(
                "json_schema_2020_12_tool",
                "Tool with JSON Schema 2020-12 features",
                json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "type": "object",
                    "$defs": {
                        "address": {
                            "type": "object",
                            "properties": {
                                "street": {"type": "string"},
                                "city": {"type": "string"},
                            },
                        },
                    },
                    "properties": {
                        "name": {"type": "string"},
                        "address": {"$ref": "#/$defs/address"},
                    },
                    "additionalProperties": false,
                }),
                |_: &mut Self, input| Ok(format!("Received {input}")),
            )
    }

    fn handle(&mut self, _input: &str) -> Result<String> {
        Ok("Serves agents over MCP: see its tools, resources and prompts.".into())
    }
}

impl Server for Everything {
    fn resources() -> Resources<Self> {
        Resources::new()
            .resource(
                ResourceInfo::new("test://static-text", "static-text")
                    .description("A static text resource")
                    .mime_type("text/plain"),
                |_: &mut Self, uri| {
                    let text = "This is the content of the static text resource.";
                    Ok(vec![ResourceContents::text(uri, "text/plain", text)])
                },
            )
            .resource(
                ResourceInfo::new("test://static-binary", "static-binary")
                    .description("A static image")
                    .mime_type("image/png"),
                |_: &mut Self, uri| Ok(vec![ResourceContents::bytes(uri, "image/png", RED_PIXEL)]),
            )
            .resource(
                ResourceInfo::new("test://watched-resource", "watched-resource")
                    .description("A resource whose changes are announced")
                    .mime_type("text/plain"),
                |_: &mut Self, uri| {
                    mcp::resource_updated(uri)?;
                    Ok(vec![ResourceContents::text(uri, "text/plain", "Watched.")])
                },
            )
            .template(
                ResourceTemplate::new("test://template/{id}/data", "template-data")
                    .description("Data for an ID")
                    .mime_type("application/json"),
                |_: &mut Self, uri, args| {
                    let id = args.get("id").unwrap_or_default();
                    let data = json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                    Ok(vec![ResourceContents::text(uri, "application/json", data.to_string())])
                },
            )
    }

    fn prompts() -> Prompts<Self> {
        Prompts::new()
            .prompt(
                Prompt::new("test_simple_prompt", "A prompt without arguments"),
                |_: &mut Self, _| {
                    let text = Content::text("This is a simple prompt for testing.");
                    Ok(PromptResult::new(vec![Message::user(text)]))
                },
            )
            .prompt(
                Prompt::new("test_prompt_with_arguments", "A prompt with two arguments")
                    .argument("arg1", "First test argument", true)
                    .argument("arg2", "Second test argument", true),
                |_: &mut Self, args| {
                    let (one, two) =
                        (args.get("arg1").unwrap_or(""), args.get("arg2").unwrap_or(""));
                    let text = format!("Prompt with arguments: arg1='{one}', arg2='{two}'");
                    Ok(PromptResult::new(vec![Message::user(Content::text(text))]))
                },
            )
            .prompt(
                Prompt::new("test_prompt_with_embedded_resource", "A prompt embedding a resource")
                    .argument("resourceUri", "URI of the resource to embed", true),
                |_: &mut Self, args| {
                    let uri = args.get("resourceUri").unwrap_or("test://example-resource");
                    let embedded = ResourceContents::text(
                        uri,
                        "text/plain",
                        "Embedded resource content for testing.",
                    );
                    Ok(PromptResult::new(vec![
                        Message::user(Content::embedded(embedded)),
                        Message::user(Content::text("Please process the embedded resource above.")),
                    ]))
                },
            )
            .prompt(
                Prompt::new("test_prompt_with_image", "A prompt with an image"),
                |_: &mut Self, _| {
                    Ok(PromptResult::new(vec![
                        Message::user(Content::image(RED_PIXEL, "image/png")),
                        Message::user(Content::text("Please analyze the image above.")),
                    ]))
                },
            )
    }

    fn complete(
        &mut self,
        reference: &CompletionRef,
        argument: &str,
        value: &str,
    ) -> Result<Completion> {
        let choices: &[&str] = match (reference, argument) {
            (CompletionRef::Prompt(name), "arg1") if name == "test_prompt_with_arguments" => {
                &["paris", "park", "party"]
            }
            _ => &[],
        };
        let values = choices.iter().filter(|c| c.starts_with(value)).map(|c| (*c).to_owned());
        Ok(Completion::values(values.collect()))
    }
}

witplug_sdk::export_mcp!(Everything);
