"""The runtime's side of ``offload: cluster`` (issue 14), against an in-process stand-in
for the cluster: which nodes go, ``parallelism`` firings in flight with outputs in input
order, the node's errors and the cluster's own failures, timeouts, and tables that live on
the cluster read off the loop by the nodes they reach. The real Dask cluster is tested in
tests/executors/."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pytest
import redis.asyncio as aioredis

from dataflow_jupyter import DataPacket, Graph, IONode, NodeRegistry, PureNode, StatefulNode
from dataflow_jupyter.executors import (
    ClusterExecutor,
    LocalExecutor,
    RemoteError,
    RemoteNode,
    RemoteOutcome,
)
from dataflow_jupyter.node import NodeContext
from dataflow_jupyter.packets import ErrorCode, RemoteTable
from dataflow_jupyter.runtime import ClusterLostError, GraphRuntime, NodeStartError
from dataflow_jupyter.state import MemoryState
from dataflow_jupyter.state.redis import RedisState
from dataflow_jupyter.testing import spec

CLUSTER = {"execution": {"offload": "cluster"}}
FAIL_ON = [{"name": "failOn", "type": "integer", "default": -1}]


class Numbers(IONode):
    async def run(self, ctx: Any) -> None:
        for i in range(self.settings.get("count", 10)):
            await ctx.emit("out", i)


class Double(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        value = inputs["in"].value
        if value == self.settings.get("failOn"):
            msg = f"refused {value}"
            raise ValueError(msg)
        return {"out": value * 2}


class DoubleUntil(PureNode):
    """Doubles, and calls ``ctx.done()`` at ``stopAt``."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        value = inputs["in"].value
        if value == self.settings["stopAt"]:
            ctx.done()
        return {"out": value * 2}


class AsyncDouble(PureNode):
    async def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        await asyncio.sleep(0)
        return {"out": inputs["in"].value * 2}


class Tally(StatefulNode):
    async def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        count = await self.state.get("count", 0) + 1
        await self.state.set("count", count)
        return {"out": count}


class PassStateful(StatefulNode):
    """Keeps state (so fires one at a time), without touching it here."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        return {"out": inputs["in"].value}


class MakeTable(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        return {"out": pa.table({"x": [inputs["in"].value] * 3})}


class CountRows(PureNode):
    """A local node fed by the cluster: sees a real table, read off the loop."""

    threads: list[str] = []

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        type(self).threads.append(threading.current_thread().name)
        table = inputs["in"].payload
        assert isinstance(table, pa.Table), type(table)
        return {"out": table.num_rows}


class Total(PureNode):
    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.total = 0

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        self.total += inputs["in"].value

    def finish(self, ctx: Any) -> Any:
        return {"out": self.total}


class HeldTable(RemoteTable):
    """A table "on the cluster": read() brings it, and says from which thread."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self.num_rows = table.num_rows
        self.nbytes = table.nbytes
        self.schema = table.schema
        self.read_on: list[str] = []

    def read(self) -> pa.Table:
        self.read_on.append(threading.current_thread().name)
        return self._table


