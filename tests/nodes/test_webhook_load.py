"""Load: 10,000 webhook requests through a slow sink behind a size-16 edge.

Every request answered 202 must reach the sink (no loss, no duplicate), every other one
must have been answered 503, and none may hang. The counts are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from typing import TYPE_CHECKING

import aiohttp
import pytest

from dataflow_jupyter import Graph, GraphRuntime

if TYPE_CHECKING:
    from dataflow_jupyter import NodeRegistry

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaked_tasks")]

REQUESTS = 10_000
CONCURRENCY = 50
EDGE_SIZE = 16
SINK_DELAY_MS = 1
FULL_TIMEOUT_MS = 25  # short, so that the slow sink makes some requests wait too long


async def test_10_000_requests_through_a_slow_sink(
    net_registry: NodeRegistry, free_port: int
) -> None:
    graph = Graph(id="webhook-load", registry=net_registry)
    graph.add_node(
        "webhook-listener",
        settings={"port": free_port, "fullTimeoutMs": FULL_TIMEOUT_MS, "retryAfterS": 1},
        id="hook",
    )
    graph.add_node("collect", settings={"delayMs": SINK_DELAY_MS}, id="sink")
    graph.connect("hook.out", "sink.in", buffer=EDGE_SIZE)
    rt = GraphRuntime(graph, net_registry, max_outputs=REQUESTS, log=False, progress=False)
    url = f"http://127.0.0.1:{free_port}/webhook"
    statuses: dict[int, int | str] = {}  # request id -> status, or the client error
    ids = iter(range(REQUESTS))

    async def client(session: aiohttp.ClientSession) -> None:
        for request_id in ids:
            try:
                async with session.post(url, json={"id": request_id}) as answer:
                    await answer.read()
                    statuses[request_id] = answer.status
                    if answer.status == 503:
                        assert answer.headers["Retry-After"] == "1"
            except (aiohttp.ClientError, TimeoutError) as exc:  # a hang ends as a timeout
                statuses[request_id] = type(exc).__name__

    await rt.start()
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=10)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await _wait_until_listening(session, url)
        await asyncio.gather(*(client(session) for _ in range(CONCURRENCY)))
    sent_s = time.perf_counter() - started
    result = await rt.stop()
    assert result is not None

    counts = Counter(statuses.values())
    other = {status: n for status, n in counts.items() if status not in (202, 503)}
    accepted = sorted(i for i, status in statuses.items() if status == 202)
    arrived = [value["body"]["id"] for value in result.outputs["sink.out"]]
    print(
        f"\nwebhook load: {REQUESTS} requests, {CONCURRENCY} at a time, edge size {EDGE_SIZE}, "
        f"sink {SINK_DELAY_MS} ms/packet, fullTimeoutMs {FULL_TIMEOUT_MS}: "
        f"{counts[202]} answered 202, {counts[503]} answered 503, "
        f"{other or 'no other answer'}, {REQUESTS - len(statuses)} unanswered; "
        f"sent in {sent_s:.1f} s; {len(arrived)} reached the sink"
    )
    assert len(statuses) == REQUESTS  # every request got an answer: none hung
    assert set(counts) <= {202, 503}, counts
    assert counts[202] + counts[503] == REQUESTS
    assert sorted(arrived) == accepted  # every 202 reached the sink, once; no 503 did
    assert len(arrived) == len(set(arrived))
    assert result.stats.edge("e1").delivered == counts[202]
    assert result.stats.edge("e1").peak == EDGE_SIZE
    assert counts[202] > 0
    assert counts[503] > 0


async def _wait_until_listening(session: aiohttp.ClientSession, url: str) -> None:
    """``rt.start()`` returns before the nodes are set up: wait for the server (a GET is 405)."""
    for _ in itertools.repeat(None, 1000):
        try:
            async with session.get(url) as answer:
                assert answer.status == 405
                return
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.005)
    pytest.fail(f"the webhook listener did not come up at {url}")
