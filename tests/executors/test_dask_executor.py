"""DaskExecutor on a real ``LocalCluster`` of 2 worker processes: firings, node packs on
every worker (joining later too), strict version locking, and the cluster's faults.

The tests call the executor as the runtime does: a ``RemoteNode`` and ``DataPacket``s in,
a ``RemoteOutcome`` out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from _dask_support import VERSIONED, BytesReceived, TaskStream, local_cluster, write_node
from distributed import Client

from dataflow_jupyter import NodeRegistry
from dataflow_jupyter.executors import ClusterExecutor, DaskExecutor, RemoteError, RemoteNode
from dataflow_jupyter.executors._cluster import PackManifest
from dataflow_jupyter.executors.dask import ClusterTable, _run_firings, plugin_name
from dataflow_jupyter.packets import DataPacket, ErrorPacket, RemoteTable

if TYPE_CHECKING:
    from pathlib import Path


pytestmark = pytest.mark.integration


def node(node_id: str, type_id: str, **settings: Any) -> RemoteNode:
    return RemoteNode.of(node_id, type_id, "1.0.0", settings)


async def test_a_built_in_node_fires_on_the_cluster(executor: DaskExecutor) -> None:
    mapper = RemoteNode.of("double", "mapper", "1.0.0", {"expression": "value * 2"})
    outcome = await executor.fire(mapper, {"in": DataPacket(21)})
    assert outcome.error is None
    assert outcome.result == {"out": 42}
    assert outcome.worker in executor.client.scheduler_info()["workers"]  # type: ignore[union-attr]
    assert outcome.start_ns <= outcome.end_ns
    assert isinstance(executor, ClusterExecutor)
    assert executor.dashboard_link is not None


async def test_a_node_exception_comes_back_with_its_type_and_traceback(
    executor: DaskExecutor,
) -> None:
    outcome = await executor.fire(node("f", "fails"), {"in": DataPacket("x")})
    error = outcome.error
    assert isinstance(error, RemoteError)
    assert error.exception_type == "ValueError"
    assert error.message == "cannot take 'x'"
    assert "in process" in error.traceback
    assert not error.recoverable
    packet = ErrorPacket.from_exception(error, node_id="f")
    assert packet.details["exception_type"] == "ValueError"
    assert packet.details["traceback"] == error.traceback


async def test_tables_come_back_as_handles_and_feed_the_next_firing(
    executor: DaskExecutor,
) -> None:
    made = await executor.fire(node("make", "make-table", megabytes=1), {"in": DataPacket(1)})
    packet = made.result["out"]
    handle = packet.binary_value
    assert isinstance(handle, ClusterTable)
    assert isinstance(handle, RemoteTable)
    assert handle.num_rows == (1 << 20) // 8
    assert handle.schema == pa.schema([("x", pa.int64())])
    assert "remote table 131,072 rows" in repr(packet)
    added = await executor.fire(node("add", "add-column"), {"in": packet})
    assert added.error is None
    assert added.emitted == [("rows", 131072)]
    table = added.result["out"]
    assert isinstance(table, ClusterTable)
    assert table.read().column_names == ["x", "c1"]
    assert DataPacket(binary_value=table).to_pandas()["c1"].iloc[-1] == 131072


async def test_a_firing_without_tables_is_one_task_and_one_with_tables_two(
    executor: DaskExecutor,
) -> None:
    client = executor.client
    assert client is not None
    stream = TaskStream(client)
    plain = await executor.fire(node("plain", "sleeper"), {"in": DataPacket(7)})
    assert plain.result["out"]["value"] == 7
    made = await executor.fire(node("tabled", "make-table"), {"in": DataPacket(1)})
    assert isinstance(made.result["out"].binary_value, ClusterTable)
    plain_keys = stream.keys("dataflow-plain-")
    tabled_keys = stream.keys("dataflow-tabled-")
    assert len(plain_keys) == 1  # the outcome itself came back: no second task
    assert len(tabled_keys) == 2  # the firing, and its description beside it
    assert sum(key.endswith("-brief") for key in tabled_keys) == 1


async def test_a_task_fires_a_group_in_order_and_stops_where_the_node_calls_done(
    executor: DaskExecutor,
) -> None:
    firings = [{"in": DataPacket(value)} for value in range(6)]
    outcomes = await executor.fire_many(node("stop", "stop-at", at=2), firings)
    assert [o.result["out"] for o in outcomes] == [0, 1, 2]  # 3, 4 and 5 were not fired
    assert [o.wants_no_more for o in outcomes] == [False, False, True]
    assert len({o.worker for o in outcomes}) == 1  # one task, one worker
    outcomes = await executor.fire_many(node("made", "make-table", megabytes=0.01), firings[:3])
    handles = [o.result["out"].binary_value for o in outcomes]
    assert [h.path for h in handles] == [(i, "r", "out", "b") for i in range(3)]
    assert len({h.future.key for h in handles}) == 1  # three tables in one task's outcomes
    assert handles[2].read().num_rows == (int(0.01 * (1 << 20))) // 8


async def test_firings_wait_on_the_cluster_only_when_it_has_no_more_threads_than_allowed(
    executor: DaskExecutor,
) -> None:
    # 2 workers of 1 thread: with parallelism 2 or more, no more than 2 can run at once
    assert [executor.lookahead(n) for n in (1, 2, 3, 8)] == [0, 2, 2, 2]
    assert DaskExecutor().lookahead(4) == 0  # not started: nothing known, nothing waits


async def test_given_nothing_it_starts_a_local_cluster_and_closes_it(
    registry: NodeRegistry,
) -> None:
    executor = DaskExecutor(n_workers=2, cluster_options={"dashboard_address": ":0"})
    assert executor.dashboard_link is None  # lazily: nothing starts in __init__
    await executor.start(registry)
    await executor.start(registry)  # idempotent
    client = executor.client
    assert client is not None
    assert len(client.scheduler_info()["workers"]) == 2
    assert executor.dashboard_link is not None
    outcome = await executor.fire(node("s", "sleeper"), {"in": DataPacket(7)})
    assert outcome.result["out"]["value"] == 7
    await executor.close()
    assert client.status == "closed"
    assert executor.client is None


async def test_a_given_client_and_its_cluster_are_left_running(
    shared_client: Client, registry: NodeRegistry
) -> None:
    executor = DaskExecutor(shared_client)
    await executor.start(registry)
    (name,) = executor._plugins
    await executor.close()
    assert shared_client.status == "running"
    plugins = shared_client.run(lambda dask_worker: sorted(dask_worker.plugins))
    assert all(name not in names for names in plugins.values())  # its plugin is removed


async def test_given_an_address_it_closes_only_the_client_it_made(
    shared_client: Client, registry: NodeRegistry
) -> None:
    executor = DaskExecutor(shared_client.scheduler.address)
    await executor.start(registry)
    made = executor.client
    assert made is not None
    assert made is not shared_client
    outcome = await executor.fire(node("s", "sleeper"), {"in": DataPacket("hi")})
    assert outcome.result["out"]["value"] == "hi"
    await executor.close()
    assert made.status == "closed"
    assert shared_client.status == "running"
    assert len(shared_client.scheduler_info()["workers"]) == 2


async def test_a_worker_that_joins_later_gets_the_node_packs(registry: NodeRegistry) -> None:
    with local_cluster(n_workers=1) as cluster, Client(cluster) as client:
        executor = DaskExecutor(client)
        await executor.start(registry)
        first = set(client.scheduler_info()["workers"])
        cluster.scale(2)
        await asyncio.to_thread(client.wait_for_workers, 2, 30)
        (joined,) = set(client.scheduler_info()["workers"]) - first
        (name,) = executor._plugins
        sleeper = node("late", "sleeper")
        firings = [(["in"], [DataPacket(3)])]
        task = client.submit(_run_firings, name, sleeper, firings, [], workers=[joined], pure=False)
        (outcome,) = await asyncio.to_thread(task.result, 30)
        assert outcome.error is None
        assert outcome.worker == joined
        assert outcome.result["out"]["value"] == 3
        await executor.close()


async def test_other_code_under_the_same_version_is_refused_as_a_registry_problem(
    shared_client: Client, tmp_path: Path
) -> None:
    """A node.py edited without a new version: the workers that loaded the old code refuse
    the new one (one process cannot hold two codes under one (id, version))."""
    write_node(tmp_path / "old", "versioned", VERSIONED.format(answer="old"))
    write_node(tmp_path / "new", "versioned", VERSIONED.format(answer="new"))
    old = DaskExecutor(shared_client)
    await old.start(NodeRegistry(paths=[tmp_path / "old"], include_builtin=False))
    (name,) = old._plugins
    versioned = node("v", "versioned")
    for worker in shared_client.scheduler_info()["workers"]:  # load it on every worker
        firings = [(["in"], [DataPacket(0)])]
        task = shared_client.submit(_run_firings, name, versioned, firings, [], workers=[worker])
        (outcome,) = await asyncio.to_thread(task.result, 30)
        assert outcome.result == {"out": "old"}
    new = DaskExecutor(shared_client)
    await new.start(NodeRegistry(paths=[tmp_path / "new"], include_builtin=False))
    outcome = await new.fire(versioned, {"in": DataPacket(0)})
    error = outcome.error
    assert isinstance(error, RemoteError)
    assert error.exception_type == "RegistryProblem"
    assert not error.recoverable
    assert error.message.startswith(f"registry problem on worker {outcome.worker}: node 'v'")
    assert "versioned 1.0.0 with other code" in error.message
    assert "new version in schema.json" in error.message
    await new.close()
    await old.close()


async def test_a_node_type_the_client_did_not_send_is_a_registry_problem(
    executor: DaskExecutor,
) -> None:
    outcome = await executor.fire(node("n", "not-installed"), {"in": DataPacket(0)})
    assert outcome.error is not None
    assert outcome.error.exception_type == "RegistryProblem"
    assert "did not send this node type" in outcome.error.message


def test_the_manifest_carries_folders_with_their_digests(registry: NodeRegistry) -> None:
    manifest = PackManifest.from_registry(registry)
    shipped = {(f.type_id, f.version) for f in manifest.shipped}
    assert {("mapper", "1.0.0"), ("make-table", "1.0.0")} <= shipped
    assert manifest == PackManifest.from_registry(registry)  # deterministic
    assert plugin_name(manifest, "abc").startswith("dataflow-packs-")


async def test_a_200_mb_table_through_three_firings_moves_under_1_mb_to_the_client(
    executor: DaskExecutor, received: BytesReceived
) -> None:
    """The table is made on a worker, passed on as a handle twice, and only ``read()``
    brings it (and the counter shows it): see ``received`` for what is counted."""
    before = received.total
    made = await executor.fire(node("make", "make-table", megabytes=200), {"in": DataPacket(0)})
    first = await executor.fire(node("add1", "add-column"), {"in": made.result["out"]})
    second = await executor.fire(
        node("add2", "add-column"), {"in": DataPacket(binary_value=first.result["out"])}
    )
    moved = received.total - before
    assert moved < 1 << 20, f"{moved:,} bytes reached the client"
    handle = second.result["out"]
    assert isinstance(handle, ClusterTable)
    assert handle.num_rows == 200 * (1 << 20) // 8
    assert handle.nbytes >= 3 * 200 * (1 << 20)
    table = await asyncio.to_thread(handle.read)
    assert table.column_names == ["x", "c1", "c2"]
    assert received.total - before > 600 * (1 << 20)
    print(f"moved by three firings: {moved:,} bytes; by read(): {received.total - before:,}")


async def test_a_cancelled_fire_releases_its_firing(executor: DaskExecutor) -> None:
    client = executor.client
    assert client is not None
    firing = asyncio.ensure_future(
        executor.fire(node("slow", "sleeper", seconds=1), {"in": DataPacket(0)})
    )
    await asyncio.sleep(0.3)
    firing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await firing
    await asyncio.sleep(1.5)  # past the end of the sleep: a kept result would be in memory
    held = [*client.who_has(), *(k for keys in client.processing().values() for k in keys)]
    assert not [key for key in held if str(key).startswith("dataflow-slow-")]


# -- faults ----------------------------------------------------------------------------------


def running_on(client: Client, prefix: str) -> str | None:
    """The worker processing a task whose key starts with ``prefix``, if any."""
    for worker, keys in client.processing().items():
        if any(str(key).startswith(prefix) for key in keys):
            return str(worker)
    return None


async def test_a_worker_killed_mid_firing_is_replaced_and_lost_inputs_recomputed(
    registry: NodeRegistry,
) -> None:
    with local_cluster() as cluster, Client(cluster) as client:
        executor = DaskExecutor(client)
        await executor.start(registry)
        made = await executor.fire(node("make", "make-table", megabytes=1), {"in": DataPacket(5)})
        packet = made.result["out"]
        pids = await asyncio.to_thread(client.run, os.getpid)
        firing = asyncio.ensure_future(
            executor.fire(node("slow", "sleeper", seconds=2), {"in": packet})
        )
        deadline = time.monotonic() + 20
        while (victim := running_on(client, "dataflow-slow-")) is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert victim == made.worker  # it runs where its input is: both are lost with it
        os.kill(pids[victim], signal.SIGKILL)
        outcome = await asyncio.wait_for(firing, 60)
        assert outcome.error is None
        assert outcome.worker != victim
        assert outcome.result["out"]["pid"] != pids[victim]
        assert outcome.result["out"] == {
            "pid": outcome.result["out"]["pid"],
            "value": 5,
            "rows": (1 << 20) // 8,
        }
        await executor.close()


async def test_too_many_deaths_come_back_as_a_recoverable_error(registry: NodeRegistry) -> None:
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = local_cluster()
    with cluster, Client(cluster) as client:
        executor = DaskExecutor(client)
        await executor.start(registry)
        outcome = await asyncio.wait_for(
            executor.fire(node("boom", "suicide"), {"in": DataPacket(0)}), 60
        )
        error = outcome.error
        assert isinstance(error, RemoteError)
        assert error.recoverable
        assert error.exception_type == "KilledWorker"
        assert "node 'boom' could not run on the cluster: KilledWorker" in error.message
        await executor.close()


async def test_a_cluster_that_goes_away_ends_a_pending_firing_quickly(
    registry: NodeRegistry,
) -> None:
    cluster = local_cluster()
    with Client(cluster) as client:
        executor = DaskExecutor(client)
        await executor.start(registry)
        firing = asyncio.ensure_future(
            executor.fire(node("slow", "sleeper", seconds=30), {"in": DataPacket(0)})
        )
        await asyncio.sleep(0.5)
        await asyncio.to_thread(cluster.close)
        started = time.monotonic()
        outcome = await asyncio.wait_for(firing, 20)
        assert time.monotonic() - started < 5
        error = outcome.error
        assert isinstance(error, RemoteError)
        assert error.recoverable
        assert "node 'slow' could not run on the cluster" in error.message
        await executor.close()