class StandInCluster:
    """A ``ClusterExecutor`` that fires nodes in this process, each after a delay (a
    function of the input value), counting how many are in flight at once; ``queued``
    firings may wait beside the running ones (``lookahead``)."""

    dashboard_link: str | None = "http://127.0.0.1:8787/status"
    inline = True
    lost = False

    def __init__(
        self, registry: NodeRegistry, delay: Any = None, fail: Any = None, queued: int = 0
    ) -> None:
        self.registry = registry
        self.queued = queued
        self.asked: set[int] = set()  # the parallelisms lookahead was asked about
        self.local = LocalExecutor()
        self.delay = delay or (lambda _value: 0.0)
        self.fail = fail  # value -> a RemoteError the "cluster" returns for it, or None
        self.started = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.fired: list[tuple[str, Any]] = []
        self.groups: list[int] = []  # the firings of each unit of work, in order

    async def submit(self, fn: Any, /, *args: Any) -> Any:
        return await self.local.submit(fn, *args)

    async def close(self) -> None:
        await self.local.close()

    async def start(self, registry: NodeRegistry) -> None:
        assert registry is self.registry
        self.started += 1

    def lookahead(self, parallelism: int) -> int:
        self.asked.add(parallelism)
        return self.queued

    async def fire_many(
        self, node: RemoteNode, firings: Sequence[Mapping[str, DataPacket]]
    ) -> list[RemoteOutcome]:
        """One unit of work in flight: the firings one after the other."""
        self.groups.append(len(firings))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        outcomes: list[RemoteOutcome] = []
        try:
            for inputs in firings:
                outcomes.append(await self._fire(node, inputs))
                if outcomes[-1].wants_no_more:  # as a worker does: the rest are not fired
                    break
        finally:
            self.in_flight -= 1
        return outcomes

    async def fire(self, node: RemoteNode, inputs: Mapping[str, DataPacket]) -> RemoteOutcome:
        (outcome,) = await self.fire_many(node, [inputs])
        return outcome

    async def _fire(self, node: RemoteNode, inputs: Mapping[str, DataPacket]) -> RemoteOutcome:
        import json

        value = next(iter(inputs.values())).value
        self.fired.append((node.node_id, value))
        await asyncio.sleep(self.delay(value))
        failure = self.fail(value) if self.fail else None
        if failure is not None:
            return RemoteOutcome(None, [], failure, 0, 0, "tcp://worker-1")
        cls = self.registry.get(node.type_id, node.version).load()
        instance = cls(node.node_id, json.loads(node.settings))
        emitted: list[tuple[str, Any]] = []
        ctx = NodeContext(node.node_id, lambda port, v: emitted.append((port, v)))
        start = time.time_ns()
        try:
            result = instance.process(dict(inputs), ctx)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # noqa: BLE001 - what the worker side does
            error = RemoteError(
                str(exc), exception_type=type(exc).__name__, traceback="Traceback (worker)"
            )
            return RemoteOutcome(None, emitted, error, start, time.time_ns(), "tcp://worker-1")
        if isinstance(result, dict):
            result = {
                port: HeldTable(v) if isinstance(v, pa.Table) else v for port, v in result.items()
            }
        end = time.time_ns()
        return RemoteOutcome(result, emitted, None, start, end, "tcp://worker-1", ctx.wants_no_more)


@pytest.fixture
def registry() -> NodeRegistry:
    reg = NodeRegistry()
    count = [{"name": "count", "type": "integer", "default": 10}]
    reg.register(spec("numbers", [], ["out"], settings=count), Numbers)
    reg.register(spec("double", ["in"], ["out"], settings=FAIL_ON, **CLUSTER), Double)
    wide = {"execution": {"offload": "cluster", "parallelism": 3}}
    reg.register(spec("double-wide", ["in"], ["out"], settings=FAIL_ON, **wide), Double)
    reg.register(spec("double-here", ["in"], ["out"], settings=FAIL_ON), Double)
    stop_at = [{"name": "stopAt", "type": "integer", "default": -1}]
    reg.register(spec("double-until", ["in"], ["out"], settings=stop_at, **CLUSTER), DoubleUntil)
    reg.register(
        spec("make-table", ["in"], [{"name": "out", "type": "table"}], **CLUSTER), MakeTable
    )
    reg.register(spec("count-rows", [{"name": "in", "type": "table"}], ["out"]), CountRows)
    reg.register(spec("total", ["in"], ["out"], **CLUSTER), Total)
    reg.register(spec("async-double", ["in"], ["out"], **CLUSTER), AsyncDouble)
    reg.register(spec("tally", ["in"], ["out"], **CLUSTER), Tally)
    return reg


