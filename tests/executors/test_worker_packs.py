"""The worker side of a cluster firing without a cluster: ``WorkerPacks`` built from a
client's ``PackManifest``, as a worker plugin builds it, and the tables of an outcome."""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys
import threading
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pytest
from _dask_support import COUNTER, VERSIONED, write_node

from dataflow_jupyter import NodeRegistry, PureNode
from dataflow_jupyter.executors import RemoteError, RemoteNode, RemoteOutcome
from dataflow_jupyter.executors._cluster import (
    InputSlot,
    PackManifest,
    TableStub,
    WorkerPacks,
    dress,
    resolve_inputs,
    strip_tables,
    table_at,
)
from dataflow_jupyter.packets import DataPacket, ErrorPacket
from dataflow_jupyter.state.redis import RedisState
from dataflow_jupyter.testing import spec

if TYPE_CHECKING:
    from pathlib import Path


def remote(type_id: str, **settings: object) -> RemoteNode:
    return RemoteNode.of(type_id, type_id, "1.0.0", settings)


def test_shipped_folders_fire_from_the_worker_s_copy(tmp_path: Path) -> None:
    write_node(tmp_path / "pack", "answer-a", VERSIONED.format(answer=42))
    client = NodeRegistry(paths=[tmp_path / "pack"], include_builtin=False)
    manifest = PackManifest.from_registry(client)
    manifest = pickle.loads(pickle.dumps(manifest))  # as the plugin travels
    packs = WorkerPacks(manifest, "tcp://worker:1", tmp_path / "scratch")
    outcome = packs.fire(remote("answer-a"), {"in": DataPacket(0)})
    assert outcome.error is None
    assert outcome.result == {"out": 42}
    assert outcome.worker == "tcp://worker:1"
    (copy,) = (tmp_path / "scratch").iterdir()
    assert (copy / "node.py").read_text(encoding="utf-8").count("42") == 1
    packs.close()
    assert not (tmp_path / "scratch").exists()


def entry_point_pack(site: Path, type_id: str, answer: str) -> EntryPoint:
    package = site / f"pack_{type_id.replace('-', '_')}"
    write_node(package, type_id, VERSIONED.format(answer=answer))
    (package / "__init__.py").write_text("", encoding="utf-8")
    return EntryPoint(name="mine", value=package.name, group="dataflow_jupyter.nodes")


def test_an_entry_point_pack_with_other_code_on_the_worker_is_a_registry_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    entry = entry_point_pack(site, "answer-b", "client's")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr("dataflow_jupyter.registry.entry_points", lambda group: [entry])
    client = NodeRegistry(include_builtin=False, include_entry_points=True)
    manifest = PackManifest.from_registry(client)
    assert [(t.type_id, t.version) for t in manifest.installed] == [("answer-b", "1.0.0")]
    assert manifest.shipped == ()  # installed on the workers, not carried
    node_py = site / "pack_answer_b" / "Test" / "answer_b" / "node.py"
    node_py.write_text(VERSIONED.format(answer="worker's"), encoding="utf-8")
    packs = WorkerPacks(manifest, "tcp://worker:2", tmp_path / "scratch")
    error = packs.fire(remote("answer-b"), {"in": DataPacket(0)}).error
    assert isinstance(error, RemoteError)
    assert error.exception_type == "RegistryProblem"
    assert error.message.startswith(
        "registry problem on worker tcp://worker:2: node 'answer-b' (answer-b 1.0.0) "
        "cannot be loaded there: its files here"
    )
    assert "install the same version of the pack on the workers" in error.message
    sys.modules.pop("pack_answer_b", None)


def test_an_entry_point_pack_missing_on_the_worker_is_a_registry_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    entry = entry_point_pack(site, "answer-c", "client's")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr("dataflow_jupyter.registry.entry_points", lambda group: [entry])
    manifest = PackManifest.from_registry(
        NodeRegistry(include_builtin=False, include_entry_points=True)
    )
    monkeypatch.setattr("dataflow_jupyter.registry.entry_points", lambda group: [])
    packs = WorkerPacks(manifest, "tcp://worker:3", tmp_path / "scratch")
    error = packs.fire(remote("answer-c"), {"in": DataPacket(0)}).error
    assert error is not None
    assert "unknown node type 'answer-c'" in error.message
    assert "must be installed on every worker" in error.message
    sys.modules.pop("pack_answer_c", None)


def test_outcome_tables_become_stubs_and_handles_and_resolve_on_the_worker() -> None:
    table = pa.table({"x": [1, 2, 3]})
    batch = pa.record_batch({"y": [4]})
    inbound = DataPacket(binary_value=table)
    outcome = RemoteOutcome(
        {"out": inbound, "raw": batch, "plain": 5},
        [("side", table), ("note", "text")],
        None,
        1,
        2,
        "tcp://w:1",
    )
    other = RemoteOutcome({"out": batch}, [], None, 3, 4, "tcp://w:1")
    stripped, second = strip_tables([outcome, other])  # a task's two firings
    stub = stripped.result["out"].binary_value
    assert stub == TableStub((0, "r", "out", "b"), 3, table.nbytes, table.schema)
    assert stripped.result["raw"].path == (0, "r", "raw")
    assert stripped.result["plain"] == 5
    assert stripped.emitted[0][1].path == (0, "e", 0)
    assert stripped.emitted[1] == ("note", "text")
    assert second.result["out"].path == (1, "r", "out")
    assert len(pickle.dumps(stripped)) < 2000
    dressed = dress(stripped, lambda s: ("handle", s.path))
    assert dressed.result["out"].binary_value == ("handle", (0, "r", "out", "b"))
    assert dressed.result["out"].packet_id == inbound.packet_id
    assert table_at([outcome, other], (0, "e", 0)) is table
    assert table_at([outcome, other], (0, "r", "raw")).column_names == ["y"]
    assert table_at([outcome, other], (1, "r", "out")).column_names == ["y"]
    slot = DataPacket(7, binary_value=InputSlot(0, (0, "r", "out", "b")))  # type: ignore[arg-type]
    inputs = resolve_inputs(["in"], [slot], [[outcome, other]])
    assert inputs["in"].binary_value is table
    assert inputs["in"].value == 7


