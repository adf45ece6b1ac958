"""Fixtures of the executor tests: a node pack in a temp folder, a real 2-worker
``LocalCluster`` of processes shared by a module's tests (always closed), and a started
``DaskExecutor`` on it. Tests that kill workers or close a cluster make their own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from _dask_support import (
    ADD_COLUMN,
    COUNT_UP,
    COUNTER,
    FAILS,
    MAKE_TABLE,
    SLEEPER,
    STOP_AT,
    SUICIDE,
    BytesReceived,
    local_cluster,
    write_node,
)
from distributed import Client

from dataflow_jupyter import NodeRegistry
from dataflow_jupyter.executors.dask import DaskExecutor

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test pack: make-table, add-column, sleeper, suicide, stop-at, fails, counter
    (stateful, async), count-up (a source)."""
    root = tmp_path_factory.mktemp("pack")
    mb = [{"name": "megabytes", "type": "number", "default": 1}]
    write_node(root, "make-table", MAKE_TABLE, settings=mb)
    write_node(root, "add-column", ADD_COLUMN, outputs=("out", "rows"))
    seconds = [{"name": "seconds", "type": "number", "default": 0}]
    write_node(root, "sleeper", SLEEPER, settings=seconds)
    write_node(root, "suicide", SUICIDE)
    write_node(root, "stop-at", STOP_AT, settings=[{"name": "at", "type": "integer"}])
    write_node(root, "fails", FAILS)
    write_node(root, "counter", COUNTER)
    count = [{"name": "count", "type": "integer", "default": 1}]
    write_node(root, "count-up", COUNT_UP, settings=count, inputs=())
    return root


@pytest.fixture(scope="module")
def registry(pack: Path) -> NodeRegistry:
    """The built-in nodes and the test pack."""
    return NodeRegistry(paths=[pack])


@pytest.fixture(scope="module")
def shared_client() -> Iterator[Client]:
    """A client of a real 2-worker ``LocalCluster`` (processes) that the tests of a module
    share (starting one takes seconds); tests that kill workers or close the cluster make
    their own (``local_cluster``)."""
    with local_cluster() as cluster, Client(cluster) as connected:
        yield connected


@pytest.fixture
async def executor(shared_client: Client, registry: NodeRegistry) -> AsyncIterator[DaskExecutor]:
    """A started ``DaskExecutor`` on the shared cluster (which it leaves running)."""
    running = DaskExecutor(shared_client)
    await running.start(registry)
    yield running
    await running.close()


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> BytesReceived:
    """Counts the frames that reach ``distributed.comm.tcp``'s reads in this process.

    ``TCP.read`` hands every message it read off the socket to ``from_frames``; the frames'
    sizes summed are the bytes this process received from the workers and the scheduler.
    """
    from distributed.comm import tcp
    from distributed.utils import nbytes

    counter = BytesReceived()
    original = tcp.from_frames

    async def counting(frames: list[Any], *args: Any, **kwargs: Any) -> Any:
        counter.total += sum(nbytes(frame) for frame in frames)
        return await original(frames, *args, **kwargs)

    monkeypatch.setattr(tcp, "from_frames", counting)
    return counter
