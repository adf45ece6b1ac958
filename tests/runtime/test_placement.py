"""Where a synchronous node's firings run: decided by measurement when ``offload`` is not
given, forced by ``offload: none|thread``; timeouts without a thread hop per firing; worker
firings in batches (see ``dataflow_jupyter.runtime._placement``)."""

from __future__ import annotations

import time
from typing import Any

from _testnodes import Numbers

from dataflow_jupyter import Graph, GraphRuntime, NodeRegistry
from dataflow_jupyter.executors import LocalExecutor
from dataflow_jupyter.node import PureNode
from dataflow_jupyter.packets import DataPacket, ErrorCode
from dataflow_jupyter.runtime._placement import GROUP_NS, MAX_GROUP, PROVE, Placement
from dataflow_jupyter.testing import spec

SEED_EXECUTION = {"timeoutMs": 5000, "retry": 2, "recoverable": True}  # no offload key


class Costly(PureNode):
    """Sleeps ``slowMs`` on the inputs listed in ``slowOn`` (or on every input from
    ``slowFrom`` on); cheap otherwise."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        value = inputs["in"].value
        settings = self.settings
        if value in settings["slowOn"] or 0 <= settings["slowFrom"] <= value:
            time.sleep(settings["slowMs"] / 1000)
        return {"out": value}


def registry(**execution: Any) -> NodeRegistry:
    reg = NodeRegistry()
    reg.register(
        spec("numbers", [], ["out"], settings=[{"name": "count", "type": "integer"}]), Numbers
    )
    settings = [
        {"name": "slowOn", "type": "json", "default": []},
        {"name": "slowFrom", "type": "integer", "default": -1},
        {"name": "slowMs", "type": "number", "default": 0},
    ]
    reg.register(spec("costly", ["in"], ["out"], settings=settings, execution=execution), Costly)
    return reg


def run_costly(count: int, reg: NodeRegistry, **settings: Any) -> tuple[GraphRuntime, str]:
    g = Graph(id="placement", registry=reg)
    src = g.add_node("numbers", settings={"count": count})
    node = g.add_node("costly", settings=settings)
    g.connect(src, "out", node, "in")
    rt = GraphRuntime(g)
    result = rt.run()
    assert result.counts[f"{node}.out"] + len(result.errors) == count
    return rt, node


def test_a_node_written_like_the_seed_starts_on_a_worker_and_moves_inline_when_cheap() -> None:
    rt, node = run_costly(200, registry(**SEED_EXECUTION))
    stats = rt.stats.node(node)
    assert (stats.runs_on, stats.moves) == ("inline", 1)
    moves = rt.log.placements()
    assert moves[["node_id", "runs_on"]].values.tolist() == [[node, "inline"]]
    assert f"{PROVE} firings in a row" in moves["reason"].iloc[0]
    rt.close()


def test_one_pause_does_not_move_a_healthy_node_but_a_slow_one_moves() -> None:
    # a 15 ms pause on one firing (a garbage collection looks like this): stays inline
    rt, node = run_costly(300, registry(), slowOn=[150], slowMs=15)
    assert (rt.stats.node(node).runs_on, rt.stats.node(node).moves) == ("inline", 1)
    rt.close()
    # slow from the 100th firing on: moves back to a worker within a few firings
    rt, node = run_costly(140, registry(), slowFrom=100, slowMs=5)
    assert (rt.stats.node(node).runs_on, rt.stats.node(node).moves) == ("worker", 2)
    moved_back = rt.log.placements().iloc[-1]
    assert moved_back["runs_on"] == "worker"
    assert "firings in a row took over" in moved_back["reason"]
    rt.close()


def test_offload_forces_where_a_node_runs() -> None:
    for offload, where in (("none", "inline"), ("thread", "worker")):
        rt, node = run_costly(100, registry(offload=offload))
        assert (rt.stats.node(node).runs_on, rt.stats.node(node).moves) == (where, 0)
        assert rt.log.placements().empty
        rt.close()


def test_an_inline_firing_over_its_timeout_fails_and_moves_the_node_to_a_worker() -> None:
    reg = registry(offload="none", timeoutMs=100)
    started = time.perf_counter()
    rt, node = run_costly(6, reg, slowOn=[1, 4], slowMs=1500)
    took = time.perf_counter() - started
    errors = [(letter.error.code, letter.inputs["in"].value) for letter in rt.dlq]
    assert errors == [(ErrorCode.TIMEOUT, 1), (ErrorCode.TIMEOUT, 4)]
    stats = rt.stats.node(node)
    assert (stats.runs_on, stats.emitted, stats.dead_lettered) == ("worker", 4, 2)
    assert rt.log.placements()["reason"].tolist() == [
        "a firing overran its timeout of 100 ms inline"
    ]
    # The first overrun held the loop to its end (1.5 s: inline, nothing can interrupt it);
    # the second, on a worker, was abandoned at its deadline instead of taking 1.5 s more.
    assert 1.5 <= took < 2.9
    rt.close()


def test_a_worker_fires_queued_inputs_in_batches() -> None:
    class Counting(LocalExecutor):
        submits = 0

        async def submit(self, fn: Any, /, *args: Any) -> Any:
            type(self).submits += 1
            return await super().submit(fn, *args)

    reg = registry(offload="thread")
    g = Graph(id="batches", registry=reg)
    src = g.add_node("numbers", settings={"count": 2000})
    node = g.add_node("costly")
    g.connect(src, "out", node, "in")
    rt = GraphRuntime(g, executor=Counting())
    result = rt.run()
    assert result.counts[f"{node}.out"] == 2000
    assert result.outputs[f"{node}.out"][:5] == [0, 1, 2, 3, 4]  # order kept
    assert Counting.submits < 2000 / 4  # many firings per hand-off
    rt.close()


async def test_a_background_run_keeps_measured_nodes_on_workers() -> None:
    g = Graph(id="background", registry=registry())
    src = g.add_node("numbers", settings={"count": 300})
    node = g.add_node("costly")
    g.connect(src, "out", node, "in")
    rt = GraphRuntime(g)
    await rt.start()  # the canvas's Run: the notebook's cells share this loop
    result = await rt.wait()
    assert result is not None
    assert result.counts[f"{node}.out"] == 300
    assert (rt.stats.node(node).runs_on, rt.stats.node(node).moves) == ("worker", 0)
    result = await rt.run_async()  # a run the cell waits for: cheap nodes move inline
    assert (rt.stats.node(node).runs_on, rt.stats.node(node).moves) == ("inline", 1)
    await rt.aclose()


def test_a_cluster_group_takes_about_group_ns_shared_among_the_free_slots() -> None:
    placement = Placement.choose("cluster", is_async=False, executor_inline=True)
    assert placement.group_size(queued=100, slots=2) == 1  # nothing measured: one first
    placement.took(25_000_000)  # 25 ms a firing
    assert placement.group_size(queued=100, slots=2) == GROUP_NS // 25_000_000 == 4
    assert placement.group_size(queued=6, slots=4) == 2  # the queue shared: no idle slot
    assert placement.group_size(queued=1, slots=4) == 1
    cheap = Placement.choose("cluster", is_async=False, executor_inline=True)
    cheap.took(10_000)  # 10 us a firing
    assert cheap.group_size(queued=1_000, slots=2) == MAX_GROUP
    slow = Placement.choose("cluster", is_async=False, executor_inline=True)
    slow.took(2 * GROUP_NS)
    assert slow.group_size(queued=100, slots=1) == 1  # a slow firing: a task of its own