def test_an_error_packet_result_keeps_its_input_table_on_the_worker() -> None:
    failed = ErrorPacket(
        code="VALIDATION", message="no", packet=DataPacket(binary_value=pa.table({"x": [1]}))
    )  # type: ignore[arg-type]
    (stripped,) = strip_tables([RemoteOutcome(failed, [], None, 1, 2, "w")])
    assert isinstance(stripped.result.packet.binary_value, TableStub)


def test_a_remote_error_pickles_with_its_fields() -> None:
    error = RemoteError("boom", exception_type="KeyError", traceback="tb", recoverable=True)
    again = pickle.loads(pickle.dumps(error))
    assert (again.message, again.exception_type, again.traceback, again.recoverable) == (
        "boom",
        "KeyError",
        "tb",
        True,
    )
    assert str(again) == "boom"


def test_the_package_imports_dask_only_when_dask_executor_is_used() -> None:
    code = (
        "import sys, dataflow_jupyter, dataflow_jupyter.runtime, dataflow_jupyter.executors as e\n"
        "assert 'distributed' not in sys.modules and 'dask' not in sys.modules\n"
        "assert e.DaskExecutor.__module__ == 'dataflow_jupyter.executors.dask'\n"
        "assert 'distributed' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- async code and state on a worker ------------------------------------------------------------


class Tracked(PureNode):
    """Notes on which loop and thread its setup, firings and teardown ran."""

    calls: ClassVar[list[tuple[str, int, str]]] = []

    def _note(self, what: str) -> None:
        loop = id(asyncio.get_running_loop())
        self.calls.append((what, loop, threading.current_thread().name))

    async def setup(self) -> None:
        self._note("setup")

    async def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        self._note("process")
        await ctx.emit("out", -1)  # what a worker's ctx.emit gives is awaitable
        return {"out": inputs["in"].value + 1}

    async def teardown(self) -> None:
        self._note("teardown")


async def test_async_code_runs_on_one_loop_of_the_worker_also_when_closed_from_a_loop(
    tmp_path: Path,
) -> None:
    """``close`` runs in the worker's own event loop (the plugin's teardown): the node's
    teardown still runs, on the loop its setup and firings ran on."""
    client = NodeRegistry(include_builtin=False)
    client.register(spec("tracked", ["in"], ["out"]), Tracked)
    packs = WorkerPacks(PackManifest.from_registry(client), "tcp://w:5", tmp_path / "s")
    Tracked.calls.clear()
    outcomes = [packs.fire(remote("tracked"), {"in": DataPacket(i)}) for i in range(2)]
    assert [(o.error, o.result, o.emitted) for o in outcomes] == [
        (None, {"out": 1}, [("out", -1)]),
        (None, {"out": 2}, [("out", -1)]),
    ]
    packs.close()
    assert [what for what, _, _ in Tracked.calls] == ["setup", "process", "process", "teardown"]
    assert len({loop for _, loop, _ in Tracked.calls}) == 1
    assert {thread for _, _, thread in Tracked.calls} == {"dataflow-worker-loop"}
    assert id(asyncio.get_running_loop()) != Tracked.calls[0][1]


async def read_state(url: str, prefix: str, key: str) -> Any:
    state = RedisState(url, prefix)
    try:
        return await state.get(key)
    finally:
        await state.close()


def test_a_stateful_node_is_bound_to_the_redis_state_it_was_sent_with(
    tmp_path: Path,
    redis_server: Any,  # tests/conftest.py's RedisServer
) -> None:
    write_node(tmp_path / "pack", "counter", COUNTER)
    client = NodeRegistry(paths=[tmp_path / "pack"], include_builtin=False)
    packs = WorkerPacks(PackManifest.from_registry(client), "tcp://w:6", tmp_path / "s")
    where = (redis_server.url, "packs", "g/c")
    node = RemoteNode.of("c", "counter", "1.0.0", {}, state=where)
    outcomes = [packs.fire(node, {"in": DataPacket(i)}) for i in range(3)]
    assert [o.error for o in outcomes] == [None, None, None]
    assert [o.result["out"]["count"] for o in outcomes] == [1, 2, 3]
    assert all(o.result["out"]["same_loop"] for o in outcomes)  # setup's loop
    packs.close()
    assert asyncio.run(read_state(redis_server.url, "packs", "g/c/count")) == 3


def test_a_stateful_node_sent_without_state_is_a_state_problem(tmp_path: Path) -> None:
    write_node(tmp_path / "pack", "counter", COUNTER)
    client = NodeRegistry(paths=[tmp_path / "pack"], include_builtin=False)
    packs = WorkerPacks(PackManifest.from_registry(client), "tcp://w:7", tmp_path / "s")
    error = packs.fire(remote("counter"), {"in": DataPacket(0)}).error
    assert isinstance(error, RemoteError)
    assert error.exception_type == "StateProblem"
    assert error.message == (
        "node 'counter' (counter 1.0.0) keeps state, but no state reached worker tcp://w:7: "
        "a stateful node runs on the cluster with Redis state (config.stateStorage type "
        "redis, or state='redis')"
    )
    packs.close()
