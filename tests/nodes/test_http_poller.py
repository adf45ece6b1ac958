"""http-poller against a real aiohttp server on 127.0.0.1 (see conftest.HttpServer)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from dataflow_jupyter import ErrorCode, ErrorPacket, Graph, GraphRuntime, IONode, SettingsError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from conftest import HttpServer

    from dataflow_jupyter import NodeRegistry

    Until = Callable[[Callable[[], bool]], Awaitable[None]]

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaked_tasks")]


def poller_graph(
    registry: NodeRegistry, settings: dict[str, Any], *, buffer: int | None = None
) -> GraphRuntime:
    """http-poller (id ``poll``) -> collect (``sink``); errors -> collect (``errs``)."""
    graph = Graph(id="poller", registry=registry)
    graph.add_node("http-poller", settings=settings, id="poll")
    graph.add_node("collect", settings={"gated": True}, id="sink")
    graph.add_node("collect", id="errs")
    graph.connect("poll.response", "sink.in", buffer=buffer)
    graph.connect("poll.error", "errs.in")
    return GraphRuntime(graph, registry)


def bodies(values: list[Any]) -> list[Any]:
    assert all(set(v) == {"status", "headers", "body", "url", "elapsedMs"} for v in values)
    return [v["body"] for v in values]


def test_the_spec(net_registry: NodeRegistry) -> None:
    node_class = net_registry.get("http-poller", "1.0.0").load()
    assert issubclass(node_class, IONode)
    assert node_class.is_source()
    spec = node_class.spec
    assert (spec.id, spec.category, spec.name) == ("http-poller", "Network", "HTTP Poller")
    assert spec.ports.inputs == []
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("response", "object"),
        ("error", "error_packet"),
    ]
    assert node_class("poll", {"url": "http://127.0.0.1/x"}).settings == {
        "url": "http://127.0.0.1/x",
        "intervalMs": 1000,
        "headers": {},
        "responseType": "json",
        "timeoutMs": 10000,
        "emitOnChangeOnly": False,
    }


async def test_every_answer_goes_out_in_order(
    net_registry: NodeRegistry, http_server: HttpServer, until: Until
) -> None:
    rt = poller_graph(net_registry, {"url": http_server.url("/counter"), "intervalMs": 5})
    await rt.start()
    await until(lambda: rt.stats.node("sink").received >= 5)
    result = await rt.stop()
    assert result is not None
    assert result.ok
    out = bodies(result.outputs["sink.out"])
    assert out == [{"n": n} for n in range(1, len(out) + 1)]
    assert len(out) >= 5
    traces = result.frame("poll.response")["trace_id"]
    assert traces.is_unique  # each answer starts a trace
    calls = http_server.calls["/counter"]
    assert calls in (len(out), len(out) + 1)  # + the poll cut short by stop()
    await asyncio.sleep(0.05)
    assert http_server.calls["/counter"] == calls  # stopped: no more polls


async def test_emit_on_change_only(
    net_registry: NodeRegistry, http_server: HttpServer, until: Until
) -> None:
    settings = {"url": http_server.url("/steps"), "intervalMs": 2, "emitOnChangeOnly": True}
    rt = poller_graph(net_registry, settings)
    await rt.start()
    await until(lambda: rt.stats.node("sink").received >= 4)
    result = await rt.stop()
    assert result is not None
    out = bodies(result.outputs["sink.out"])
    assert out == [{"v": v} for v in range(len(out))]  # each body once: /steps repeats it 3 x
    assert http_server.calls["/steps"] >= 3 * (len(out) - 1) + 1


async def test_without_on_change_repeated_bodies_go_out(
    net_registry: NodeRegistry, http_server: HttpServer, until: Until
) -> None:
    rt = poller_graph(net_registry, {"url": http_server.url("/steps"), "intervalMs": 2})
    await rt.start()
    await until(lambda: rt.stats.node("sink").received >= 7)
    result = await rt.stop()
    assert result is not None
    assert bodies(result.outputs["sink.out"])[:7] == [{"v": v} for v in (0, 0, 0, 1, 1, 1, 2)]


async def test_a_failed_poll_goes_to_error_and_polling_goes_on(
    net_registry: NodeRegistry, http_server: HttpServer, until: Until
) -> None:
    url = http_server.url("/poll-flaky")  # the second call answers 500
    rt = poller_graph(net_registry, {"url": url, "intervalMs": 5})
    await rt.start()
    await until(lambda: rt.stats.node("sink").received >= 3)
    result = await rt.stop()
    assert result is not None
    out = bodies(result.outputs["sink.out"])
    assert out == [{"n": 1}] + [{"n": n} for n in range(3, len(out) + 2)]
    [error] = result.outputs["errs.out"]
    assert isinstance(error, ErrorPacket)
    assert (error.code, error.message, error.node_id) == (
        ErrorCode.IO_ERROR,
        f"GET {url} answered HTTP 500",
        "poll",
    )
    assert error.details["status"] == 500
    assert error.details["response"]["body"] == "down"
    assert result.stats.node("poll").dead_lettered == 0  # a failed poll is an emission


async def test_a_refused_connection_is_reported_each_poll(
    net_registry: NodeRegistry, free_port: int, until: Until
) -> None:
    url = f"http://127.0.0.1:{free_port}/"
    rt = poller_graph(net_registry, {"url": url, "intervalMs": 5})
    await rt.start()
    await until(lambda: rt.stats.node("errs").received >= 2)
    result = await rt.stop()
    assert result is not None
    assert "sink.out" not in result.outputs
    errors = result.outputs["errs.out"]
    assert {(e.code, e.recoverable) for e in errors} == {(ErrorCode.IO_ERROR, True)}
    assert errors[0].message.startswith(f"GET {url} failed: ClientConnectorError")


async def test_slows_down_under_backpressure_and_loses_nothing(
    net_registry: NodeRegistry, http_server: HttpServer, gate: asyncio.Event, until: Until
) -> None:
    rt = poller_graph(net_registry, {"url": http_server.url("/counter"), "intervalMs": 5}, buffer=1)
    await rt.start()
    await until(lambda: http_server.calls["/counter"] >= 3)
    await asyncio.sleep(0.3)  # 60 intervals, but the sink holds one answer and the edge one more
    assert http_server.calls["/counter"] == 3  # the third waits in the emit: no fourth poll
    assert rt.stats.edge("e1").queued == 1
    gate.set()
    await until(lambda: rt.stats.node("sink").received >= 8)
    result = await rt.stop()
    assert result is not None
    out = bodies(result.outputs["sink.out"])
    assert out == [{"n": n} for n in range(1, len(out) + 1)]  # every poll arrived, in order
    assert result.stats.edge("e1").peak == 1


async def test_polls_every_interval(
    net_registry: NodeRegistry, http_server: HttpServer, until: Until
) -> None:
    rt = poller_graph(net_registry, {"url": http_server.url("/counter"), "intervalMs": 100})
    await rt.start()
    await until(lambda: http_server.calls["/counter"] >= 1)
    await asyncio.sleep(0.45)  # polls at 0, 100, 200, 300 and 400 ms
    calls = http_server.calls["/counter"]
    await rt.stop()
    assert 3 <= calls <= 6


async def test_stop_aborts_a_poll_in_flight(
    net_registry: NodeRegistry, http_server: HttpServer, until: Until
) -> None:
    rt = poller_graph(net_registry, {"url": http_server.url("/slow?ms=5000"), "intervalMs": 5})
    await rt.start()
    await until(lambda: http_server.calls["/slow"] == 1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await rt.stop()
    assert loop.time() - started < 1
    assert result is not None
    assert result.ok
    assert "sink.out" not in result.outputs
    assert not rt.running


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "http://x/", "intervalMs": 0}, "setting 'intervalMs': must be at least 1"),
        ({"url": "http://x/", "emitOnChangeOnly": "yes"}, "'emitOnChangeOnly': expects true"),
        ({"url": "http://x/", "responseType": "xml"}, "'responseType': expects one of"),
        ({}, "setting 'url' is required"),
    ],
)
def test_invalid_settings_are_refused(
    net_registry: NodeRegistry, settings: dict[str, Any], message: str
) -> None:
    node_class = net_registry.get("http-poller", "1.0.0").load()
    with pytest.raises(SettingsError, match=message):
        node_class("poll", settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"url": "file:///etc/passwd"}, "setting 'url' expects an http:// or https:// URL"),
        ({"url": "http://x/", "headers": {"X": None}}, "setting 'headers' expects an object"),
    ],
)
def test_bad_url_or_headers_are_refused(
    net_registry: NodeRegistry, settings: dict[str, Any], message: str
) -> None:
    node_class = net_registry.get("http-poller", "1.0.0").load()
    with pytest.raises(ValueError, match=message):
        node_class("poll", settings)
