"""The MCP conformance suite's tools, in Python: a plugin of contract 0.3's
`mcp-server` world (its own `wit/` includes it) whose tools answer text,
an image, audio, an embedded resource and several items, log and report
progress while they run, fail on purpose, sample the agent's model and ask
its user. `witplug mcp --plugins DIR` serves it to agents. Its tools are
`py_simple_text`... or, with `[config] names = "conformance"`, the suite's
own `test_simple_text`...

Build it with `cargo xtask build-plugins` (or `witplug build` on this
folder). Its manifest grants `sampling` and `elicitation`."""

import base64
import json
import time

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import client, host, mcp_types, types

# A 1x1 red pixel, and eight samples of silence.
RED_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
SILENCE = base64.b64decode("UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==")

NOTHING = json.dumps({"type": "object", "properties": {}})


def text(value):
    return mcp_types.Content_Text(value)


def image():
    return mcp_types.Content_Image(mcp_types.Blob(data=RED_PIXEL, mime_type="image/png"))


def embedded(uri, mime_type, value):
    body = mcp_types.ResourceBody_Text(value)
    return mcp_types.Content_Embedded(mcp_types.ResourceContents(uri=uri, mime_type=mime_type, body=body))


def result(*content):
    return mcp_types.ToolResult(content=list(content), structured=None)


def simple_text(_):
    return result(text("This is a simple text response for testing."))


def image_content(_):
    return result(image())


def audio_content(_):
    return result(mcp_types.Content_Audio(mcp_types.Blob(data=SILENCE, mime_type="audio/wav")))


def embedded_resource(_):
    return result(embedded("test://embedded-resource", "text/plain", "This is an embedded resource content."))


def multiple_content_types(_):
    data = json.dumps({"test": "data", "value": 123})
    return result(
        text("Multiple content types test:"),
        image(),
        embedded("test://mixed-content-resource", "application/json", data),
    )


def with_logging(_):
    for line in ["Tool execution started", "Tool processing data", "Tool execution completed"]:
        host.log(types.Level.INFO, line)
        time.sleep(0.05)
    return result(text("Logged three lines."))


def error_handling(_):
    raise Err(types.Error_Failed("This tool intentionally returns an error for testing"))


def with_progress(_):
    for step in [0.0, 50.0, 100.0]:
        client.report_progress(step, 100.0, None)
        time.sleep(0.05)
    return result(text("Progress reported."))


def sampling(arguments):
    message = mcp_types.Message(role=mcp_types.Role.USER, content=text(arguments["prompt"]))
    request = mcp_types.SampleRequest(
        messages=[message],
        system_prompt=None,
        max_tokens=100,
        temperature=None,
        stop_sequences=[],
        model_hints=[],
    )
    reply = client.sample(request)
    answer = reply.content.value if isinstance(reply.content, mcp_types.Content_Text) else "(not text)"
    return result(text(f"LLM response: {answer}"))


def elicitation(arguments):
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    reply = client.elicit(arguments["message"], json.dumps(schema))
    action = reply.action.name.lower()
    return result(text(f"User response: action={action}, content={reply.content or '{}'}"))


TOOLS = {
    "simple_text": ("Answers simple text", simple_text, NOTHING),
    "image_content": ("Answers an image", image_content, NOTHING),
    "audio_content": ("Answers audio", audio_content, NOTHING),
    "embedded_resource": ("Answers an embedded resource", embedded_resource, NOTHING),
    "multiple_content_types": ("Answers text, an image and a resource", multiple_content_types, NOTHING),
    "tool_with_logging": ("Logs three lines while it runs", with_logging, NOTHING),
    "error_handling": ("Always fails", error_handling, NOTHING),
    "tool_with_progress": ("Reports progress 0, 50 and 100 of 100", with_progress, NOTHING),
    "sampling": (
        "Asks the agent's model to answer a prompt",
        sampling,
        json.dumps({"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}),
    ),
    "elicitation": (
        "Asks the user for a name and an email address",
        elicitation,
        json.dumps({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}),
    ),
}


def prefix():
    """The tools' names begin `py_`, or `test_` (the conformance suite's
    names) when the configuration says `names = "conformance"`."""
    return "test_" if host.get_config("names") == "conformance" else "py_"


def run(name, input):
    tool = name.removeprefix(prefix())
    if tool == name or tool not in TOOLS:
        raise Err(types.Error_NotFound(name))
    return TOOLS[tool][1](json.loads(input))


class Guest(exports.Guest):
    def info(self):
        return types.PluginInfo(name="py-mcp", version="0.1.0", description="The MCP tool scenarios, in Python")

    def init(self):
        pass

    def handle(self, input):
        return "Serves agents over MCP: see its tools."

    def on_message(self, topic, payload):
        pass

    def describe_tools(self):
        hints = types.ToolHints(read_only=None, destructive=None, idempotent=None, open_world=None)
        return [
            types.ToolDescription(
                name=prefix() + name,
                description=description,
                input_schema=schema,
                output_schema=None,
                hints=hints,
            )
            for name, (description, _, schema) in TOOLS.items()
        ]

    def run_tool(self, name, input):
        # Other plugins' `call-tool`: the text items, one per line.
        answer = run(name, input)
        return "\n".join(item.value for item in answer.content if isinstance(item, mcp_types.Content_Text))

    def shutdown(self):
        pass


class Server(exports.Server):
    def run_tool(self, name, input):
        return run(name, input)

    def list_resources(self):
        return []

    def list_resource_templates(self):
        return []

    def read_resource(self, uri):
        raise Err(types.Error_NotFound(uri))

    def list_prompts(self):
        return []

    def get_prompt(self, name, arguments):
        raise Err(types.Error_NotFound(name))

    def complete(self, reference, argument, value):
        return mcp_types.Completion(values=[], total=0, has_more=False)
