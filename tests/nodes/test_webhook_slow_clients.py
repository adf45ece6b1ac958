"""webhook-listener against slow and many clients: real raw sockets on 127.0.0.1.

Slowloris: a client that sends its headers a byte at a time holds a connection; enough of
them used to starve real requests. ``headerTimeoutMs`` closes them (408), ``maxConnections``
caps how many are open, and past the cap the oldest slow one makes room for a new one.
Every loop here is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest

from dataflow_jupyter import Graph, GraphRuntime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from dataflow_jupyter import NodeRegistry

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaked_tasks")]

SLOW_START = b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@pytest.fixture
async def hook(
    net_registry: NodeRegistry, free_port: int
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """``await hook(**settings)``: a running webhook-listener -> collect graph; its URL."""
    runtimes: list[GraphRuntime] = []

    async def start(**settings: Any) -> str:
        graph = Graph(id="webhook", registry=net_registry)
        graph.add_node("webhook-listener", settings={"port": free_port, **settings}, id="hook")
        graph.add_node("collect", id="sink")
        graph.connect("hook.out", "sink.in")
        rt = GraphRuntime(graph, net_registry)
        await rt.start()
        runtimes.append(rt)
        url = f"http://127.0.0.1:{free_port}/webhook"
        for _ in range(1000):  # until it listens (start() returns before setup)
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", free_port)
                writer.close()
                return url
            await asyncio.sleep(0.005)
        pytest.fail("the webhook listener did not come up")

    yield start
    for rt in runtimes:
        if rt.running:
            await rt.stop(drain=False)


class SlowClient:
    """A raw connection that sends a request's headers one byte every ``every`` seconds."""

    def __init__(self, port: int, every: float, *, max_bytes: int = 200) -> None:
        self.port, self.every, self.max_bytes = port, every, max_bytes
        self.answer = b""
        self.opened = self.closed = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.opened = loop.time()
        writer.write(SLOW_START)
        reading = asyncio.ensure_future(reader.read())  # returns at EOF: the server closed
        try:
            for _ in range(self.max_bytes):
                done, _ = await asyncio.wait({reading}, timeout=self.every)
                if done:
                    break
                with contextlib.suppress(ConnectionError):
                    writer.write(b"x")
            try:
                self.answer = await asyncio.wait_for(reading, timeout=30)
            except ConnectionResetError:
                self.answer = b"(reset before the answer was read)"
            self.closed = loop.time()
        finally:
            reading.cancel()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def post(url: str) -> int:
    timeout = aiohttp.ClientTimeout(total=20)
    async with (
        aiohttp.ClientSession(timeout=timeout) as client,
        client.post(url, json={"real": True}) as answer,
    ):
        return answer.status


async def test_slow_clients_are_closed_after_the_header_timeout_while_real_ones_are_answered(
    hook: Any, free_port: int
) -> None:
    url = await hook(headerTimeoutMs=1500)
    slow = [SlowClient(free_port, every=0.3) for _ in range(60)]
    tasks = [asyncio.ensure_future(client.run()) for client in slow]
    await asyncio.sleep(0.3)  # they are open and trickling
    assert [await post(url) for _ in range(3)] == [202, 202, 202]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    for client in slow:
        assert client.answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), client.answer
        # the bytes it kept sending did not extend its deadline; the timer never fires early
        assert client.closed - client.opened >= 1.4
    # generous: each was closed within seconds of its deadline, not held open by its bytes
    assert max(c.closed - c.opened for c in slow) < 1.5 + 15


async def test_past_the_cap_the_oldest_slow_connection_makes_room(
    hook: Any, free_port: int
) -> None:
    url = await hook(headerTimeoutMs=60_000, maxConnections=10)
    slow = [SlowClient(free_port, every=0.5) for _ in range(10)]
    tasks = [asyncio.ensure_future(client.run()) for client in slow]
    await asyncio.sleep(0.5)  # all ten slots are held by slow clients
    assert await post(url) == 202
    await asyncio.wait_for(tasks[0], timeout=30)  # the oldest one made room
    assert slow[0].answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert not any(task.done() for task in tasks[2:])
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_past_the_cap_with_every_connection_busy_a_new_one_gets_503(
    hook: Any, free_port: int
) -> None:
    """Busy: the headers are in and the handler waits for the body (readTimeoutMs)."""
    await hook(maxConnections=2, readTimeoutMs=60_000, retryAfterS=7)
    busy = []
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", free_port)
        writer.write(b"POST /webhook HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
        await writer.drain()
        busy.append((reader, writer))
    await asyncio.sleep(0.3)  # both are being handled
    reader, writer = await asyncio.open_connection("127.0.0.1", free_port)
    writer.write(b"POST /webhook HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), timeout=20)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Retry-After: 7\r\n" in answer
    for _, other in busy:  # the busy ones were left alone; finish them
        other.write(b"0123456789")
    for other_reader, other in busy:
        head = await asyncio.wait_for(other_reader.readuntil(b"\r\n"), timeout=20)
        assert head == b"HTTP/1.1 202 Accepted\r\n"
        other.close()


async def test_a_slow_second_request_on_a_kept_alive_connection_is_closed_too(
    hook: Any, free_port: int
) -> None:
    await hook(headerTimeoutMs=1500)
    reader, writer = await asyncio.open_connection("127.0.0.1", free_port)
    try:
        body = b'{"n": 1}'
        writer.write(
            b"POST /webhook HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=20)
        assert head.startswith(b"HTTP/1.1 202 Accepted\r\n")
        assert b"Connection: close" not in head  # kept alive
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        await asyncio.wait_for(reader.readexactly(length), timeout=20)
        writer.write(SLOW_START)
        loop = asyncio.get_running_loop()
        started = loop.time()
        reading = asyncio.ensure_future(reader.read())  # returns when the server closes
        for _ in range(100):  # a byte every 0.3 s, at most 30 s
            done, _ = await asyncio.wait({reading}, timeout=0.3)
            if done:
                break
            writer.write(b"x")
        assert reading.done(), "the slow second request kept the connection open"
        assert reading.result() == b""  # aiohttp closes an idle keep-alive connection silently
        assert loop.time() - started >= 1.4
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
