"""An MCP client for witplug's tests, on the official Python MCP SDK.

It runs one session against `witplug mcp` as an agent would, following a
script given as JSON on the command line, and prints what it saw as JSON:

    python client.py '{"transport": "stdio", "command": ["witplug", "mcp", ...],
                       "steps": [{"op": "list"}, {"op": "call", "name": "t", "arguments": {}}]}'

Transports: `stdio` (it starts `command`) or `http` (`url`, `headers`).
Steps:
- `list`: the tools, as the wire names them (camelCase);
- `call`: `name`, `arguments`, optional `timeout` seconds; the result, or
  the protocol error;
- `cancel`: a `call` the client gives up on after `after` seconds (the SDK
  then sends `notifications/cancelled`);
- `read`: `uri`; the contents' texts, or the protocol error;
- `set_level`: `level`, the least severe log level the client wants;
- `copy`: copies file `from` to `to` (to change the server's plugins);
- `remove`: removes file `path`;
- `wait_list_changed`: waits up to `timeout` seconds for one more
  `notifications/tools/list_changed` than seen so far;
- `wait_log`: waits up to `timeout` seconds for a log message containing
  `text`;
- `sleep`: `seconds`.

With `"sampling": {"text": ..., "model": ..., "delay": seconds}` the
client declares sampling and answers each `sampling/createMessage` with
that text (after `delay`, to play a slow or silent model); with
`"elicitation": {"action": ..., "content": {...}}` it declares elicitation
and answers each `elicitation/create` so. What it was asked is recorded
under `"asked"`.

With `"transcript": true` it also prints each request and answer as a line
on stderr, as a person would read the session.
"""

import json
import os
import shutil
import sys
import time
import warnings

import anyio
import httpx2
import mcp.types as types
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

warnings.simplefilter("ignore")


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def say(script, line):
    if script.get("transcript"):
        print(line, file=sys.stderr, flush=True)


async def run_steps(session, script, seen):
    out = {}
    init = await session.initialize()
    out["server"] = {
        "name": init.server_info.name,
        "protocol": init.protocol_version,
        "capabilities": dump(init.capabilities),
    }
    results = []
    for step in script["steps"]:
        op = step["op"]
        if op == "list":
            say(script, "-> tools/list")
            listed = await session.list_tools()
            results.append({"tools": [dump(tool) for tool in listed.tools]})
            for tool in listed.tools:
                say(script, f"<- {tool.name}: {tool.description}")
                say(script, f"     input {json.dumps(tool.input_schema)}")
        elif op in ("call", "cancel"):
            started = time.monotonic()
            result = {}
            try:
                if op == "cancel":
                    with anyio.move_on_after(step["after"]) as scope:
                        await session.call_tool(step["name"], step.get("arguments", {}))
                    result["cancelled"] = scope.cancelled_caught
                else:
                    say(script, f"-> tools/call {step['name']} {json.dumps(step.get('arguments', {}))}")
                    answer = await session.call_tool(
                        step["name"],
                        step.get("arguments", {}),
                        read_timeout_seconds=step.get("timeout", 30.0),
                    )
                    result["is_error"] = answer.is_error
                    result["text"] = [c.text for c in answer.content if c.type == "text"]
                    result["structured"] = answer.structured_content
                    say(script, f"<- {json.dumps(dump(answer))}")
            except MCPError as err:
                result["error"] = {"code": err.code, "message": err.message}
                say(script, f"<- error {err.code}: {err.message}")
            result["seconds"] = time.monotonic() - started
            results.append(result)
        elif op == "read":
            try:
                read = await session.read_resource(step["uri"])
                results.append({"texts": [getattr(c, "text", None) for c in read.contents]})
            except MCPError as err:
                results.append({"error": {"code": err.code, "message": err.message}})
        elif op == "set_level":
            await session.set_logging_level(step["level"])
            results.append({})
        elif op == "copy":
            shutil.copyfile(step["from"], step["to"] + ".part")
            os.replace(step["to"] + ".part", step["to"])
            results.append({})
        elif op == "remove":
            os.remove(step["path"])
            results.append({})
        elif op == "wait_list_changed":
            target = seen["list_changed_waited"] + 1
            with anyio.move_on_after(step["timeout"]):
                while seen["list_changed"] < target:
                    await anyio.sleep(0.02)
            seen["list_changed_waited"] = target
            results.append({"changed": seen["list_changed"] >= target})
        elif op == "wait_log":
            found = None
            with anyio.move_on_after(step["timeout"]):
                while found is None:
                    found = next((l for l in seen["logs"] if step["text"] in str(l["data"])), None)
                    await anyio.sleep(0.02)
            results.append({"log": found})
        elif op == "sleep":
            await anyio.sleep(step["seconds"])
            results.append({})
        else:
            raise ValueError(f"unknown step {op!r}")
    out["results"] = results
    return out


async def main(script):
    seen = {"logs": [], "list_changed": 0, "list_changed_waited": 0}

    async def on_log(params):
        seen["logs"].append({"level": params.level, "logger": params.logger, "data": params.data})

    async def on_message(message):
        if isinstance(message, types.ToolListChangedNotification):
            seen["list_changed"] += 1

    callbacks = {"logging_callback": on_log, "message_handler": on_message}
    seen["asked"] = []
    if "sampling" in script:
        sample_answer = script["sampling"]

        async def on_sample(context, params):
            asked = params.model_dump(mode="json", by_alias=True, exclude_none=True)
            seen["asked"].append({"sampling": asked})
            say(script, f"   (the server asks the model) sampling/createMessage {json.dumps(asked)}")
            await anyio.sleep(sample_answer.get("delay", 0))
            reply = types.CreateMessageResult(
                role="assistant",
                content=types.TextContent(type="text", text=sample_answer["text"]),
                model=sample_answer.get("model", "test-model"),
                stop_reason="endTurn",
            )
            say(script, f"   (the model answers) {json.dumps(dump(reply))}")
            return reply

        callbacks["sampling_callback"] = on_sample
    if "elicitation" in script:
        answer = script["elicitation"]

        async def on_elicit(context, params):
            asked = params.model_dump(mode="json", by_alias=True, exclude_none=True)
            seen["asked"].append({"elicitation": asked})
            say(script, f"   (the server asks the user) elicitation/create {json.dumps(asked)}")
            return types.ElicitResult(action=answer["action"], content=answer.get("content"))

        callbacks["elicitation_callback"] = on_elicit
    try:
        if script["transport"] == "stdio":
            command = script["command"]
            params = StdioServerParameters(
                command=command[0], args=command[1:], env=script.get("env"), cwd=script.get("cwd")
            )
            async with stdio_client(params) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=60.0, **callbacks) as s:
                    out = await run_steps(s, script, seen)
        else:
            client = httpx2.AsyncClient(headers=script.get("headers", {}), timeout=60.0)
            async with client, streamable_http_client(script["url"], http_client=client) as (
                read,
                write,
            ):
                async with ClientSession(read, write, read_timeout_seconds=60.0, **callbacks) as s:
                    out = await run_steps(s, script, seen)
    except* MCPError as group:
        err = group.exceptions[0]
        while isinstance(err, ExceptionGroup):
            err = err.exceptions[0]
        out = {"refused": {"code": err.code, "message": err.message}}
    out["logs"] = seen["logs"]
    out["asked"] = seen["asked"]
    out["list_changed"] = seen["list_changed"]
    print(json.dumps(out))


if __name__ == "__main__":
    anyio.run(main, json.loads(sys.argv[1]))