def chain(
    registry: NodeRegistry, *types: str, count: int = 10, **first: Any
) -> tuple[Graph, list[str]]:
    graph = Graph(id="cluster", registry=registry)
    ids = [graph.add_node("numbers", settings={"count": count})]
    for index, type_id in enumerate(types):
        ids.append(graph.add_node(type_id, settings=first if index == 0 else {}))
        graph.connect(ids[-2], "out", ids[-1], "in")
    return graph, ids


def values(result: Any, node_id: str) -> list[Any]:
    return list(result.outputs.get(f"{node_id}.out", []))


def test_the_stand_in_is_a_cluster_executor(registry: NodeRegistry) -> None:
    assert isinstance(StandInCluster(registry), ClusterExecutor)


def test_parallel_firings_leave_in_input_order(registry: NodeRegistry) -> None:
    graph, (_, wide) = chain(registry, "double-wide", count=12)
    # the first inputs take longest: they come back last, and still leave first
    cluster = StandInCluster(registry, delay=lambda v: 0.03 * ((12 - v) % 4))
    rt = GraphRuntime(graph, registry, executor=cluster)
    result = rt.run()
    assert result.ok, result.errors
    assert values(result, wide) == [2 * i for i in range(12)]
    assert cluster.most_in_flight == 3  # parallelism: 3
    assert cluster.started == 1
    stats = rt.stats.node(wide)
    assert (stats.firings, stats.emitted, stats.runs_on) == (12, 12, "cluster")


def test_firings_wait_on_the_cluster_as_far_as_the_executor_allows(
    registry: NodeRegistry,
) -> None:
    graph, (_, wide) = chain(registry, "double-wide", count=12)
    cluster = StandInCluster(registry, delay=lambda v: 0.03 * ((12 - v) % 4), queued=2)
    result = GraphRuntime(graph, registry, executor=cluster).run()
    assert values(result, wide) == [2 * i for i in range(12)]  # still in input order
    assert cluster.asked == {3}
    assert cluster.most_in_flight == 5  # parallelism 3, and 2 more waiting


def test_a_cheap_node_s_queued_inputs_go_to_the_cluster_in_groups(
    registry: NodeRegistry,
) -> None:
    graph, (_, wide) = chain(registry, "double-wide", count=60)
    cluster = StandInCluster(registry, delay=lambda v: 0.002 * (v % 3))
    rt = GraphRuntime(graph, registry, executor=cluster)
    result = rt.run()
    assert values(result, wide) == [2 * i for i in range(60)]  # input order
    assert sum(cluster.groups) == 60  # each input fired once
    assert cluster.groups[0] == 1  # nothing measured yet: one firing first
    assert max(cluster.groups) > 1  # then groups: a task's cost shared by cheap firings
    assert cluster.most_in_flight <= 3  # parallelism 3: groups, not firings, in flight
    stats = rt.stats.node(wide)
    assert (stats.firings, stats.emitted, stats.received) == (60, 60, 60)


def test_a_slow_node_fires_one_input_per_task(registry: NodeRegistry) -> None:
    graph, (_, wide) = chain(registry, "double-wide", count=8)
    cluster = StandInCluster(registry, delay=lambda _v: 0.0)
    rt = GraphRuntime(graph, registry, executor=cluster)
    rt._prepared.nodes[wide].placement.took(200_000_000)  # type: ignore[union-attr]
    result = rt.run()
    assert values(result, wide) == [2 * i for i in range(8)]
    assert set(cluster.groups) == {1}  # a firing of 200 ms: a task of its own


def test_ctx_done_on_the_cluster_stops_the_node_s_input(registry: NodeRegistry) -> None:
    graph, (_, node) = chain(registry, "double-until", count=12, stopAt=5)
    cluster = StandInCluster(registry)
    rt = GraphRuntime(graph, registry, executor=cluster)
    result = rt.run()
    assert result.ok, result.errors
    assert values(result, node) == [0, 2, 4, 6, 8, 10]  # nothing after the one that stopped
    assert [value for _, value in cluster.fired] == [0, 1, 2, 3, 4, 5]  # the rest not fired
    assert cluster.groups[0] == 1
    assert max(cluster.groups) > 1  # the stop came in the middle of a group
    stats = rt.stats.node(node)
    assert (stats.firings, stats.emitted) == (6, 6)


