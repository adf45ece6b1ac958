"""webhook-listener: a real server on 127.0.0.1, real HTTP clients, a graph to a sink."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from dataflow_jupyter import Graph, GraphRuntime, IONode, SettingsError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from dataflow_jupyter import NodeRegistry, RunResult

    Until = Callable[[Callable[[], bool]], Awaitable[None]]

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaked_tasks")]

FIELDS = {"body", "headers", "method", "path", "query", "receivedAt"}


class Hook:
    """A running graph ``hook`` (webhook-listener) -> ``sink`` (collect), and an HTTP client."""

    def __init__(self, rt: GraphRuntime, url: str, client: aiohttp.ClientSession) -> None:
        self.rt = rt
        self.url = url
        self.client = client

    async def send(
        self, method: str = "POST", path: str = "/webhook", **kw: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Send a request; return status, headers and the JSON answer."""
        base = self.url[: self.url.index("/", len("http://"))]
        async with self.client.request(method, base + path, **kw) as answer:
            return answer.status, dict(answer.headers), await answer.json()

    async def ready(self) -> None:
        """Wait until the server answers (``rt.start()`` returns before nodes are set up).

        The probe is a GET, which the listener refuses (405) before looking at anything else.
        """
        for _ in range(1000):
            try:
                async with self.client.get(self.url) as answer:
                    assert answer.status == 405
                    return
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.005)
        pytest.fail(f"the webhook listener did not come up at {self.url}")

    async def stop(self) -> RunResult:
        result = await self.rt.stop()
        assert result is not None
        return result


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
async def start_hook(
    net_registry: NodeRegistry, free_port: int, client: aiohttp.ClientSession
) -> AsyncIterator[Callable[..., Awaitable[Hook]]]:
    """``await start_hook(**settings)``: deploy the graph and return a ``Hook``; a graph a
    failed test left running is stopped."""
    runtimes: list[GraphRuntime] = []

    async def start(*, buffer: int | None = None, gated: bool = False, **settings: Any) -> Hook:
        graph = Graph(id="webhook", registry=net_registry)
        graph.add_node("webhook-listener", settings={"port": free_port, **settings}, id="hook")
        graph.add_node("collect", settings={"gated": gated}, id="sink")
        graph.connect("hook.out", "sink.in", buffer=buffer)
        rt = GraphRuntime(graph, net_registry)
        await rt.start()
        runtimes.append(rt)
        hook = Hook(rt, f"http://127.0.0.1:{free_port}{settings.get('path', '/webhook')}", client)
        await hook.ready()
        return hook

    yield start
    for rt in runtimes:
        if rt.running:
            await rt.stop(drain=False)


def test_the_spec(net_registry: NodeRegistry) -> None:
    node_class = net_registry.get("webhook-listener", "1.0.0").load()
    assert issubclass(node_class, IONode)
    assert node_class.is_source()
    spec = node_class.spec
    assert (spec.id, spec.category, spec.name) == (
        "webhook-listener",
        "Network",
        "Webhook Listener",
    )
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [("out", "object")]
    assert node_class("hook").settings == {
        "host": "127.0.0.1",
        "port": 0,
        "path": "/webhook",
        "methods": ["POST"],
        "token": "",
        "maxBodyBytes": 1048576,
        "fullTimeoutMs": 1000,
        "retryAfterS": 1,
        "readTimeoutMs": 10000,
        "headerTimeoutMs": 10000,
        "maxConnections": 256,
    }


async def test_a_json_request_becomes_a_packet(start_hook: Any) -> None:
    hook = await start_hook()
    status, _, answer = await hook.send(
        path="/webhook?a=1&b=2&b=3", json={"event": "push", "n": [1, 2]}, headers={"X-Ev": "e"}
    )
    result = await hook.stop()
    assert status == 202
    [value] = result.outputs["sink.out"]
    assert set(value) == FIELDS
    assert value["body"] == {"event": "push", "n": [1, 2]}
    assert (value["method"], value["path"]) == ("POST", "/webhook")
    assert value["query"] == {"a": "1", "b": ["2", "3"]}
    assert value["headers"]["X-Ev"] == "e"
    assert value["headers"]["Content-Type"] == "application/json"
    assert datetime.fromisoformat(value["receivedAt"]).utcoffset() is not None
    [sent] = result.frame("hook.out").to_dict("records")
    assert answer == {
        "status": "accepted",
        "packetId": sent["packet_id"],
        "traceId": sent["trace_id"],
    }
    assert list(result.frame("sink.in")["trace_id"]) == [answer["traceId"]]


