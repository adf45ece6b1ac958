"""The coroutine API the canvas uses: ``rt.wait()``, ``dbg.step_async()``, ``dbg.aclose()``."""

from __future__ import annotations

import asyncio

import pytest

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime


def chain(graph: Graph, count: int = 3, sink: str = "debug-log") -> tuple[str, str, str]:
    src = graph.add_node("numbers", settings={"count": count})
    inc = graph.add_node("add-one")
    out = graph.add_node(sink)
    graph.connect(src, "out", inc, "in")
    graph.connect(inc, "out", out, "in")
    return src, inc, out


async def test_wait_returns_the_result_of_a_started_run(
    graph: Graph, registry: NodeRegistry
) -> None:
    _, _, out = chain(graph)
    rt = GraphRuntime(graph, registry)
    assert await rt.wait() is None  # nothing started
    await rt.start()
    result = await rt.wait()
    assert result is not None
    assert result.outputs[f"{out}.out"] == [1, 2, 3]
    assert not rt.running
    await rt.aclose()


async def test_wait_returns_when_stop_ends_the_run(graph: Graph, registry: NodeRegistry) -> None:
    chain(graph, count=10_000, sink="slow-sink")
    rt = GraphRuntime(graph, registry)
    await rt.start()
    waiter = asyncio.ensure_future(rt.wait())
    await asyncio.sleep(0.02)
    assert not waiter.done()
    await rt.stop(drain=False)
    assert await waiter is None  # cancelled by stop(drain=False)
    await rt.aclose()


async def test_cancelling_a_waiter_leaves_the_run_going(
    graph: Graph, registry: NodeRegistry
) -> None:
    chain(graph, count=10_000, sink="slow-sink")
    rt = GraphRuntime(graph, registry)
    await rt.start()
    waiter = asyncio.ensure_future(rt.wait())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert rt.running
    result = await rt.stop()
    assert result is not None
    await rt.aclose()


async def test_step_async_and_aclose_on_the_running_loop(
    graph: Graph, registry: NodeRegistry
) -> None:
    src, inc, _ = chain(graph)
    rt = GraphRuntime(graph, registry)
    dbg = rt.debugger()
    first = await dbg.step_async()
    second = await dbg.step_async()
    assert first is not None
    assert second is not None
    assert (first.kind, first.node_id) == ("emit", src)
    assert (second.kind, second.node_id) == ("firing", inc)
    await dbg.aclose()
    assert dbg.done
    assert await dbg.step_async() is None
    await dbg.aclose()  # twice is fine
    await rt.aclose()


def test_step_still_works_from_synchronous_code(graph: Graph, registry: NodeRegistry) -> None:
    chain(graph, count=2)
    dbg = GraphRuntime(graph, registry).debugger()
    steps = []
    while (step := dbg.step()) is not None:
        steps.append((step.kind, step.node_id))
    assert len(steps) == 6  # 2 emissions, then add-one and debug-log fire twice each
    assert dbg.done