def test_no_firing_waits_for_a_node_with_a_timeout(registry: NodeRegistry) -> None:
    # a firing waiting on the cluster would spend its timeout there
    execution = {"offload": "cluster", "parallelism": 2, "timeoutMs": 5_000}
    registry.register(spec("double-timed", ["in"], ["out"], execution=execution), Double)
    graph, (_, node) = chain(registry, "double-timed", count=8)
    cluster = StandInCluster(registry, delay=lambda _v: 0.01, queued=4)
    result = GraphRuntime(graph, registry, executor=cluster).run()
    assert values(result, node) == [2 * i for i in range(8)]
    assert (cluster.asked, cluster.most_in_flight) == (set(), 2)
    assert set(cluster.groups) == {1}  # its timeout is one firing's


def test_no_firing_of_a_stateful_node_waits(registry: NodeRegistry, redis_server: Any) -> None:
    # each firing reads what the one before wrote: the next is sent when the last is back
    registry.register(spec("pass-stateful", ["in"], ["out"], **CLUSTER), PassStateful)
    config = {"stateStorage": {"type": "redis", "url": redis_server.url, "prefix": "q"}}
    document = {"id": "waits", "version": "1.0.0", "config": config}
    graph = Graph.from_dict(document, registry=registry)
    source = graph.add_node("numbers", settings={"count": 6})
    node = graph.add_node("pass-stateful")
    graph.connect(source, "out", node, "in")
    cluster = StandInCluster(registry, delay=lambda _v: 0.01, queued=4)
    result = GraphRuntime(graph, registry, executor=cluster).run()
    assert values(result, node) == list(range(6))
    assert (cluster.asked, cluster.most_in_flight) == (set(), 1)


def test_without_parallelism_one_firing_is_in_flight(registry: NodeRegistry) -> None:
    graph, (_, node) = chain(registry, "double", count=5)
    cluster = StandInCluster(registry, delay=lambda _v: 0.01)
    result = GraphRuntime(graph, registry, executor=cluster).run()
    assert values(result, node) == [0, 2, 4, 6, 8]
    assert cluster.most_in_flight == 1


def test_a_nodes_exception_on_the_cluster_is_its_error(registry: NodeRegistry) -> None:
    graph, (_, node) = chain(registry, "double", count=4, failOn=2)
    rt = GraphRuntime(graph, registry, executor=StandInCluster(registry))
    result = rt.run()
    assert values(result, node) == [0, 2, 6]
    [error] = result.errors
    assert (error.code, error.message, error.recoverable) == (
        ErrorCode.NODE_EXCEPTION,
        "refused 2",
        False,
    )
    assert error.packet is not None
    assert error.packet.value == 2
    assert len(rt.dlq) == 1


def test_a_failure_of_the_cluster_is_recoverable_and_retried(registry: NodeRegistry) -> None:
    registry.register(
        spec(
            "double-retried",
            ["in"],
            ["out"],
            settings=FAIL_ON,
            execution={"offload": "cluster", "retry": 1, "retryBackoffMs": 1},
        ),
        Double,
    )
    graph, (_, node) = chain(registry, "double-retried", count=3)
    failures = {1: 1}  # the firing on 1 meets a dead worker once

    def fail(value: Any) -> RemoteError | None:
        if failures.get(value, 0):
            failures[value] -= 1
            return RemoteError("the worker died", exception_type="KilledWorker", recoverable=True)
        return None

    rt = GraphRuntime(graph, registry, executor=StandInCluster(registry, fail=fail))
    result = rt.run()
    assert result.ok, result.errors
    assert values(result, node) == [0, 2, 4]
    assert rt.stats.node(node).retries == 1