@pytest.mark.parametrize(
    ("data", "headers", "body"),
    [
        ("hello ✓".encode(), {"Content-Type": "text/plain"}, "hello ✓"),
        ("café".encode("latin-1"), {"Content-Type": "text/plain; charset=latin-1"}, "café"),
        (b"{not json", {"Content-Type": "text/plain"}, "{not json"),  # not JSON: just text
        (b"", {"Content-Type": "application/json"}, None),
        (b'{"a": 1}', {"Content-Type": "application/vnd.api+json"}, {"a": 1}),
    ],
)
async def test_bodies(start_hook: Any, data: bytes, headers: dict[str, str], body: Any) -> None:
    hook = await start_hook()
    status, _, _ = await hook.send(data=data, headers=headers)
    result = await hook.stop()
    assert status == 202
    assert [v["body"] for v in result.outputs["sink.out"]] == [body]


async def test_token(start_hook: Any) -> None:
    hook = await start_hook(token="s3cret")
    attempts = [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Basic s3cret"}, 401),
        ({"X-Webhook-Token": "s3cre"}, 401),
        ({"Authorization": "Bearer s3cret"}, 202),
        ({"X-Webhook-Token": "s3cret"}, 202),
    ]
    answers = []
    for number, (headers, _) in enumerate(attempts):
        status, answer_headers, answer = await hook.send(json={"n": number}, headers=headers)
        answers.append(status)
        if status == 401:
            assert answer_headers["WWW-Authenticate"] == "Bearer"
            assert answer == {
                "error": "missing or wrong token: send 'Authorization: Bearer <token>'"
            }
    result = await hook.stop()
    assert answers == [expected for _, expected in attempts]
    values = result.outputs["sink.out"]
    assert [v["body"] for v in values] == [{"n": 4}, {"n": 5}]
    for value in values:  # the secret never travels on
        assert not {"authorization", "x-webhook-token"} & {h.lower() for h in value["headers"]}


async def test_an_oversized_body_is_413(start_hook: Any) -> None:
    hook = await start_hook(maxBodyBytes=100)

    async def chunked(size: int) -> AsyncIterator[bytes]:  # no Content-Length: counted as read
        for _ in range(size // 10):
            yield b"x" * 10

    statuses = [
        (await hook.send(data=b"x" * 101, headers={"Content-Type": "text/plain"}))[0],
        (await hook.send(data=chunked(200), headers={"Content-Type": "text/plain"}))[0],
        (await hook.send(data=b"y" * 100, headers={"Content-Type": "text/plain"}))[0],
        (await hook.send(data=chunked(100), headers={"Content-Type": "text/plain"}))[0],
    ]
    result = await hook.stop()
    assert statuses == [413, 413, 202, 202]
    assert [v["body"] for v in result.outputs["sink.out"]] == ["y" * 100, "x" * 100]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"a": NaN}', "application/json"),
        (b"[1, 2", "application/problem+json"),
        ('{"a": "é"}'.encode("latin-1"), "application/json"),  # not UTF-8
    ],
)
async def test_malformed_json_is_400(start_hook: Any, data: bytes, content_type: str) -> None:
    hook = await start_hook()
    status, _, answer = await hook.send(data=data, headers={"Content-Type": content_type})
    result = await hook.stop()
    assert status == 400
    assert answer["error"].startswith("the body is not valid JSON: ")
    assert "sink.out" not in result.outputs


async def test_another_method_is_405(start_hook: Any) -> None:
    hook = await start_hook(methods=["POST", "put"])
    get = await hook.send("GET")
    delete = await hook.send("DELETE")
    put = await hook.send("PUT", json={"via": "put"})
    result = await hook.stop()
    assert (get[0], get[1]["Allow"]) == (405, "POST, PUT")
    assert get[2] == {"error": "method GET is not accepted here; use POST, PUT"}
    assert delete[0] == 405
    assert put[0] == 202
    assert [(v["method"], v["body"]) for v in result.outputs["sink.out"]] == [
        ("PUT", {"via": "put"})
    ]


async def test_another_path_is_404(start_hook: Any, client: aiohttp.ClientSession) -> None:
    hook = await start_hook(path="/hooks/github")
    base = hook.url.removesuffix("/hooks/github")
    async with client.post(base + "/webhook", json={}) as wrong:
        wrong_status = wrong.status
    async with client.post(base + "/hooks/github", json={"ok": 1}) as right:
        right_status = right.status
    result = await hook.stop()
    assert (wrong_status, right_status) == (404, 202)
    assert [v["path"] for v in result.outputs["sink.out"]] == ["/hooks/github"]


