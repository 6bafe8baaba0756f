"""Shows the standard `wasi:keyvalue` interfaces (store, atomics, batch), in
Python: `handle` runs one command on a bucket, the same protocol as the
Rust `kv-counter` and the JavaScript `js-kv`. The plugin's world (`wit/`)
adds `wasi:keyvalue@0.2.0-draft2` to witplug's `plugin` world.

A command may start with `@NAME ` to use bucket NAME instead of `default`:
`incr KEY [DELTA]`, `get KEY`, `set KEY VALUE`, `delete KEY`, `exists KEY`,
`cas KEY OLD NEW`, `list`, `set-many K=V,K=V`, `get-many K,K`,
`delete-many K,K`, and `fill N SIZE` (N keys of SIZE bytes, to meet the
host's limits). E.g. `witplug call py-kv handle '"@scores incr alice 5"'`.
A bucket the host does not grant answers `denied`; a write past the
plugin's quota, `limit-exceeded` naming the limit."""

import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import atomics, batch, store, types

USAGE = {
    "incr": "incr KEY [DELTA]",
    "get": "get KEY",
    "set": "set KEY VALUE",
    "delete": "delete KEY",
    "exists": "exists KEY",
    "cas": "cas KEY OLD NEW",
    "list": "list",
    "set-many": "set-many K1=V1,K2=V2",
    "get-many": "get-many K1,K2",
    "delete-many": "delete-many K1,K2",
    "fill": "fill N SIZE",
}
STORE_ERRORS = (store.Error_NoSuchStore, store.Error_AccessDenied, store.Error_Other)
S64 = range(-(2**63), 2**63)
COUNT = range(2**63)
FILL_BATCH = 1000
# How the host starts the message of a write past a quota.
LIMIT = "limit-exceeded: "


def witplug_error(error, bucket):
    """The witplug error for the `wasi:keyvalue` error `error`."""
    if isinstance(error, store.Error_AccessDenied):
        return types.Error_Denied(f"bucket {bucket}")
    if isinstance(error, store.Error_NoSuchStore):
        return types.Error_NotFound(f"bucket {bucket}")
    if error.value.startswith(LIMIT):
        return types.Error_LimitExceeded(error.value.removeprefix(LIMIT))
    return types.Error_Failed(error.value)


def invalid(command):
    return Err(types.Error_InvalidInput(f"usage: {USAGE[command]}"))


def words(command, rest, count):
    """The `count` space-separated arguments of `command`."""
    found = rest.split(" ") if rest else []
    if len(found) != count or "" in found:
        raise invalid(command)
    return found


def number(command, text, allowed):
    """`text` as an integer in `allowed`."""
    if not re.fullmatch(r"[+-]?[0-9]+", text) or int(text) not in allowed:
        raise invalid(command)
    return int(text)


def text(value):
    return "(none)" if value is None else value.decode(errors="replace")


def cas(bucket, key, old, new):
    """Swaps `key` from `old` to `new` unless another writer came first."""
    operation = atomics.Cas.new(bucket, key)
    try:
        current = text(operation.current())
    except Err:
        operation.__exit__(None, None, None)
        raise
    if current != old:
        operation.__exit__(None, None, None)
        return f"failed: {current}"
    try:
        atomics.swap(operation, new.encode())  # takes `operation` over
    except Err as err:
        if isinstance(err.value, atomics.CasError_CasFailed):
            # The store hands the operation back; it is of no further use.
            err.value.value.__exit__(None, None, None)
            return "failed: changed"
        raise Err(err.value.value)  # a store error
    return "swapped"


def fill(bucket, name, count, size):
    """Stores `k0`...`k{count-1}`, `size` bytes each, a thousand a batch."""
    value = b"x" * size
    stored = 0
    try:
        for start in range(0, count, FILL_BATCH):
            end = min(start + FILL_BATCH, count)
            batch.set_many(bucket, [(f"k{i}", value) for i in range(start, end)])
            stored = end
    except Err as err:
        error = witplug_error(err.value, name)
        raise Err(type(error)(f"after {stored} keys: {error.value}"))
    return f"filled {stored}"


def run(bucket, name, command, rest):
    """The answer to one command on `bucket`; raises `Err` of a witplug
    error for bad input and of a `wasi:keyvalue` error for the store's."""
    if command == "incr":
        args = rest.split(" ") if rest else []
        if len(args) not in (1, 2) or "" in args:
            raise invalid(command)
        delta = number(command, args[1], S64) if len(args) == 2 else 1
        return str(atomics.increment(bucket, args[0], delta))
    if command == "get":
        return text(bucket.get(*words(command, rest, 1)))
    if command == "set":
        key, space, value = rest.partition(" ")
        if not key or not space:
            raise invalid(command)
        bucket.set(key, value.encode())
        return "ok"
    if command == "delete":
        bucket.delete(*words(command, rest, 1))
        return "ok"
    if command == "exists":
        return "true" if bucket.exists(*words(command, rest, 1)) else "false"
    if command == "cas":
        return cas(bucket, *words(command, rest, 3))
    if command == "list":
        words(command, rest, 0)
        keys, cursor = [], None
        while True:
            page = bucket.list_keys(cursor)
            keys += page.keys
            if (cursor := page.cursor) is None:
                return ",".join(sorted(keys))
    if command == "set-many":
        pairs = [pair.partition("=") for pair in words(command, rest, 1)[0].split(",")]
        if any(not key or not equals for key, equals, _ in pairs):
            raise invalid(command)
        batch.set_many(bucket, [(key, value.encode()) for key, _, value in pairs])
        return "ok"
    if command == "get-many":
        keys = words(command, rest, 1)[0].split(",")
        # One entry per key asked, in order: `None` for a missing key.
        found = batch.get_many(bucket, keys)
        return ",".join(
            f"{key}={text(entry[1] if entry else None)}" for key, entry in zip(keys, found)
        )
    if command == "delete-many":
        batch.delete_many(bucket, words(command, rest, 1)[0].split(","))
        return "ok"
    if command == "fill":
        count, size = words(command, rest, 2)
        return fill(bucket, name, number(command, count, COUNT), number(command, size, COUNT))
    raise Err(types.Error_InvalidInput(f"unknown command `{command}`"))


class Guest(exports.Guest):
    def info(self):
        return types.PluginInfo(
            name="py-kv", version="0.1.0", description="Keeps keys in wasi:keyvalue, in Python"
        )

    def init(self):
        pass

    def handle(self, input):
        name = "default"
        if input.startswith("@") and " " in input:
            name, input = input[1:].split(" ", 1)
        command, _, rest = input.partition(" ")
        try:
            with store.open(name) as bucket:  # dropped at the end of the call
                return run(bucket, name, command, rest)
        except Err as err:
            if isinstance(err.value, STORE_ERRORS):
                raise Err(witplug_error(err.value, name))
            raise

    def on_message(self, topic, payload):
        pass

    def describe_tools(self):
        return []

    def run_tool(self, name, input):
        raise Err(types.Error_NotFound(name))

    def shutdown(self):
        pass