def test_a_cluster_that_is_gone_sends_the_inputs_to_the_dead_letter_queue(
    registry: NodeRegistry,
) -> None:
    graph, (_, node) = chain(registry, "double", count=3)
    gone = RemoteError("the scheduler is gone", exception_type="CommClosedError", recoverable=True)
    rt = GraphRuntime(graph, registry, executor=StandInCluster(registry, fail=lambda _v: gone))
    result = rt.run()
    assert result.outputs.get(f"{node}.out", []) == []
    assert [e.code for e in result.errors] == [ErrorCode.IO_ERROR] * 3
    assert all("the scheduler is gone" in e.message and e.recoverable for e in result.errors)
    assert [letter.inputs["in"].value for letter in rt.dlq] == [0, 1, 2]


def test_a_cluster_that_went_away_ends_the_run_with_the_rest_in_the_dead_letter_queue(
    registry: NodeRegistry,
) -> None:
    graph, (_, node) = chain(registry, "double", count=5)
    cluster = StandInCluster(registry)
    gone = RemoteError("the scheduler is gone", exception_type="CommClosedError", recoverable=True)

    def fail(value: Any) -> RemoteError | None:
        if value >= 2:
            cluster.lost = True
            return gone
        return None

    cluster.fail = fail
    rt = GraphRuntime(graph, registry, executor=cluster)
    with pytest.raises(ClusterLostError, match=r"the cluster went away .* replay them"):
        rt.run()
    assert rt.stats.node(node).emitted == 2
    assert sorted(letter.inputs["in"].value for letter in rt.dlq) == [2, 3, 4]  # nothing lost
    assert {letter.error.code for letter in rt.dlq} == {ErrorCode.IO_ERROR}


def test_a_slow_cluster_firing_times_out(registry: NodeRegistry) -> None:
    registry.register(
        spec(
            "double-timed",
            ["in"],
            ["out"],
            settings=FAIL_ON,
            execution={"offload": "cluster", "timeoutMs": 50},
        ),
        Double,
    )
    graph, (_, node) = chain(registry, "double-timed", count=2)
    cluster = StandInCluster(registry, delay=lambda v: 1.0 if v == 1 else 0.0)
    result = GraphRuntime(graph, registry, executor=cluster).run()
    assert values(result, node) == [0]
    assert [e.code for e in result.errors] == [ErrorCode.TIMEOUT]


def test_tables_from_the_cluster_are_read_off_the_loop(registry: NodeRegistry) -> None:
    CountRows.threads = []
    graph, (_, make, count) = chain(registry, "make-table", "count-rows", count=3)
    rt = GraphRuntime(graph, registry, executor=StandInCluster(registry))
    result = rt.run()
    assert result.ok, result.errors
    assert values(result, count) == [3, 3, 3]
    assert rt.stats.node(count).runs_on == "worker"
    assert threading.main_thread().name not in CountRows.threads
    held = rt.packets(f"{make}.out")[-1].binary_value
    assert isinstance(held, HeldTable)  # the frame keeps the reference, not the table
    assert held.read_on
    assert threading.main_thread().name not in held.read_on[:3]
    assert rt.frame(f"{make}.out")["x"].tolist() == [1, 1, 1, 2, 2, 2]  # read on demand


def test_a_cluster_node_needs_a_cluster_executor(registry: NodeRegistry) -> None:
    graph, _ = chain(registry, "double")
    with pytest.raises(NodeStartError, match=r"runs on a cluster .*executor=DaskExecutor\(\)"):
        GraphRuntime(graph, registry).run()


def test_a_node_with_end_of_stream_hooks_stays_in_the_kernel(registry: NodeRegistry) -> None:
    graph, _ = chain(registry, "total")
    with pytest.raises(NodeStartError, match="end-of-stream hooks"):
        GraphRuntime(graph, registry, executor=StandInCluster(registry)).run()