async def test_a_full_output_answers_503_and_queues_nothing(
    start_hook: Any, gate: asyncio.Event, until: Until
) -> None:
    hook = await start_hook(buffer=1, gated=True, fullTimeoutMs=100, retryAfterS=7)
    first = await hook.send(json={"id": 1})
    await until(lambda: hook.rt.stats.node("sink").received == 1)  # held by the gate
    second = await hook.send(json={"id": 2})  # fills the edge
    third = await hook.send(json={"id": 3})  # waits 100 ms for room, then gives up
    assert [first[0], second[0], third[0]] == [202, 202, 503]
    assert third[1]["Retry-After"] == "7"
    assert third[2] == {"error": "the output stayed full for 100 ms"}
    gate.set()
    result = await hook.stop()
    assert [v["body"] for v in result.outputs["sink.out"]] == [{"id": 1}, {"id": 2}]
    assert result.stats.edge("e1").delivered == 2


async def test_a_503_is_not_counted_as_emitted(
    start_hook: Any, gate: asyncio.Event, until: Until
) -> None:
    hook = await start_hook(buffer=1, gated=True, fullTimeoutMs=50)
    assert (await hook.send(json={"id": 1}))[0] == 202
    await until(lambda: hook.rt.stats.node("sink").received == 1)
    assert (await hook.send(json={"id": 2}))[0] == 202
    assert (await hook.send(json={"id": 3}))[0] == 503
    gate.set()
    result = await hook.stop()
    assert result.stats.edge("e1").delivered == 2
    assert len(result.frame("hook.out")) == 2
    assert result.stats.node("hook").emitted == 2


async def test_a_waiting_request_is_answered_when_the_graph_stops(
    start_hook: Any, gate: asyncio.Event, until: Until
) -> None:
    hook = await start_hook(buffer=1, gated=True, fullTimeoutMs=60_000)
    assert (await hook.send(json={"id": 1}))[0] == 202
    await until(lambda: hook.rt.stats.node("sink").received == 1)
    assert (await hook.send(json={"id": 2}))[0] == 202
    waiting = asyncio.create_task(hook.send(json={"id": 3}))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await hook.rt.stop(drain=False)
    status, headers, _ = await waiting
    assert loop.time() - started < 2
    assert (status, headers["Retry-After"]) == (503, "1")


async def test_503_before_the_graph_runs_and_port_0(
    net_registry: NodeRegistry, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dataflow_jupyter.nodes")
    node = net_registry.get("webhook-listener", "1.0.0").load()("hook")
    await node.setup()
    try:
        assert isinstance(node.port, int)
        assert node.port > 0
        assert node.url == f"http://127.0.0.1:{node.port}/webhook"
        assert f"listening on {node.url}" in caplog.text
        async with client.post(node.url, json={}) as answer:
            assert (answer.status, answer.headers["Retry-After"]) == (503, "1")
            assert await answer.json() == {"error": "the graph is not running"}
    finally:
        url = node.url
        await node.teardown()
    assert node.port is None
    async with aiohttp.ClientSession() as fresh:  # no kept-alive connection: a new one
        with pytest.raises(aiohttp.ClientConnectorError):
            await fresh.post(url, json={})


async def test_a_slow_body_is_408(start_hook: Any) -> None:
    hook = await start_hook(readTimeoutMs=100)

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"a":'
        await asyncio.sleep(1)
        yield b" 1}"

    try:
        status = (await hook.send(data=trickle(), headers={"Content-Type": "application/json"}))[0]
    except aiohttp.ClientError:  # the server may close while the client still sends
        status = None
    result = await hook.stop()
    assert status in (408, None)
    assert "sink.out" not in result.outputs


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"path": "webhook"}, ValueError, "setting 'path' must start with '/'"),
        ({"methods": []}, ValueError, "setting 'methods' expects a non-empty list"),
        ({"methods": ["FETCH"]}, ValueError, "setting 'methods' expects a non-empty list"),
        ({"methods": "POST"}, ValueError, "setting 'methods' expects a non-empty list"),
        ({"host": ""}, ValueError, "setting 'host' is empty"),
        ({"port": 70000}, SettingsError, "setting 'port': must be at most 65535"),
        ({"maxBodyBytes": -1}, SettingsError, "setting 'maxBodyBytes': must be at least 0"),
    ],
)
def test_invalid_settings_are_refused(
    net_registry: NodeRegistry, settings: dict[str, Any], error: type[Exception], message: str
) -> None:
    node_class = net_registry.get("webhook-listener", "1.0.0").load()
    with pytest.raises(error, match=message):
        node_class("hook", settings)


async def test_a_port_in_use_fails_setup_with_the_reason(
    net_registry: NodeRegistry, free_port: int
) -> None:
    node_class = net_registry.get("webhook-listener", "1.0.0").load()
    first, second = node_class("a", {"port": free_port}), node_class("b", {"port": free_port})
    await first.setup()
    try:
        with pytest.raises(OSError, match="address already in use"):
            await second.setup()
    finally:
        await first.teardown()
