"""The conformance kit's plugin in Python: the same commands as the Rust
`kit` plugin (see its `src/lib.rs`), answered the same way, so one set of
tests runs against every guest language."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

TAGS = {
    types.Error_InvalidInput: "invalid-input",
    types.Error_Denied: "denied",
    types.Error_NotFound: "not-found",
    types.Error_LimitExceeded: "limit-exceeded",
    types.Error_Failed: "failed",
}

count = 0
received = []


def tagged(error):
    """An error the host returned, as `tag:value`."""
    return f"{TAGS[type(error)]}:{error.value}"


def tool_names():
    """The tools the config key `tools` names (comma-separated)."""
    names = (host.get_config("tools") or "").split(",")
    return [name.strip() for name in names if name.strip()]


class Guest(exports.Guest):
    def info(self):
        return types.PluginInfo(
            name="py-kit",
            version="0.1.0",
            description="The conformance kit's Python plugin: one command per host behaviour",
        )

    def init(self):
        reason = host.get_config("fail-init")
        if reason is not None:
            raise Err(types.Error_Failed(reason))

    def handle(self, input):
        global count
        command, _, rest = input.partition(" ")
        if command == "count":
            count += 1
            return str(count)
        if command == "log":
            host.log(types.Level.INFO, rest)
            return "logged"
        if command == "config":
            value = host.get_config(rest)
            return "<none>" if value is None else value
        if command == "send":
            topic, _, payload = rest.partition(" ")
            try:
                host.send_message(topic, payload.encode())
                return "sent"
            except Err as err:
                return tagged(err.value)
        if command == "tool":
            name, _, argument = rest.partition(" ")
            try:
                return "ok:" + host.call_tool(name, argument)
            except Err as err:
                return tagged(err.value)
        if command == "received":
            return ";".join(received)
        if command == "fail":
            raise Err(types.Error_Failed(rest))
        if command == "throw":
            raise RuntimeError(rest)
        if command == "spin":
            while True:
                count += 1
        if command == "grow":
            blocks = []
            while True:
                blocks.append(bytearray(1 << 20))
        if command == "big":
            return "x" * int(rest)
        raise Err(types.Error_InvalidInput(f"unknown command `{command}`"))

    def on_message(self, topic, payload):
        received.append(f"{topic}={payload.decode(errors='replace')}")

    def describe_tools(self):
        return [
            types.ToolDescription(
                name=name,
                description="Answers its input after its own name",
                input_schema='{"type": "string"}',
                output_schema=None,
                hints=types.ToolHints(
                    read_only=True, destructive=False, idempotent=True, open_world=None
                ),
            )
            for name in tool_names()
        ]

    def run_tool(self, name, input):
        if name in tool_names():
            return f"{name}:{input}"
        raise Err(types.Error_NotFound(name))

    def shutdown(self):
        pass
