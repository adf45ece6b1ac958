"""An inline Mapper evaluating a worst-case expression cannot stall the event loop (issue 10).

A real webhook listener serves on 127.0.0.1 while a mapper (``offload: none``: it runs on
the loop) evaluates, per request, an expression that uses up its whole budget. A ticker task
measures the largest gap between its wake-ups. Before the CPU budget, the issue's
``max(range(4*10**4), key=[*range(4*10**4)].count)`` held the loop for 11 s and the
webhook's next request timed out.

The issue asks for about 100 ms; this machine is shared and noisy, so the assertion allows
250 ms and the measured figure is printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import aiohttp
import pytest

from dataflow_jupyter import Graph, GraphRuntime, NodeRegistry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_leaked_tasks")]

CEILING_S = 0.25
WORST_CASES = [
    "len({*range(499_000)})",  # accepted: just under both budgets, ~50 ms of set building
    "max(range(24_000), key=str)",  # accepted: key= calls up to the steps budget
    "len(dict(enumerate(range(10**6))))",  # stopped by the budget
    "str(value['body']) == str(value['body'][::-1])",  # data from the request, compared
]


@pytest.fixture
def registry() -> NodeRegistry:
    return NodeRegistry(
        paths=[],
        include_builtin=True,
        include_env=False,
        include_cwd=False,
        include_entry_points=False,
    )


class Ticker:
    """Wakes every 5 ms and keeps the largest lateness seen: how long the loop was held."""

    def __init__(self) -> None:
        self.largest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.largest = max(self.largest, time.perf_counter() - before - 0.005)

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.mark.parametrize("expression", WORST_CASES)
async def test_an_inline_mapper_does_not_stall_a_serving_webhook(
    registry: NodeRegistry, free_port: int, client: aiohttp.ClientSession, expression: str
) -> None:
    graph = Graph(id="gap", registry=registry)
    graph.add_node("webhook-listener", settings={"port": free_port}, id="hook")
    graph.add_node("mapper", settings={"expression": expression}, id="map")
    graph.add_node("debug-log", id="sink")
    graph.add_node("debug-log", id="errors")
    graph.connect("hook.out", "map.in")
    graph.connect("map.out", "sink.in")
    graph.connect("map.error", "errors.in")
    rt = GraphRuntime(graph, registry)
    await rt.start()
    url = f"http://127.0.0.1:{free_port}/webhook"
    statuses = []
    try:
        for _ in range(200):  # wait until it serves
            try:
                async with client.get(url) as answer:
                    assert answer.status == 405
                    break
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.01)
        async with Ticker() as ticker:
            for n in range(4):
                async with client.post(url, json=list(range(n * 30_000))) as answer:
                    statuses.append(answer.status)
            await asyncio.sleep(0.3)  # the mapper's firings end while the ticker runs
    finally:
        result = await rt.stop()
    assert statuses == [202] * 4
    assert result is not None
    handled = len(result.outputs.get("sink.out", [])) + len(result.outputs.get("errors.out", []))
    assert handled == 4
    print(f"\nlargest event-loop gap with {expression!r}: {ticker.largest * 1000:.0f} ms")
    assert ticker.largest < CEILING_S, (
        f"{expression!r} held the event loop for {ticker.largest * 1000:.0f} ms"
    )


def test_the_issue_expression_is_refused_when_the_graph_is_validated(
    registry: NodeRegistry, free_port: int
) -> None:
    """The 11 s stall of the issue never reaches the loop: validation refuses it."""
    text = "max(range(4*10**4), key=[*range(4*10**4)].count)"
    graph = Graph(id="gap", registry=registry)
    graph.add_node("webhook-listener", settings={"port": free_port}, id="hook")
    graph.add_node("mapper", settings={"expression": text}, id="map")
    graph.connect("hook.out", "map.in")
    (problem,) = graph.problems(registry)
    assert problem.startswith("node 'map' (mapper 1.0.0): expression 'max(range(4*10**4)")
    assert "uses method 'count' without calling it" in problem
