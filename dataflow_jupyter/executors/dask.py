"""DaskExecutor: node firings on a Dask cluster; the only module that names ``distributed``.

What runs where:

- The kernel (the client) runs the graph: the runtime, the sources, every node not placed on
  the cluster (through ``local``, a ``LocalExecutor`` by default: ``submit`` and ``inline``
  behave as before), and this executor's bookkeeping.
- A worker runs a cluster node's firings, one task for one firing (``fire``) or for a
  group fired one after the other (``fire_many``: the runtime groups a cheap pure node's
  queued inputs, so the cost of a task is shared): the task is ``_run_firings(node,
  firings)``, which builds the node instance once per worker (a cache keyed by
  ``RemoteNode``, ``setup()`` awaited once, torn down with the plugin) and calls
  ``process`` (an ``async`` one on the worker process's one event loop) for each; a firing
  that calls ``ctx.done()`` is the group's last. The work itself is
  ``_cluster.WorkerPacks.fire``: plain Python, no Dask.

State: a stateful node on the cluster keeps its state in Redis, the runtime's
``RedisState`` (the runtime refuses other adapters for it). Its ``RemoteNode`` carries that
adapter's URL and key prefix and the node's namespace; each worker binds the node to a
``RedisState`` of its own on them (one per URL and prefix, closed with the plugin), so the
node reads and writes the same keys as in the kernel. Nothing of the state passes through
the client.

Node code on the workers: ``start(registry)`` registers a ``distributed.WorkerPlugin``
(``_NodePacksPlugin``) carrying the registry's packs (``_cluster.PackManifest``): the files
of every node folder (built-in, ``./nodes``, ``DATAFLOW_NODES_PATH``, added paths) with a
digest of each, and the classes registered from Python. The scheduler keeps the plugin and
gives it to every worker, including workers that join later; each writes the folders to its
local directory and checks the digests. Packs from entry points are not carried: install
them on every worker (same version); the worker checks their files' digest against the
client's. A worker that cannot load a node type returns a ``RegistryProblem`` error naming
the node, the worker and the reason (a missing pack, other code under the same version);
the firing fails, it never hangs.

Data handles: a task's outcomes (F, one per firing) stay on the worker that made them.
When they hold no table (``_cluster.holds_tables``), the task returns them as a plain
``list``; the client sees that type in the scheduler's report (``Future.type``) and gathers
F itself: one task, one transfer. When they hold tables, the task returns them as a
``HeldOutcomes``, and a second, tiny task beside it returns F with each table replaced by
its description (``_cluster.strip_tables``); the client turns each into a
``ClusterTable``: a ``RemoteTable`` that holds F's future and where the table is in F (the
firing's index in the task, then the place in its outcome). A packet carrying one
costs the client a few hundred bytes. Passed to another cluster firing, its future goes in
a top-level list argument, so Dask resolves it on the worker (moving the table worker to
worker with Arrow's zero-copy serialization, never through the client) and the table is
put back into the packet there (``_cluster.resolve_inputs``). ``ClusterTable.read()`` is the
only way a table reaches the client. F is kept while any handle into it lives (frames,
the DLQ), and released by Dask when the last one is dropped; it stays a task's result, so
Dask can compute it again from its lineage when the worker holding it dies.

Tasks waiting: ``lookahead(parallelism)`` lets the runtime keep one more task per worker
thread on the cluster beside the running ones, when the cluster has no more threads than
the node's ``parallelism`` (so no more than that many can run at once): a worker that ends
a task starts the next one at once instead of waiting for the kernel's answer and the next
task (a round trip of about 10 ms here). The workers' thread count is read at ``start`` and
again every ``_THREADS_EVERY`` seconds; tasks already waiting when workers join may start
on them.

Faults: a worker that dies mid-firing (SIGKILL, out of memory) is Dask's to handle: the
scheduler reschedules the task on another worker (``distributed.scheduler.allowed-failures``
times) and recomputes inputs lost with the dead worker from their lineage (their firings
run again: a node on the cluster must be pure, or keep its state where a rerun finds it;
the runtime still gets one outcome per ``fire``). A task that killed too many workers
(``KilledWorker``), a cancelled task, a scheduler that went away or a closed client
become a ``RemoteOutcome`` whose error is a recoverable ``RemoteError`` naming the cause:
``fire`` never raises for the cluster's faults. A lost scheduler is noticed at once (the
client cancels its futures when the connection drops; a watchdog also checks the client's
status every ``_WATCH`` seconds).

Cost of a task: one task for firings without tables, two for firings with tables, and the
scheduler's work for each. Measured on a 2-worker ``LocalCluster`` (2 cores) with a trivial
node, one firing per task: about 10.6 ms for a lone firing awaited alone, as for a plain
``client.submit(f).result()`` there (the client sends its messages in batches every 10 ms),
and about 2.3 ms per firing with 8 in flight, as for plain ``client.submit``. The runtime's
groups share that cost: a trivial node's firings cost 0.2-0.4 ms each on the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from distributed import Client, Future, LocalCluster, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from dataflow_jupyter.executors._cluster import (
    HeldOutcomes,
    InputSlot,
    PackManifest,
    RemoteError,
    RemoteOutcome,
    TableStub,
    WorkerPacks,
    dress,
    holds_tables,
    resolve_inputs,
    strip_tables,
    table_at,
)
from dataflow_jupyter.executors.local import LocalExecutor
from dataflow_jupyter.packets import RemoteTable

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping, Sequence

    import pyarrow as pa
    from distributed import Worker

    from dataflow_jupyter.executors import Executor
    from dataflow_jupyter.executors._cluster import RemoteNode, TablePath
    from dataflow_jupyter.packets import DataPacket
    from dataflow_jupyter.registry import NodeRegistry

__all__ = ["ClusterTable", "DaskExecutor"]

_WATCH: Final = 0.5  # seconds between checks of the client's status while a firing runs
_CLIENT_GONE: Final = frozenset({"closing", "closed", "failed", "connecting"})
_THREADS_EVERY: Final = 2.0  # seconds between reads of the cluster's worker threads


class ClusterTable(RemoteTable):
    """A table in a firing's outcome on a Dask worker: its shape here, its data there."""

    __slots__ = ("_future", "nbytes", "num_rows", "path", "schema")

    def __init__(self, future: Future[Any], stub: TableStub) -> None:
        self._future = future  # the firing's full outcome: kept alive while this lives
        self.path: TablePath = stub.path
        self.num_rows = stub.num_rows
        self.nbytes = stub.nbytes
        self.schema = stub.schema

    @property
    def future(self) -> Future[Any]:
        """The Dask future of the outcome that holds the table."""
        return self._future

    def read(self) -> pa.Table:
        """Bring the table to this process (only the table, not the rest of the outcome).

        Blocks the calling thread until the table has arrived (the client's own loop runs
        in a thread of its own, so this may be called from an event loop's thread; a large
        table is better read off the loop: ``await asyncio.to_thread(handle.read)``).
        """
        client = self._future.client
        part = client.submit(table_at, self._future, self.path, pure=False)
        table: pa.Table = part.result()
        return table

    def __repr__(self) -> str:
        return f"<ClusterTable {self.num_rows:,} rows, {self.nbytes:,} bytes in {self._future.key}>"


