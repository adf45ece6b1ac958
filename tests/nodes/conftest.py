"""Fixtures of the Network node tests: a real aiohttp server on 127.0.0.1 and sink nodes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from aiohttp import web

from dataflow_jupyter import NodeRegistry, NodeSpec, PureNode
from dataflow_jupyter.registry import builtin_nodes_path

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from pathlib import Path

    from dataflow_jupyter import DataPacket, NodeContext


class HttpServer:
    """A test HTTP server; ``calls`` counts requests per path.

    ``/json``, ``/text``, ``/bytes``: fixed bodies. ``/echo``: the method, JSON body and
    ``X-Test`` header it got. ``/flaky/{n}``: 500 for the first ``n`` calls, then 200.
    ``/status/{code}``: that status. ``/slow?ms=``: answers after a pause. ``/counter``:
    ``{"n": calls}``. ``/steps``: ``{"v": (calls - 1) // 3}`` (each value three times).
    ``/poll-flaky``: like ``/counter`` but the second call answers 500.
    """

    JSON: ClassVar[dict[str, Any]] = {"hello": "world", "items": [1, 2]}
    TEXT: ClassVar[str] = "plain text, ünïcode ✓"
    BYTES: ClassVar[bytes] = b"\x00\x01\xfe\xff"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.closing = asyncio.Event()
        self.base = ""
        self.app = web.Application()
        self.app.middlewares.append(self._count)
        add = self.app.router.add_route
        add("GET", "/json", self._fixed)
        add("GET", "/text", self._fixed)
        add("GET", "/bytes", self._fixed)
        add("*", "/echo", self._echo)
        add("GET", "/flaky/{n}", self._flaky)
        add("GET", "/status/{code}", self._status)
        add("GET", "/slow", self._slow)
        add("GET", "/counter", self._counter)
        add("GET", "/steps", self._counter)
        add("GET", "/poll-flaky", self._counter)

    def url(self, path: str) -> str:
        return self.base + path

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls[request.path] += 1
        response: web.StreamResponse = await handler(request)
        return response

    async def _fixed(self, request: web.Request) -> web.Response:
        if request.path == "/json":
            return web.json_response(self.JSON)
        if request.path == "/text":
            return web.Response(text=self.TEXT)
        return web.Response(body=self.BYTES)

    async def _counter(self, request: web.Request) -> web.Response:
        calls = self.calls[request.path]
        if request.path == "/steps":
            return web.json_response({"v": (calls - 1) // 3})
        if request.path == "/poll-flaky" and calls == 2:
            return web.Response(status=500, text="down")
        return web.json_response({"n": calls})

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        echo = {"method": request.method, "json": body, "header": request.headers.get("X-Test")}
        return web.json_response(echo)

    async def _flaky(self, request: web.Request) -> web.Response:
        calls = self.calls[request.path]
        if calls <= int(request.match_info["n"]):
            return web.Response(status=500, text="try again")
        return web.json_response({"ok": True, "calls": calls})

    async def _status(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.json_response({"error": f"status {code}"}, status=code)

    async def _slow(self, request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):  # the fixture sets `closing` when it stops
            await asyncio.wait_for(self.closing.wait(), int(request.query["ms"]) / 1000)
        return web.json_response({"slow": True})


@pytest.fixture
async def http_server() -> AsyncIterator[HttpServer]:
    """A real HTTP server on 127.0.0.1 and a free port, stopped after the test."""
    server = HttpServer()
    runner = web.AppRunner(server.app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.base = f"http://{host}:{port}"
    yield server
    server.closing.set()
    await runner.cleanup()


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Collect(PureNode):
    """A sink: passes each value to ``out`` (unconnected, so the run result keeps it),
    after sleeping ``delayMs`` and waiting for ``gate`` (when a test sets one)."""

    gate: ClassVar[asyncio.Event | None] = None

    async def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        if self.settings["delayMs"]:
            await asyncio.sleep(self.settings["delayMs"] / 1000)
        if self.settings["gated"] and type(self).gate is not None:
            await type(self).gate.wait()  # type: ignore[union-attr]
        return {"out": inputs["in"].value}


_COLLECT = {
    "id": "collect",
    "version": "1.0.0",
    "category": "Test",
    "name": "Collect",
    "execution": {"offload": "none"},
    "ports": {"inputs": [{"name": "in"}], "outputs": [{"name": "out"}]},
    "settings": [
        {"name": "delayMs", "type": "number", "default": 0},
        {"name": "gated", "type": "boolean", "default": False},
    ],
}


@pytest.fixture
def net_registry() -> NodeRegistry:
    """The built-in Network and Input nodes plus the ``collect`` sink (only these folders:
    the other categories are not these tests' business)."""
    root = builtin_nodes_path()
    registry = NodeRegistry(paths=[root / "Network", root / "Input"], include_builtin=False)
    assert registry.problems == []
    registry.register(NodeSpec.model_validate(_COLLECT), Collect)
    return registry


@pytest.fixture
def gate() -> Iterator[asyncio.Event]:
    """Holds every ``collect`` node set ``gated`` until the test sets the event."""
    Collect.gate = asyncio.Event()
    yield Collect.gate
    Collect.gate = None


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test when a task it started (a source, a server handler) outlives it."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0.01)
    leaked = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
    assert leaked == []


@pytest.fixture
def until() -> Callable[[Callable[[], bool]], Awaitable[None]]:
    """``await until(lambda: ...)`` waits until the condition holds; fails after 10 s."""

    async def wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                pytest.fail(f"condition not met within {timeout} s")
            await asyncio.sleep(0.005)

    return wait


@pytest.fixture(autouse=True)
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Node tests read and write under their ``tmp_path``: it is their data root."""
    monkeypatch.setenv("DATAFLOW_DATA_ROOT", str(tmp_path))
    return tmp_path
