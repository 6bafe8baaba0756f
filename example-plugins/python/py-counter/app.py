"""A counter in Python: each `handle` call counts, and the answer is the
input with the count so far. State lives in the module, one per instance.

Build it with `cargo xtask build-plugins` (or `witplug build` on this
folder), then `witplug call py-counter handle '"x"'`."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

count = 0


class Guest(exports.Guest):
    def info(self):
        return types.PluginInfo(
            name="py-counter", version="0.1.0", description="Counts its calls, in Python"
        )

    def init(self):
        global count
        start = host.get_config("start")
        if start is not None:
            if not start.isdigit():
                raise Err(types.Error_InvalidInput(f"start must be a number, not {start!r}"))
            count = int(start)
        host.log(types.Level.INFO, f"counter starts at {count}")

    def handle(self, input):
        global count
        count += 1
        return f"{input} {count}"

    def on_message(self, topic, payload):
        pass

    def describe_tools(self):
        return []

    def run_tool(self, name, input):
        raise Err(types.Error_NotFound(name))

    def shutdown(self):
        pass