class _NodePacksPlugin(WorkerPlugin):
    """Carries a registry's node packs to every worker (see the module docstring)."""

    def __init__(self, manifest: PackManifest, name: str) -> None:
        self.manifest = manifest
        self.name = name
        self.packs: WorkerPacks | None = None

    def setup(self, worker: Worker) -> None:
        scratch = Path(worker.local_directory) / self.name
        self.packs = WorkerPacks(self.manifest, worker.address, scratch)

    def teardown(self, worker: Worker) -> None:
        if self.packs is not None:
            self.packs.close()
            self.packs = None


def plugin_name(manifest: PackManifest, session: str) -> str:
    """The name of the worker plugin that carries ``manifest`` for one executor (each has
    its own: closing one executor removes only its plugin)."""
    return f"dataflow-packs-{manifest.token[:12]}-{session}"


def _run_firings(
    plugin: str,
    node: RemoteNode,
    firings: list[tuple[list[str], list[DataPacket]]],
    sources: list[list[RemoteOutcome]],
) -> list[RemoteOutcome]:
    """(A task, on a worker.) ``node``'s firings, one after the other (each ``(ports,
    packets)``; ``sources`` come resolved by Dask); one that calls ``ctx.done()`` is the
    last. Their outcomes: a ``HeldOutcomes`` when any holds a table, else a ``list``."""
    worker = get_worker()
    carrier = worker.plugins.get(plugin)
    packs = getattr(carrier, "packs", None)
    if not isinstance(packs, WorkerPacks):
        message = (
            f"registry problem on worker {worker.address}: node {node.node_id!r} "
            f"({node.type_id} {node.version}) cannot be loaded there: the node packs never "
            "reached this worker (its plugin is missing; was the executor started?)"
        )
        error = RemoteError(message, exception_type="RegistryProblem")
        return [RemoteOutcome(None, [], error, 0, 0, worker.address)] * len(firings)
    outcomes: list[RemoteOutcome] = []
    for ports, packets in firings:
        outcome = packs.fire(node, resolve_inputs(ports, packets, sources))
        outcomes.append(outcome)
        if outcome.wants_no_more:
            break
    return HeldOutcomes(outcomes) if any(map(holds_tables, outcomes)) else outcomes


