"""Shows `wasi:http` behind grants, in Python: `handle(url)` fetches `url`
with a GET and answers `<status> <body>`. The plugin's world (`wit/`) adds
`wasi:http/outgoing-handler` to witplug's `plugin` world. The host sends
the request only to an origin the manifest grants (`http =
["http://127.0.0.1:8080"]`) and refuses any other with
`HTTP-request-denied`, which this plugin returns as `denied`."""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as http
from wit_world.imports import witplug_plugin_types as types


def get(url):
    """The status and body of a GET of `url`; raises `Err(ErrorCode)`.

    Each resource is closed (`with`) before the one it came from, as
    `wasi:http` requires: a stream before its body, a body before its
    response."""
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    request = http.OutgoingRequest(http.Fields())
    request.set_scheme(http.Scheme_Https() if scheme == "https" else http.Scheme_Http())
    request.set_authority(authority)
    request.set_path_with_query(slash + path if slash else "/")
    with outgoing_handler.handle(request, None) as pending:
        while (answer := pending.get()) is None:
            with pending.subscribe() as ready:
                ready.block()
    if isinstance(answer.value, Err):
        raise answer.value
    with answer.value.value as response:
        status = response.status()
        body = bytearray()
        with response.consume() as incoming, incoming.stream() as stream:
            while True:
                try:
                    body += stream.blocking_read(64 * 1024)
                except Err as err:
                    if isinstance(err.value, streams.StreamError_Closed):
                        break
                    raise Err(http.ErrorCode_HttpResponseIncomplete())
    return status, body.decode(errors="replace")


class Guest(exports.Guest):
    def info(self):
        return types.PluginInfo(
            name="py-fetch", version="0.1.0", description="Fetches a URL, in Python"
        )

    def init(self):
        pass

    def handle(self, input):
        if "://" not in input:
            raise Err(types.Error_InvalidInput("expected a URL, `http://host/path`"))
        try:
            status, body = get(input)
        except Err as err:
            if isinstance(err.value, http.ErrorCode_HttpRequestDenied):
                raise Err(types.Error_Denied(f"http:{input}"))
            raise Err(types.Error_Failed(f"GET {input}: {err.value}"))
        return f"{status} {body}"

    def on_message(self, topic, payload):
        pass

    def describe_tools(self):
        return []

    def run_tool(self, name, input):
        raise Err(types.Error_NotFound(name))

    def shutdown(self):
        pass
