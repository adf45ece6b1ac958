"""http-request against a real aiohttp server on 127.0.0.1 (see conftest.HttpServer)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest

from dataflow_jupyter import ErrorCode, ErrorPacket, Graph, GraphRuntime, IONode
from dataflow_jupyter.packets import DataPacket

if TYPE_CHECKING:
    from conftest import HttpServer

    from dataflow_jupyter import NodeRegistry, RunResult

pytestmark = pytest.mark.integration


def request_graph(
    registry: NodeRegistry,
    settings: dict[str, Any],
    *,
    value: Any = None,
    with_body: bool = False,
    catch_errors: bool = True,
) -> Graph:
    """inject -> http-request (id ``req``) -> collect (``sink``); errors -> collect (``errs``)."""
    graph = Graph(id="http", registry=registry)
    graph.add_node("inject", settings={"value": value}, id="src")
    graph.add_node("http-request", settings=settings, id="req")
    graph.add_node("collect", id="sink")
    graph.connect("src.out", "req.trigger")
    if with_body:
        graph.connect("src.out", "req.body")
    graph.connect("req.response", "sink.in")
    if catch_errors:
        graph.add_node("collect", id="errs")
        graph.connect("req.error", "errs.in")
    return graph


async def run(registry: NodeRegistry, settings: dict[str, Any], **kw: Any) -> RunResult:
    return await GraphRuntime(request_graph(registry, settings, **kw), registry).run_async()


def essentials(response: dict[str, Any]) -> dict[str, Any]:
    """The response without the parts that vary from run to run (headers, elapsedMs)."""
    assert set(response) == {"status", "headers", "body", "url", "elapsedMs"}
    assert isinstance(response["headers"], dict)
    assert isinstance(response["elapsedMs"], float)
    assert response["elapsedMs"] >= 0
    return {k: response[k] for k in ("status", "body", "url")}


def test_the_spec(net_registry: NodeRegistry) -> None:
    node_class = net_registry.get("http-request", "1.0.0").load()
    assert issubclass(node_class, IONode)
    assert not node_class.is_source()
    assert node_class.process_is_async()
    spec = node_class.spec
    assert (spec.id, spec.category, spec.name) == ("http-request", "Network", "HTTP Request")
    assert [(p.name, p.type.value, p.required) for p in spec.ports.inputs] == [
        ("trigger", "signal", True),
        ("body", "object", False),
    ]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("response", "object"),
        ("error", "error_packet"),
    ]
    execution = spec.execution
    assert (execution.timeout_ms, execution.retry, execution.recoverable) == (30000, 3, True)
    assert node_class("req", {"url": "http://127.0.0.1/x"}).settings == {
        "url": "http://127.0.0.1/x",
        "method": "GET",
        "headers": {},
        "responseType": "json",
        "timeoutMs": 10000,
    }


async def test_get_json(net_registry: NodeRegistry, http_server: HttpServer) -> None:
    result = await run(net_registry, {"url": http_server.url("/json")})
    assert result.ok
    [response] = result.outputs["sink.out"]
    assert essentials(response) == {
        "status": 200,
        "body": {"hello": "world", "items": [1, 2]},
        "url": http_server.url("/json"),
    }
    assert response["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert http_server.calls["/json"] == 1


@pytest.mark.parametrize(
    ("path", "response_type", "body"),
    [
        ("/text", "json", "plain text, ünïcode ✓"),  # not JSON: the text
        ("/text", "text", "plain text, ünïcode ✓"),
        ("/json", "text", '{"hello": "world", "items": [1, 2]}'),
        ("/bytes", "bytes", base64.b64encode(b"\x00\x01\xfe\xff").decode()),
        ("/json", "bytes", base64.b64encode(b'{"hello": "world", "items": [1, 2]}').decode()),
    ],
)
async def test_response_types(
    net_registry: NodeRegistry,
    http_server: HttpServer,
    path: str,
    response_type: str,
    body: str,
) -> None:
    settings = {"url": http_server.url(path), "responseType": response_type}
    result = await run(net_registry, settings)
    [response] = result.outputs["sink.out"]
    assert essentials(response) == {"status": 200, "body": body, "url": http_server.url(path)}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_the_body_port_is_sent_as_json(
    net_registry: NodeRegistry, http_server: HttpServer, method: str
) -> None:
    settings = {"url": http_server.url("/echo"), "method": method, "headers": {"X-Test": "yes"}}
    result = await run(net_registry, settings, value={"a": 1, "b": [True, None]}, with_body=True)
    assert [r["body"] for r in result.outputs["sink.out"]] == [
        {"method": method, "json": {"a": 1, "b": [True, None]}, "header": "yes"}
    ]


async def test_get_sends_no_body(net_registry: NodeRegistry, http_server: HttpServer) -> None:
    result = await run(net_registry, {"url": http_server.url("/echo")}, value={"a": 1})
    assert [r["body"] for r in result.outputs["sink.out"]] == [
        {"method": "GET", "json": None, "header": None}
    ]


async def test_each_trigger_sends_one_request(
    net_registry: NodeRegistry, http_server: HttpServer
) -> None:
    graph = request_graph(net_registry, {"url": http_server.url("/counter")})
    graph.update_node("src", settings={"value": None, "count": 3})
    result = await GraphRuntime(graph, net_registry).run_async()
    assert [r["body"] for r in result.outputs["sink.out"]] == [{"n": 1}, {"n": 2}, {"n": 3}]
    received = result.frame("req.trigger")
    sent = result.frame("req.response")
    assert list(sent["trace_id"]) == list(received["trace_id"])  # each answer keeps its trace


async def test_a_500_is_retried_until_it_succeeds(
    net_registry: NodeRegistry, http_server: HttpServer
) -> None:
    rt = GraphRuntime(request_graph(net_registry, {"url": http_server.url("/flaky/2")}))
    result = await rt.run_async()
    assert result.ok
    assert [r["body"] for r in result.outputs["sink.out"]] == [{"ok": True, "calls": 3}]
    assert http_server.calls["/flaky/2"] == 3
    assert result.stats.node("req").retries == 2
    assert "errs.out" not in result.outputs


async def test_a_server_error_that_persists_goes_to_error(
    net_registry: NodeRegistry, http_server: HttpServer
) -> None:
    result = await run(net_registry, {"url": http_server.url("/status/503")})
    assert "sink.out" not in result.outputs
    [error] = result.outputs["errs.out"]
    assert isinstance(error, ErrorPacket)
    url = http_server.url("/status/503")
    assert (error.code, error.message, error.recoverable, error.attempt) == (
        ErrorCode.IO_ERROR,
        f"GET {url} answered HTTP 503",
        True,
        4,
    )
    assert error.details["status"] == 503
    assert error.details["response"]["body"] == {"error": "status 503"}
    assert http_server.calls["/status/503"] == 4  # the first attempt and 3 retries


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_a_client_error_is_not_retried(
    net_registry: NodeRegistry, http_server: HttpServer, status: int
) -> None:
    path = f"/status/{status}"
    result = await run(net_registry, {"url": http_server.url(path)})
    [error] = result.outputs["errs.out"]
    assert (error.code, error.recoverable, error.attempt) == (ErrorCode.IO_ERROR, False, 1)
    assert error.message == f"GET {http_server.url(path)} answered HTTP {status} (not retried)"
    assert error.details["status"] == status
    assert essentials(error.details["response"]) == {
        "status": status,
        "body": {"error": f"status {status}"},
        "url": http_server.url(path),
    }
    assert http_server.calls[path] == 1


async def test_429_is_retried(net_registry: NodeRegistry, http_server: HttpServer) -> None:
    result = await run(net_registry, {"url": http_server.url("/status/429")})
    [error] = result.outputs["errs.out"]
    assert (error.recoverable, error.attempt) == (True, 4)
    assert http_server.calls["/status/429"] == 4


async def test_a_slow_server_times_out(net_registry: NodeRegistry, http_server: HttpServer) -> None:
    url = http_server.url("/slow?ms=2000")
    result = await run(net_registry, {"url": url, "timeoutMs": 100})
    [error] = result.outputs["errs.out"]
    assert (error.code, error.message, error.attempt) == (
        ErrorCode.TIMEOUT,
        f"GET {url}: no answer within 100 ms",
        4,
    )
    assert http_server.calls["/slow"] == 4


async def test_a_refused_connection_is_an_io_error(
    net_registry: NodeRegistry, free_port: int
) -> None:
    url = f"http://127.0.0.1:{free_port}/nothing"
    result = await run(net_registry, {"url": url}, catch_errors=False)
    assert "sink.out" not in result.outputs
    [letter] = result.errors
    assert (letter.code, letter.recoverable, letter.attempt) == (ErrorCode.IO_ERROR, True, 4)
    assert letter.message.startswith(f"GET {url} failed: ClientConnectorError")
    assert result.stats.node("req").dead_lettered == 1  # no error edge: the dead-letter queue


async def test_a_body_that_is_not_json_is_refused(
    net_registry: NodeRegistry, http_server: HttpServer
) -> None:
    node = net_registry.get("http-request", "1.0.0").load()(
        "req", {"url": http_server.url("/echo"), "method": "POST"}
    )
    await node.setup()
    try:
        inputs = {"trigger": DataPacket(None), "body": DataPacket({"x": float("nan")})}
        error = await node.process(inputs, None)  # type: ignore[attr-defined]
    finally:
        await node.teardown()
    assert isinstance(error, ErrorPacket)
    assert (error.code, error.recoverable) == (ErrorCode.VALIDATION, False)
    assert error.message.startswith("node 'req' port 'body' expects a JSON value")
    assert http_server.calls["/echo"] == 0


async def test_process_before_setup_says_what_to_do(net_registry: NodeRegistry) -> None:
    node = net_registry.get("http-request", "1.0.0").load()("req", {"url": "http://127.0.0.1/"})
    with pytest.raises(RuntimeError, match=r"has no HTTP session: the runtime calls setup\(\)"):
        await node.process({"trigger": DataPacket(None)}, None)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "ftp://example.org/x"}, "setting 'url' expects an http:// or https:// URL"),
        ({"url": "example.org"}, "setting 'url' expects an http:// or https:// URL"),
        ({"url": "http://x/", "headers": {"X": 1}}, "setting 'headers' expects an object"),
        ({"url": "http://x/", "headers": ["X"]}, "setting 'headers' expects an object"),
    ],
)
def test_invalid_settings_are_refused(
    net_registry: NodeRegistry, settings: dict[str, Any], message: str
) -> None:
    node_class = net_registry.get("http-request", "1.0.0").load()
    with pytest.raises(ValueError, match=message):
        node_class("req", settings)


def test_the_url_is_required(net_registry: NodeRegistry) -> None:
    node_class = net_registry.get("http-request", "1.0.0").load()
    with pytest.raises(ValueError, match="setting 'url' is required"):
        node_class("req", {})


async def test_an_answer_larger_than_the_cap_is_refused(http_server: Any) -> None:
    import aiohttp

    from dataflow_jupyter.nodekit.web import fetch

    async with aiohttp.ClientSession() as session:
        answer = await fetch(
            session, "GET", http_server.url("/text"), headers={}, data=None,
            response_type="text", timeout_ms=5000, node_id="n", recoverable=True,
            max_body_bytes=5,
        )  # fmt: skip
        whole = await fetch(
            session, "GET", http_server.url("/text"), headers={}, data=None,
            response_type="text", timeout_ms=5000, node_id="n", recoverable=True,
        )  # fmt: skip
    assert isinstance(answer, ErrorPacket)
    assert answer.code is ErrorCode.IO_ERROR
    assert not answer.recoverable
    assert "larger than 5 bytes" in answer.message
    assert whole["body"] == http_server.TEXT