def test_the_graph_sends_one_instance_to_the_cluster(registry: NodeRegistry) -> None:
    """``execution`` on a graph node overrides its type's: this one goes to the cluster."""
    graph, (_, node) = chain(registry, "double-here", count=3)
    graph.update_node(node, execution={"offload": "cluster", "parallelism": 2})
    cluster = StandInCluster(registry, delay=lambda v: 0.02 * (3 - v))
    rt = GraphRuntime(graph, registry, executor=cluster)
    result = rt.run()
    assert values(result, node) == [0, 2, 4]
    assert [fired[0] for fired in cluster.fired] == [node] * 3
    assert cluster.most_in_flight == 2
    assert rt.stats.node(node).runs_on == "cluster"


def test_an_async_node_fires_on_the_cluster(registry: NodeRegistry) -> None:
    graph, (_, node) = chain(registry, "async-double", count=4)
    cluster = StandInCluster(registry)
    rt = GraphRuntime(graph, registry, executor=cluster)
    assert values(rt.run(), node) == [0, 2, 4, 6]
    assert [fired[0] for fired in cluster.fired] == [node] * 4
    assert rt.stats.node(node).runs_on == "cluster"


def redis_graph(registry: NodeRegistry) -> tuple[Graph, str]:
    """numbers -> tally (stateful, on the cluster), in a graph whose state storage is redis."""
    config = {"stateStorage": {"type": "redis", "url": "redis://127.0.0.1:1/0", "prefix": "t"}}
    graph = Graph.from_dict(
        {"id": "counting", "version": "1.0.0", "config": config}, registry=registry
    )
    source = graph.add_node("numbers", settings={"count": 3})
    node = graph.add_node("tally")
    graph.connect(source, "out", node, "in")
    return graph, node


def test_a_stateful_cluster_node_takes_the_runtime_s_redis_state_along(
    registry: NodeRegistry,
) -> None:
    graph, node = redis_graph(registry)
    rt = GraphRuntime(graph, registry, executor=StandInCluster(registry))  # state: the config's
    assert isinstance(rt.state, RedisState)
    assert rt._prepared is not None
    remote = rt._prepared.nodes[node].remote
    assert remote is not None
    assert (remote.is_stateful, remote.state_url, remote.state_prefix) == (
        True,
        "redis://127.0.0.1:1/0",
        "t",
    )
    assert remote.state_namespace == f"counting/{node}"  # the kernel's namespace
    assert "redis://" not in repr(remote)  # a URL may hold a password
    mine = RedisState("redis://:secret@10.0.0.9:6380/2", prefix="p")
    rt = GraphRuntime(graph, registry, state=mine, executor=StandInCluster(registry))
    assert rt._prepared is not None
    remote = rt._prepared.nodes[node].remote
    assert remote is not None
    assert (remote.state_url, remote.state_prefix) == ("redis://:secret@10.0.0.9:6380/2", "p")


def test_a_stateful_cluster_node_with_state_the_workers_cannot_reach_does_not_start(
    registry: NodeRegistry,
) -> None:
    graph, node = redis_graph(registry)
    with pytest.raises(NodeStartError, match="which the workers cannot reach") as info:
        GraphRuntime(graph, registry, state=MemoryState(), executor=StandInCluster(registry))
    assert info.value.node_id == node
    assert str(info.value) == (
        f"node {node!r} (tally 1.0.0) runs on the cluster and keeps state, but the runtime's "
        "state is MemoryState, which the workers cannot reach: use redis state "
        '(state="redis" with config.stateStorage {"type": "redis", "url": ...}, or '
        "state=RedisState(url)), or run the node in the kernel (offload: auto)"
    )
    on_a_client = RedisState(client=aioredis.Redis())  # its url only names it
    with pytest.raises(NodeStartError, match="RedisState, which the workers cannot reach"):
        GraphRuntime(graph, registry, state=on_a_client, executor=StandInCluster(registry))