@dataclass(frozen=True, slots=True)
class _Settled:
    """What awaiting a Dask future gave: its value, or why there is none."""

    value: Any = None
    failure: BaseException | None = None


class DaskExecutor:
    """Runs ``offload: "cluster"`` nodes on a Dask cluster; other nodes as ``local`` does.

    ``client``: ``None`` starts a ``distributed.LocalCluster`` of worker processes on
    ``start()`` (``n_workers``, default one per core, ``threads_per_worker`` each; more
    ``LocalCluster`` arguments in ``cluster_options``) and closes it on ``close()``. An
    address (``"tcp://scheduler:8786"``) connects a client to that cluster; a ``Client``
    is used as it is. Neither is ever shut down by this executor (a client it made from an
    address is closed). Workers need ``dataflow-jupyter`` and any node packs installed
    through entry points; packs from folders are carried to them.
    """

    inline = True

    def __init__(
        self,
        client: Client | str | None = None,
        *,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        local: Executor | None = None,
        cluster_options: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(client, Client) and client.asynchronous:
            msg = (
                "DaskExecutor needs a synchronous Client (Client(..., asynchronous=False)); "
                "it awaits the cluster on the client's own loop"
            )
            raise ValueError(msg)
        self._given = client
        self._n_workers = n_workers
        self._threads = threads_per_worker
        self._cluster_options = dict(cluster_options or {})
        self.local: Executor = local if local is not None else LocalExecutor()
        self._client: Client | None = client if isinstance(client, Client) else None
        self._cluster: LocalCluster | None = None
        self._plugins: set[str] = set()
        self._plugin: str | None = None
        self._starting = asyncio.Lock()
        self._session = secrets.token_hex(3)
        self._count = itertools.count(1)
        self._cluster_threads: int | None = None  # the cluster's worker threads, as last read
        self._threads_read = -math.inf  # when (time.monotonic()) that read was asked for

    def __repr__(self) -> str:
        where = _scheduler_address(self._client) if self._client is not None else "not started"
        return f"<DaskExecutor {where}>"

    @property
    def client(self) -> Client | None:
        """The Dask client, once started (or as given)."""
        return self._client

    @property
    def dashboard_link(self) -> str | None:
        """The Dask dashboard's URL, once started."""
        if self._client is None or self._client.status != "running":
            return None
        link: str | None = self._client.dashboard_link
        return link

    @property
    def lost(self) -> bool:
        """Whether the cluster went away after ``start`` (its client is closed or lost the
        scheduler): the runtime then ends the run."""
        return self._client is not None and self._client.status in _CLIENT_GONE

    def lookahead(self, parallelism: int) -> int:
        """One task waiting per worker thread when the cluster has no more threads than
        ``parallelism`` (then no more than that many can run at once, whatever waits), so
        each worker has its next task at hand when one ends; else none (the thread count
        is read again every couple of seconds: workers that join or leave are seen)."""
        self._read_threads()
        threads = self._cluster_threads
        if threads is None or threads > parallelism:
            return 0
        return threads

    def _read_threads(self) -> None:
        """Ask the scheduler for the workers' threads, at most every ``_THREADS_EVERY``
        seconds, without waiting for the answer."""
        client = self._client
        now = time.monotonic()
        if client is None or client.status != "running":
            return
        if now < self._threads_read + _THREADS_EVERY:
            return
        self._threads_read = now
        read = self._count_threads(client)
        try:
            asyncio.run_coroutine_threadsafe(read, _loop_of(client))
        except RuntimeError:  # the client's loop just closed: the firings will tell
            read.close()

    async def _count_threads(self, client: Client) -> None:
        """(On the client's loop.) The workers' threads, as the scheduler knows them."""
        with contextlib.suppress(Exception):  # a lost scheduler: the firings will tell
            scheduler = client.scheduler
            assert scheduler is not None
            threads = await scheduler.ncores()
            self._cluster_threads = sum(threads.values())

    # -- Executor -----------------------------------------------------------------------------

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Run ``fn(*args)`` in the kernel, as ``local`` does (nodes not on the cluster)."""
        return await self.local.submit(fn, *args)

    async def close(self) -> None:
        """Close the local cluster this executor started, or the client it made; leave a
        given client and its cluster running (the node packs' plugins are removed)."""
        await self.local.close()
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        plugins, self._plugins, self._plugin = self._plugins, set(), None
        if client is None:
            return
        if not isinstance(self._given, Client):
            await asyncio.to_thread(_close, client, cluster)
            return
        self._client = client  # a given client stays usable by a later start()
        if client.status == "running":
            for name in plugins:
                await asyncio.to_thread(client.unregister_worker_plugin, name)

    # -- ClusterExecutor ----------------------------------------------------------------------

    async def start(self, registry: NodeRegistry) -> None:
        """Connect (or start the local cluster) and give every worker ``registry``'s packs;
        again with the same packs: nothing."""
        async with self._starting:
            client = self._client
            if client is None:
                client = await asyncio.to_thread(self._connect)
            manifest = await asyncio.to_thread(PackManifest.from_registry, registry)
            name = plugin_name(manifest, self._session)
            if name not in self._plugins:
                plugin = _NodePacksPlugin(manifest, name)
                await asyncio.to_thread(client.register_plugin, plugin, name)
                self._plugins.add(name)
            self._plugin = name
            threads = await asyncio.to_thread(client.nthreads)
            self._cluster_threads = sum(threads.values())
            self._threads_read = time.monotonic()

    def _connect(self) -> Client:
        """(In a thread.) A client to the given address, or to a new local cluster."""
        if isinstance(self._given, str):
            self._client = Client(self._given)
            return self._client
        options: dict[str, Any] = {
            "n_workers": self._n_workers or os.cpu_count() or 1,
            "threads_per_worker": self._threads,
            "processes": True,
        }
        options.update(self._cluster_options)
        self._cluster = LocalCluster(**options)
        self._client = Client(self._cluster)
        return self._client

    async def fire(self, node: RemoteNode, inputs: Mapping[str, DataPacket]) -> RemoteOutcome:
        """One firing of ``node`` on the cluster; the cluster's faults come back as a
        recoverable error in the outcome. Cancelling the await releases the firing."""
        (outcome,) = await self.fire_many(node, [inputs])
        return outcome

    async def fire_many(
        self, node: RemoteNode, firings: Sequence[Mapping[str, DataPacket]]
    ) -> list[RemoteOutcome]:
        """Firings of ``node`` one after the other in one task on one worker, an outcome
        for each; fewer when one called ``ctx.done()`` (the rest were not fired). A fault of
        the cluster is the same recoverable error in the outcome of each. Cancelling the
        await releases the task."""
        client, plugin = self._client, self._plugin
        if client is None or plugin is None:
            msg = "DaskExecutor.fire before start(registry): the runtime starts it first"
            raise RuntimeError(msg)
        args, sources = _handles_out(firings)
        key = f"dataflow-{node.node_id}-{next(self._count)}-{self._session}"
        try:
            full = client.submit(_run_firings, plugin, node, args, sources, key=key, pure=False)
        except Exception as exc:  # noqa: BLE001 - a closed client, a lost scheduler
            return [_cluster_failure(node, exc, client)] * len(firings)
        try:
            settled = await self._settle(client, _brief(client, full, f"{key}-brief"))
        except asyncio.CancelledError:
            full.cancel()
            raise
        if settled.failure is not None:
            return [_cluster_failure(node, settled.failure, client)] * len(firings)
        outcomes: list[RemoteOutcome] = settled.value
        if not isinstance(outcomes, HeldOutcomes):
            return outcomes  # no table: nothing of them stays on the cluster
        return [dress(outcome, lambda stub: ClusterTable(full, stub)) for outcome in outcomes]

    async def _settle(self, client: Client, coro: Coroutine[Any, Any, _Settled]) -> _Settled:
        """Run ``coro`` on the client's loop, checking the client is still connected."""
        job = _on_loop(client, coro)
        while True:
            done, _ = await asyncio.wait({job}, timeout=_WATCH)
            if done:
                return job.result()
            if client.status in _CLIENT_GONE:
                job.cancel()
                failure = ConnectionError(f"the Dask client is {client.status}")
                return _Settled(failure=failure)


def _handles_out(
    firings: Sequence[Mapping[str, DataPacket]],
) -> tuple[list[tuple[list[str], list[DataPacket]]], list[Future[Any]]]:
    """The firings' inputs as a worker gets them: ``(ports, packets)`` each, every
    ``ClusterTable`` replaced by an ``InputSlot`` into one list of futures that Dask
    resolves on the worker."""
    futures: list[Future[Any]] = []
    index: dict[Any, int] = {}
    args: list[tuple[list[str], list[DataPacket]]] = []
    for inputs in firings:
        packets: list[DataPacket] = []
        for packet in inputs.values():
            handle = packet.binary_value
            if not isinstance(handle, ClusterTable):
                packets.append(packet)
                continue
            key = handle.future.key
            if key not in index:
                index[key] = len(futures)
                futures.append(handle.future)
            slot = InputSlot(index[key], handle.path)
            packets.append(replace(packet, binary_value=slot))
        args.append((list(inputs), packets))
    return args, futures


async def _brief(client: Client, full: Future[Any], key: str) -> _Settled:
    """(On the client's loop.) What the client keeps of the task ``full``: its outcomes as
    they are when they hold no table (one task, one transfer), else those outcomes with each
    table described, made by a second task (``key``) beside it; or the failure. Never
    raises."""
    state = full._state  # set when a client made the future
    assert state is not None
    try:
        await state.wait()  # done, without fetching it (as distributed.wait does)
        if full.status != "finished" or full.type is list:
            value = await client.gather(full, asynchronous=True)  # raises the failure
        else:
            brief = client.submit(strip_tables, full, key=key, pure=False)
            value = HeldOutcomes(await client.gather(brief, asynchronous=True))  # to dress
    except asyncio.CancelledError as exc:  # distributed's cancellations subclass it
        if type(exc) is asyncio.CancelledError:
            raise
        return _Settled(failure=exc)
    except Exception as exc:  # noqa: BLE001 - every fault of the cluster is an outcome
        return _Settled(failure=exc)
    return _Settled(value=value)


def _loop_of(client: Client) -> asyncio.AbstractEventLoop:
    assert client.loop is not None  # a started client has its loop
    loop: asyncio.AbstractEventLoop = client.loop.asyncio_loop  # type: ignore[attr-defined]
    return loop


def _on_loop(client: Client, coro: Coroutine[Any, Any, _Settled]) -> asyncio.Future[_Settled]:
    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, _loop_of(client)))


def _cluster_failure(node: RemoteNode, failure: BaseException, client: Client) -> RemoteOutcome:
    """The outcome of a firing the cluster could not complete (recoverable)."""
    kind = type(failure).__name__
    cause = str(failure) or kind
    if kind == "KilledWorker":
        cause = (
            f"the workers running it died too often ({cause}); the node may be using too "
            "much memory, or crashing its process"
        )
    message = f"node {node.node_id!r} could not run on the cluster: {kind}: {cause}"
    error = RemoteError.from_exception(failure, recoverable=True)
    error = RemoteError(
        message, exception_type=error.exception_type, traceback=error.traceback, recoverable=True
    )
    now = time.time_ns()
    return RemoteOutcome(None, [], error, now, now, _scheduler_address(client))


def _scheduler_address(client: Client) -> str:
    scheduler = client.scheduler
    return str(scheduler.address) if scheduler is not None else "the cluster"


def _close(client: Client, cluster: LocalCluster | None) -> None:
    client.close()
    if cluster is not None:
        cluster.close()
