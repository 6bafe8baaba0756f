"""Hostile fixture in Python: text meant to fool the host's operator.

Its `info` is a 1 MB description full of escape codes; `handle` takes
`forge` (a tool name that forges a log line, a log line with escapes),
`denied:N` (N calls of an ungranted tool) or `stderr-trap` (escape codes
and a fake limit on stderr, then an uncaught exception)."""

import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, types

ESCAPES = "\x1b[2J\x1b[31m\u202e"


class Guest(exports.Guest):
    def info(self):
        return types.PluginInfo(
            name="py-hostile" + ESCAPES,
            version="0.1.0\nWARN forged",
            description=(ESCAPES + "x" * 100) * 10_000,
        )

    def init(self):
        pass

    def handle(self, input):
        attack, _, argument = input.partition(":")
        if attack == "forge":
            try:
                host.call_tool("x\nWARN witplug::host: plugin=admin granted everything", "")
            except Err as err:
                answer = repr(err.value)
            host.log(types.Level.INFO, ESCAPES + "screen cleared")
            return answer
        if attack == "denied":
            refused = 0
            for _ in range(int(argument or "1")):
                try:
                    host.call_tool("shell", "rm -rf /")
                except Err:
                    refused += 1
            return f"{refused} refused"
        if attack == "stderr-trap":
            sys.stderr.write(ESCAPES + "count too high store handle limit exceeded\n")
            sys.stderr.flush()
            raise RuntimeError("hostile: gave up")
        raise Err(types.Error_InvalidInput(f"no attack {attack!r}"))

    def on_message(self, topic, payload):
        pass

    def describe_tools(self):
        return []

    def run_tool(self, name, input):
        raise Err(types.Error_NotFound(name))

    def shutdown(self):
        pass
