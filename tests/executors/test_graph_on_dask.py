"""Graphs run by ``GraphRuntime`` with a ``DaskExecutor`` on a real ``LocalCluster`` of 2
worker processes (issue 14): the same answers as in the kernel, ``parallelism`` with outputs
in input order, tables that stay on the workers, a worker killed mid-run, a cluster that
goes away, and a stateful node whose state lives in a real ``redis-server``."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from _dask_support import BytesReceived, TaskStream, local_cluster
from distributed import Client

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.executors import DaskExecutor
from dataflow_jupyter.executors.dask import ClusterTable
from dataflow_jupyter.graph import GraphValidationError
from dataflow_jupyter.packets import ErrorCode, RemoteTable
from dataflow_jupyter.runtime import ClusterLostError, GraphRuntime, NodeStartError
from dataflow_jupyter.state import MemoryState
from dataflow_jupyter.state.redis import RedisState

if TYPE_CHECKING:
    from pathlib import Path

    from dataflow_jupyter.runtime import RunResult

pytestmark = pytest.mark.integration
ON_CLUSTER: dict[str, Any] = {"offload": "cluster"}


def chain(registry: NodeRegistry, count: int, *steps: tuple[str, dict[str, Any], Any]) -> Graph:
    """count-up (0, 1, ... ``count`` - 1) -> each step (type, settings, execution)."""
    graph = Graph(id="dask", registry=registry)
    previous = graph.add_node("count-up", id="src", settings={"count": count})
    for index, (type_id, settings, execution) in enumerate(steps, start=1):
        node = graph.add_node(type_id, id=f"s{index}", settings=settings, execution=execution)
        graph.connect(previous, "out", node, "in")
        previous = node
    return graph


def out(result: RunResult, node_id: str) -> list[Any]:
    return list(result.outputs.get(f"{node_id}.out", []))


async def until_emitted(rt: GraphRuntime, node_id: str, count: int, every: float = 0.1) -> None:
    """Wait (300 looks, ``every`` seconds apart, at most) until the running ``rt``'s
    ``node_id`` has emitted ``count``."""
    for _ in range(300):
        await asyncio.sleep(every)
        if rt._session is not None and rt.stats.node(node_id).emitted >= count:
            return


async def test_a_graph_gives_the_same_answer_on_the_cluster(
    executor: DaskExecutor, registry: NodeRegistry
) -> None:
    double = ("mapper", {"expression": "value * 2"}, None)
    local = await GraphRuntime(chain(registry, 6, double), registry).run_async()
    wide = {"offload": "cluster", "parallelism": 2}
    remote = chain(registry, 6, ("mapper", {"expression": "value * 2"}, wide))
    rt = GraphRuntime(remote, registry, executor=executor)
    result = await rt.run_async()
    assert result.ok, result.errors
    assert out(result, "s1") == out(local, "s1") == [0, 2, 4, 6, 8, 10]
    stats = rt.stats.node("s1")
    assert (stats.runs_on, stats.firings, stats.emitted) == ("cluster", 6, 6)


async def test_parallel_firings_overlap_and_leave_in_input_order(
    executor: DaskExecutor, registry: NodeRegistry
) -> None:
    wide = {"offload": "cluster", "parallelism": 2}
    graph = chain(registry, 4, ("sleeper", {"seconds": 0.5}, wide))
    rt = GraphRuntime(graph, registry, executor=executor)
    started = asyncio.get_running_loop().time()
    result = await rt.run_async()
    took = asyncio.get_running_loop().time() - started
    assert result.ok, result.errors
    assert [o["value"] for o in out(result, "s1")] == [0, 1, 2, 3]
    assert len({o["pid"] for o in out(result, "s1")}) == 2  # both workers fired
    assert took < 4 * 0.5  # two at a time, not one after another


async def test_a_cheap_node_s_inputs_go_to_the_cluster_in_groups_in_input_order(
    executor: DaskExecutor, registry: NodeRegistry
) -> None:
    client = executor.client
    assert client is not None
    stream = TaskStream(client)
    wide = {"offload": "cluster", "parallelism": 2}
    graph = chain(registry, 300, ("mapper", {"expression": "value * 2"}, wide))
    rt = GraphRuntime(graph, registry, executor=executor)
    result = await rt.run_async()
    assert result.ok, result.errors
    assert out(result, "s1") == [2 * i for i in range(300)]
    assert len(stream.keys("dataflow-s1-")) < 300 // 4  # a task fires a group of cheap firings
    stats = rt.stats.node("s1")
    assert (stats.firings, stats.emitted, stats.received) == (300, 300, 300)


async def test_tables_made_in_groups_feed_the_next_cluster_node(
    executor: DaskExecutor, registry: NodeRegistry
) -> None:
    wide = {"offload": "cluster", "parallelism": 2}
    make = ("make-table", {"megabytes": 0.01}, wide)
    here = chain(registry, 40, ("make-table", {"megabytes": 0.01}, None), ("add-column", {}, None))
    local = await GraphRuntime(here, registry).run_async()
    graph = chain(registry, 40, make, ("add-column", {}, wide))
    rt = GraphRuntime(graph, registry, executor=executor)
    result = await rt.run_async()
    assert result.ok, result.errors
    tables = out(result, "s2")
    assert all(isinstance(table, ClusterTable) for table in tables)
    assert len({table.future.key for table in tables}) < 40  # tables of a group share a task
    read = [await asyncio.to_thread(table.read) for table in tables]
    expected = [
        table.read() if isinstance(table, RemoteTable) else table for table in out(local, "s2")
    ]
    assert [t.to_pydict() for t in read] == [t.to_pydict() for t in expected]
    assert read[-1].column("c1").to_pylist()[-1] == (int(0.01 * (1 << 20)) // 8)


async def test_a_200_mb_table_through_three_cluster_nodes_stays_on_the_workers(
    executor: DaskExecutor,
    registry: NodeRegistry,
    received: BytesReceived,
) -> None:
    graph = chain(
        registry,
        1,
        ("make-table", {"megabytes": 200}, ON_CLUSTER),
        ("add-column", {}, ON_CLUSTER),
        ("add-column", {}, ON_CLUSTER),
    )
    rt = GraphRuntime(graph, registry, executor=executor)
    before = received.total
    result = await rt.run_async()
    moved = received.total - before
    assert result.ok, result.errors
    (table,) = out(result, "s3")
    assert isinstance(table, RemoteTable)  # the output holds a handle, not the data
    assert table.num_rows == 200 * (1 << 20) // 8
    assert moved < 1 << 20, f"{moved:,} bytes reached the kernel"
    assert rt.stats.node("s3").runs_on == "cluster"
    fetched = await asyncio.to_thread(table.read)  # brought here only when asked
    assert fetched.column_names == ["x", "c1", "c2"]
    assert received.total - before > 200 << 20


async def test_a_worker_killed_mid_run_loses_nothing_and_counts_nothing_twice(
    registry: NodeRegistry,
) -> None:
    with local_cluster() as cluster, Client(cluster) as client:
        executor = DaskExecutor(client)
        wide = {"offload": "cluster", "parallelism": 2}
        graph = chain(registry, 6, ("sleeper", {"seconds": 0.8}, wide))
        rt = GraphRuntime(graph, registry, executor=executor)
        pids = await asyncio.to_thread(client.run, os.getpid)
        run = asyncio.ensure_future(rt.run_async())
        await until_emitted(rt, "s1", 2)  # the first pair is done, the second under way
        await asyncio.sleep(0.2)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        result = await asyncio.wait_for(run, 120)
        await executor.close()
    assert result.ok, result.errors
    assert [o["value"] for o in out(result, "s1")] == [0, 1, 2, 3, 4, 5]
    stats = rt.stats.node("s1")
    assert (stats.firings, stats.emitted, stats.errors, stats.retries) == (6, 6, 0, 0)
    assert len(rt.dlq) == 0


async def test_a_worker_killed_under_groups_and_waiting_tasks_loses_nothing(
    registry: NodeRegistry,
) -> None:
    """Firings of 20 ms go in groups of 4 (about 100 ms a task), tasks wait on both workers:
    a worker killed mid-run takes running and waiting groups with it; every input still
    comes out once."""
    with local_cluster() as cluster, Client(cluster) as client:
        executor = DaskExecutor(client)
        wide = {"offload": "cluster", "parallelism": 2}
        graph = chain(registry, 60, ("sleeper", {"seconds": 0.02}, wide))
        rt = GraphRuntime(graph, registry, executor=executor)
        pids = await asyncio.to_thread(client.run, os.getpid)
        stream = TaskStream(client)
        run = asyncio.ensure_future(rt.run_async())
        await until_emitted(rt, "s1", 10, every=0.05)  # groups under way
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        result = await asyncio.wait_for(run, 120)
        tasks = stream.keys("dataflow-s1-")
        await executor.close()
    assert len(tasks) < 60  # groups
    assert result.ok, result.errors
    assert [o["value"] for o in out(result, "s1")] == list(range(60))
    stats = rt.stats.node("s1")
    assert (stats.firings, stats.emitted, stats.errors, stats.retries) == (60, 60, 0, 0)
    assert len(rt.dlq) == 0


async def test_a_cluster_that_goes_away_ends_the_run_with_the_rest_in_the_dead_letter_queue(
    registry: NodeRegistry,
) -> None:
    cluster = local_cluster()
    client = Client(cluster)
    executor = DaskExecutor(client)
    graph = chain(registry, 4, ("sleeper", {"seconds": 1.0}, ON_CLUSTER))
    rt = GraphRuntime(graph, registry, executor=executor)
    run = asyncio.ensure_future(rt.run_async())
    await until_emitted(rt, "s1", 1)  # the first firing is done, the second under way
    await asyncio.to_thread(cluster.close)
    with pytest.raises(ClusterLostError, match="the cluster went away"):
        await asyncio.wait_for(run, 60)
    await asyncio.to_thread(client.close)
    await executor.close()
    done = rt.stats.node("s1").emitted
    assert done >= 1
    assert done + len(rt.dlq) == 4  # nothing lost
    assert {letter.error.code for letter in rt.dlq} == {ErrorCode.IO_ERROR}
    assert sorted(letter.inputs["in"].value for letter in rt.dlq) == list(range(done, 4))


def test_dataflow_run_dask_local_runs_the_cluster_nodes_there(tmp_path: Path) -> None:
    """``dataflow run --dask local``: a LocalCluster for the run, closed after it."""
    graph = Graph(id="cli-dask")
    source = graph.add_node("inject", settings={"value": 20, "count": 3})
    plus = graph.add_node(
        "mapper", settings={"expression": "value + 1"}, execution={"offload": "cluster"}
    )
    graph.connect(source, "out", plus, "in")
    graph.save(tmp_path / "g.dfgraph.json")
    done = subprocess.run(
        [sys.executable, "-m", "dataflow_jupyter.cli", "run", "g.dfgraph.json", "--dask", "local"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(rf"{plus}\s+3\s+3\s+3 .* cluster", done.stdout), done.stdout
    assert "n2.out: 3 packets" in done.stdout


# -- state on the cluster -------------------------------------------------------------------------


def counting(registry: NodeRegistry, storage: dict[str, Any], execution: Any) -> Graph:
    """count-up (6 values) -> counter (stateful, async), in graph ``counting``."""
    document = {"id": "counting", "version": "1.0.0", "config": {"stateStorage": storage}}
    graph = Graph.from_dict(document, registry=registry)
    graph.add_node("count-up", id="src", settings={"count": 6})
    graph.add_node("counter", id="tally", execution=execution)
    graph.connect("src", "out", "tally", "in")
    return graph


async def test_a_stateful_node_on_the_cluster_keeps_its_count_in_redis(
    executor: DaskExecutor,
    registry: NodeRegistry,
    redis_server: Any,  # tests/conftest.py's RedisServer
) -> None:
    storage = {"type": "redis", "url": redis_server.url, "prefix": "on-dask"}
    here = counting(registry, storage, None)
    kernel = await GraphRuntime(here, registry, state=MemoryState()).run_async()
    remote = counting(registry, storage, {"offload": "cluster", "parallelism": 1})
    rt = GraphRuntime(remote, registry, executor=executor)  # state: the config's, redis
    result = await rt.run_async()
    assert result.ok, result.errors
    counts = [o["count"] for o in out(result, "tally")]
    assert counts == [o["count"] for o in out(kernel, "tally")] == [1, 2, 3, 4, 5, 6]
    assert all(o["same_loop"] for o in out(result, "tally"))  # setup's loop, on each worker
    assert all(o["pid"] != os.getpid() for o in out(result, "tally"))
    assert rt.stats.node("tally").runs_on == "cluster"
    state = RedisState(redis_server.url, "on-dask")
    try:
        assert await state.keys() == ["counting/tally/count"]  # the kernel's namespace
        assert await state.get("counting/tally/count") == 6
        again = GraphRuntime(remote, registry, state=state, executor=executor)
        result = await again.run_async()  # a runtime given a RedisState: the same keys
        assert [o["count"] for o in out(result, "tally")] == [7, 8, 9, 10, 11, 12]
        assert await state.get("counting/tally/count") == 12
    finally:
        await state.close()


async def test_a_stateful_node_on_the_cluster_without_redis_state_is_refused(
    registry: NodeRegistry,
) -> None:
    on_cluster = {"offload": "cluster"}
    unstarted = DaskExecutor()  # refused before it would start a cluster
    graph = counting(registry, {"type": "memory"}, on_cluster)
    with pytest.raises(GraphValidationError) as info:
        GraphRuntime(graph, registry, executor=unstarted)
    assert info.value.problems == [
        "node 'tally' (counter 1.0.0): it runs on the cluster (execution.offload: cluster) and "
        "keeps state: set the graph's state storage to redis (config.stateStorage: "
        '{"type": "redis", "url": ...}) so the workers can reach it; memory state stays in '
        "the kernel"
    ]
    graph = counting(registry, {"type": "redis"}, on_cluster)
    with pytest.raises(NodeStartError, match="use redis state") as started:
        GraphRuntime(graph, registry, state=MemoryState(), executor=unstarted)
    assert started.value.node_id == "tally"
    assert "the runtime's state is MemoryState, which the workers cannot reach" in str(
        started.value
    )
    assert unstarted.client is None
    await unstarted.close()
