"""The worker side of a cluster firing: plain Python, no Dask, importable on every worker.

``executors.dask`` moves things; this module says what they are and what a worker does
with them:

- ``RemoteNode``: which node to fire (id, type, exact version, settings as canonical JSON:
  hashable, so it keys the worker's cache of node instances) and, for a stateful node,
  where its state lives (the URL and key prefix of the runtime's ``RedisState``, and the
  node's namespace there, ``<graph id>/<node id>`` as in the kernel).
- ``RemoteOutcome``: what one firing gave (the ``Outcome`` of the runtime's firing path:
  result, emitted values, error, clock) and on which worker. On the worker it holds the real
  tables. A task fires one or more inputs in a row and returns their outcomes, a ``list``,
  or a ``HeldOutcomes`` when any holds a table (the type alone tells the client);
  ``strip_tables`` makes the small copy the client then receives, where each table is a
  ``TableStub`` (where it is in the outcomes, its shape and schema), and the client turns
  the stubs back into handles (``dress``). Outcomes without tables go to the client as
  they are.
- ``RemoteError``: a failure carried from a worker: the original exception's type, message
  and traceback, and whether it is the cluster's fault (``recoverable``: a worker died, the
  cluster went away) or the node's (its own exception, a registry problem).
- ``PackManifest``: the client registry's node packs, as a worker plugin carries them: the
  files of every node folder (with a digest of each folder's files), the ``(id, version)``
  and digest of every entry-point type (those are installed on the workers, not carried),
  and the node classes registered from Python.
- ``WorkerPacks``: one worker's copy of the packs: the folders written to the worker's
  scratch space, a ``NodeRegistry`` over them, node instances by ``RemoteNode`` (built
  and ``setup()`` once, torn down with the plugin), and ``fire``.

Async code on a worker. A node's ``setup``, ``teardown`` and an ``async def process`` run
on the worker process's one long-lived event loop (``WorkerLoop``: a daemon thread running
``loop.run_forever()``; the firing's thread submits the coroutine and waits for its
result). One loop, so what a node opens in ``setup`` (a connection pool, a session) serves
every later firing: ``redis.asyncio`` connections, for one, belong to the loop that opened
them. A synchronous ``process`` is called in the firing's thread as it is.

State on a worker. A ``StatefulNode`` fires on the cluster only with state the workers can
reach: Redis (the graph's validation and the runtime refuse ``memory`` and ``file`` state
there). Its ``RemoteNode`` names the runtime's ``RedisState`` (URL and key prefix) and the
node's namespace; the worker binds the instance to a ``RedisState`` of the same URL and
prefix under the same namespace, so the node reads and writes the very keys it would in the
kernel. ``WorkerPacks`` makes one ``RedisState`` per (URL, prefix), used on the worker
loop, closed with the packs. Firings of a stateful node follow one another (its
``parallelism`` is 1), each reading what the one before wrote, whichever worker ran it. A
firing that Dask runs again after its worker died (see ``executors.dask``) reads and writes
again: what it wrote before the worker died stays, so a node that must count each input
once keeps, say, the trace id of the last input it counted.

Strict version locking: a worker fires exactly the code the client has. A folder's files are
hashed on the client and again where the worker reads them; an ``(id, version)`` that this
worker process loaded before with other code (a ``node.py`` edited without a new version,
sent by a later client) is refused, since one process cannot hold two codes under one
version. Every such failure is a ``RemoteError`` of type ``RegistryProblem`` naming the node,
the worker and the reason; it is returned, never raised, and never waits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import inspect
import json
import shutil
import threading
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from dataflow_jupyter.node import DataFlowNode, NodeContext, StatefulNode
from dataflow_jupyter.packets import DataPacket, ErrorPacket
from dataflow_jupyter.registry import NodeLoadError, NodeRegistry, UnknownNodeError
from dataflow_jupyter.spec import NodeSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence

    from dataflow_jupyter.state import StateAdapter

__all__ = [
    "HeldOutcomes",
    "InputSlot",
    "PackManifest",
    "RemoteError",
    "RemoteNode",
    "RemoteOutcome",
    "TableStub",
    "WorkerLoop",
    "WorkerPacks",
    "dress",
    "folder_digest",
    "holds_tables",
    "resolve_inputs",
    "strip_tables",
    "table_at",
]

REGISTRY_PROBLEM: Final = "RegistryProblem"
STATE_PROBLEM: Final = "StateProblem"
TEARDOWN_S: Final = 30.0  # how long closing the packs waits for one node's teardown

#: Where a table sits in a task's outcomes: the firing's index in the task, then in its
#: outcome ("r", port) the result's value on ``port``, ("r", port, "b") the binary value of
#: the packet there; ("e", i) and ("e", i, "b") the same for the i-th emitted value; ("x",
#: "b") the packet of an ``ErrorPacket`` result. ``(0, "r", "out", "b")``: the table of the
#: packet the task's first firing returned on ``out``.
TablePath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class RemoteNode:
    """One node instance as a worker fires it."""

    node_id: str
    type_id: str
    version: str
    settings: str  # canonical JSON (json.dumps(..., sort_keys=True)): hashable
    is_stateful: bool = False
    # A stateful node's state: the runtime's RedisState (its URL may hold a password: kept
    # out of repr) and key prefix, and the node's namespace there ("<graph id>/<node id>").
    state_url: str | None = field(default=None, repr=False)
    state_prefix: str | None = None
    state_namespace: str | None = None

    @classmethod
    def of(
        cls,
        node_id: str,
        type_id: str,
        version: str,
        settings: Mapping[str, Any],
        *,
        state: tuple[str, str, str] | None = None,
    ) -> RemoteNode:
        """A ``RemoteNode`` with ``settings`` written as canonical JSON; ``state``: for a
        stateful node, the (URL, key prefix) of its ``RedisState`` and its namespace."""
        text = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"))
        if state is None:
            return cls(node_id, type_id, version, text)
        url, prefix, namespace = state
        return cls(
            node_id,
            type_id,
            version,
            text,
            is_stateful=True,
            state_url=url,
            state_prefix=prefix,
            state_namespace=namespace,
        )


class RemoteError(Exception):
    """A failure carried from a cluster worker (picklable)."""

    def __init__(
        self,
        message: str,
        *,
        exception_type: str,
        traceback: str = "",
        recoverable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exception_type = exception_type
        self.traceback = traceback
        self.recoverable = recoverable

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _remote_error,
            (self.message, self.exception_type, self.traceback, self.recoverable),
        )

    @classmethod
    def from_exception(cls, exc: BaseException, *, recoverable: bool = False) -> RemoteError:
        """The carrier of ``exc``: its type, message and formatted traceback."""
        return cls(
            str(exc) or type(exc).__name__,
            exception_type=type(exc).__qualname__,
            traceback="".join(traceback.format_exception(exc)),
            recoverable=recoverable,
        )


def _remote_error(message: str, kind: str, trace: str, recoverable: bool) -> RemoteError:
    return RemoteError(message, exception_type=kind, traceback=trace, recoverable=recoverable)


@dataclass(frozen=True, slots=True)
class RemoteOutcome:
    """One firing on the cluster: what ``process`` returned and emitted, or why it failed."""

    result: Any
    emitted: list[tuple[str, Any]]
    error: RemoteError | None
    start_ns: int
    end_ns: int
    worker: str
    wants_no_more: bool = False  # the node called ctx.done()


class HeldOutcomes(list[RemoteOutcome]):
    """The outcomes of one task's firings when any of them holds a table: they stay on the
    worker, and the client gets a copy with each table described (``strip_tables``). A
    task's result is of this type exactly when it holds a table (else it is a plain
    ``list``), so the client can tell from the type alone."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class TableStub:
    """A table of an outcome, described: where it is in the outcome, its shape and schema."""

    path: TablePath
    num_rows: int
    nbytes: int
    schema: pa.Schema


@dataclass(frozen=True, slots=True)
class InputSlot:
    """In an input packet sent to a worker: its table is at ``path`` in the outcomes of the
    ``index``-th task handed to the firing (resolved on the worker, never fetched by the
    client)."""

    index: int
    path: TablePath


# -- tables in outcomes ---------------------------------------------------------------------


def _swap_packet(packet: DataPacket, path: TablePath, swap: Callable[[Any, TablePath], Any]) -> Any:
    binary = packet.binary_value
    new = swap(binary, path) if binary is not None else None
    return packet if new is binary else replace(packet, binary_value=new)


def _swap_value(value: Any, path: TablePath, swap: Callable[[Any, TablePath], Any]) -> Any:
    if isinstance(value, DataPacket):
        return _swap_packet(value, (*path, "b"), swap)
    return swap(value, path)


def _rebuild(
    outcome: RemoteOutcome, swap: Callable[[Any, TablePath], Any], at: TablePath = ()
) -> RemoteOutcome:
    """``outcome`` with every table slot passed through ``swap(obj, path)``; each path
    starts with ``at``."""
    result = outcome.result
    if isinstance(result, dict):
        result = {port: _swap_value(v, (*at, "r", port), swap) for port, v in result.items()}
    elif isinstance(result, ErrorPacket) and result.packet is not None:
        result = replace(result, packet=_swap_packet(result.packet, (*at, "x", "b"), swap))
    emitted = [
        (port, _swap_value(v, (*at, "e", i), swap)) for i, (port, v) in enumerate(outcome.emitted)
    ]
    return replace(outcome, result=result, emitted=emitted)


def _stub(obj: Any, path: TablePath) -> Any:
    if isinstance(obj, pa.RecordBatch):
        obj = pa.Table.from_batches([obj])
    if isinstance(obj, pa.Table):
        return TableStub(path, obj.num_rows, obj.nbytes, obj.schema)
    return obj


def holds_tables(outcome: RemoteOutcome) -> bool:
    """Whether ``outcome`` carries an Arrow table anywhere a handle could point."""
    found = False

    def see(obj: Any, _path: TablePath) -> Any:
        nonlocal found
        found = found or isinstance(obj, pa.Table | pa.RecordBatch)
        return obj

    _rebuild(outcome, see)
    return found


def strip_tables(outcomes: Sequence[RemoteOutcome]) -> list[RemoteOutcome]:
    """(On the worker.) A task's ``outcomes`` with each table replaced by its
    ``TableStub`` (its path starts with the firing's index in the task)."""
    return [_rebuild(outcome, _stub, (i,)) for i, outcome in enumerate(outcomes)]


def dress(outcome: RemoteOutcome, handle: Callable[[TableStub], Any]) -> RemoteOutcome:
    """(On the client.) ``outcome`` with each ``TableStub`` replaced by ``handle(stub)``."""
    return _rebuild(outcome, lambda obj, _path: handle(obj) if isinstance(obj, TableStub) else obj)


def table_at(outcomes: Sequence[RemoteOutcome], path: TablePath) -> pa.Table:
    """The table at ``path`` in a task's ``outcomes`` (on the worker that holds them)."""
    index, where, key, *rest = path
    outcome = outcomes[int(index)]
    if where == "r":
        value = outcome.result[key]
    elif where == "e":
        value = outcome.emitted[int(key)][1]
    else:
        value = outcome.result.packet
    data = value.binary_value if rest else value
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if not isinstance(data, pa.Table):
        msg = f"no table at {path} in the outcomes of the task on {outcome.worker}"
        raise LookupError(msg)
    return data


def resolve_inputs(
    ports: Sequence[str],
    packets: Sequence[DataPacket],
    sources: Sequence[Sequence[RemoteOutcome]],
) -> dict[str, DataPacket]:
    """(On the worker.) The firing's inputs, each ``InputSlot`` replaced by its table
    (``sources``: the outcomes of the tasks the slots point into)."""
    inputs: dict[str, DataPacket] = {}
    for port, packet in zip(ports, packets, strict=True):
        slot = packet.binary_value
        if isinstance(slot, InputSlot):
            table = table_at(sources[slot.index], slot.path)
            inputs[port] = replace(packet, binary_value=table)
        else:
            inputs[port] = packet
    return inputs


# -- node packs -----------------------------------------------------------------------------


def _pack_files(folder: Path) -> Iterator[tuple[str, Path]]:
    for file in sorted(folder.rglob("*")):
        relative = file.relative_to(folder)
        hidden = any(p.startswith((".", "__")) for p in relative.parts[:-1])
        if file.is_file() and not hidden and not relative.name.startswith("."):
            yield relative.as_posix(), file


def folder_digest(files: Sequence[tuple[str, bytes]]) -> str:
    """The digest of a node folder's files (names and bytes, in name order)."""
    digest = hashlib.sha256()
    for name, data in sorted(files):
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _read_folder(folder: Path) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, file.read_bytes()) for name, file in _pack_files(folder))


@dataclass(frozen=True, slots=True)
class ShippedFolder:
    """One node folder's files, carried to the workers."""

    type_id: str
    version: str
    digest: str
    files: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class InstalledType:
    """A node type from an entry point: installed on every worker, checked by digest."""

    type_id: str
    version: str
    digest: str


@dataclass(frozen=True, slots=True)
class PackManifest:
    """The node packs of a client's registry, as the worker plugin carries them."""

    token: str  # a digest of everything below: names the plugin
    shipped: tuple[ShippedFolder, ...]
    installed: tuple[InstalledType, ...]
    registered: tuple[tuple[str, type[DataFlowNode]], ...]  # (spec JSON, class)

    @classmethod
    def from_registry(cls, registry: NodeRegistry) -> PackManifest:
        """Read every node folder of ``registry`` (on the client)."""
        shipped: list[ShippedFolder] = []
        installed: list[InstalledType] = []
        registered: list[tuple[str, type[DataFlowNode]]] = []
        for node_type in registry:
            spec = node_type.spec
            if node_type.path is None:
                if node_type.has_class:
                    registered.append((spec.model_dump_json(by_alias=True), node_type.load()))
                continue
            files = _read_folder(node_type.path)
            digest = folder_digest(files)
            if node_type.source.startswith("entry point"):
                installed.append(InstalledType(spec.id, spec.version, digest))
            else:
                shipped.append(ShippedFolder(spec.id, spec.version, digest, files))
        token = hashlib.sha256()
        items: list[ShippedFolder | InstalledType] = [*shipped, *installed]
        for item in items:
            token.update(f"{item.type_id}\0{item.version}\0{item.digest}\0".encode())
        for text, node_class in registered:
            token.update(f"{text}\0{node_class.__module__}.{node_class.__qualname__}\0".encode())
        return cls(token.hexdigest(), tuple(shipped), tuple(installed), tuple(registered))


class _RegistryTroubleError(Exception):
    """A node type this worker cannot load (becomes a ``RegistryProblem`` RemoteError)."""


class _StateTroubleError(Exception):
    """A stateful node sent without its state (becomes a ``StateProblem`` RemoteError)."""


# (id, version) -> digest of the code this worker process loaded under it (strict locking).
_LOADED: dict[tuple[str, str], str] = {}
_LOADED_LOCK: Final = threading.Lock()


class _Sent:
    """What ``ctx.emit`` gives a node firing on a worker: an awaitable already complete."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


_SENT: Final = _Sent()


class WorkerLoop:
    """A long-lived event loop in a daemon thread, where a worker process runs the nodes'
    coroutines (``setup``, ``teardown``, an ``async def process``): ``shared()`` is the
    process's one. It lives as long as the process: nothing to close."""

    _shared: WorkerLoop | None = None
    _shared_lock: Final = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="dataflow-worker-loop", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @classmethod
    def shared(cls) -> WorkerLoop:
        """This process's loop, started on first use (again in a forked child)."""
        with cls._shared_lock:
            if cls._shared is None or not cls._shared._thread.is_alive():
                cls._shared = cls()
            return cls._shared

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Run ``coro`` on the loop and wait (in this thread) for its result; after
        ``timeout`` seconds it is cancelled and ``TimeoutError`` raised."""
        if threading.current_thread() is self._thread:
            coro.close()
            msg = "WorkerLoop.run from the loop's own thread would wait for itself"
            raise RuntimeError(msg)
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


@dataclass
class WorkerPacks:
    """One worker's copy of a client's node packs, and the firings made from them."""

    manifest: PackManifest
    worker: str  # the worker's address
    scratch: Path  # where the shipped folders are written (removed by ``close``)
    registry: NodeRegistry = field(init=False)
    _digests: dict[tuple[str, str], str | None] = field(init=False, default_factory=dict)
    _instances: dict[RemoteNode, DataFlowNode] = field(init=False, default_factory=dict)
    _states: dict[tuple[str, str], StateAdapter] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        manifest = self.manifest
        with warnings.catch_warnings():  # problems are kept in registry.problems, reported
            warnings.simplefilter("ignore")  # by the firing that needs the node
            self.registry = NodeRegistry(
                include_builtin=False, include_entry_points=bool(manifest.installed)
            )
            for index, folder in enumerate(manifest.shipped):
                target = self.scratch / f"{index:04d}-{folder.type_id}-{folder.version}"
                _write_folder(target, folder.files)
                self.registry.add_path(target, source="client")
                self._digests[folder.type_id, folder.version] = folder.digest
            for item in manifest.installed:
                self._digests[item.type_id, item.version] = item.digest
            for text, node_class in manifest.registered:
                spec = NodeSpec.model_validate_json(text)
                if spec.key not in self.registry:
                    self.registry.register(spec, node_class)
                self._digests[spec.key] = None

    # -- firing -------------------------------------------------------------------------------

    def fire(self, node: RemoteNode, inputs: Mapping[str, DataPacket]) -> RemoteOutcome:
        """One firing of ``node`` here; every failure is in the outcome, never raised."""
        start = time.time_ns()
        error: RemoteError | None = None
        try:
            instance = self._instance(node)
        except _RegistryTroubleError as trouble:
            message = (
                f"registry problem on worker {self.worker}: node {node.node_id!r} "
                f"({node.type_id} {node.version}) cannot be loaded there: {trouble}"
            )
            error = RemoteError(message, exception_type=REGISTRY_PROBLEM)
        except _StateTroubleError as trouble:
            error = RemoteError(str(trouble), exception_type=STATE_PROBLEM)
        except Exception as exc:  # noqa: BLE001 - the node's constructor or setup refused
            error = RemoteError.from_exception(exc)
        if error is not None:
            return RemoteOutcome(None, [], error, start, time.time_ns(), self.worker)
        emitted: list[tuple[str, Any]] = []

        def emit(port: str, value: Any) -> Any:
            emitted.append((port, value))
            return _SENT

        first = next(iter(inputs.values()), None)
        ctx = NodeContext(node.node_id, emit, trace_id=first.trace_id if first else None)
        result: Any = None
        start = time.time_ns()
        try:
            result = instance.process(dict(inputs), ctx)  # type: ignore[attr-defined]
            if inspect.isawaitable(result):  # an async process: on the worker's loop
                result = WorkerLoop.shared().run(_awaited(result))
        except Exception as exc:  # noqa: BLE001 - a node's failure is the outcome's error
            error = RemoteError.from_exception(exc)
        end = time.time_ns()
        return RemoteOutcome(result, emitted, error, start, end, self.worker, ctx.wants_no_more)

    def _instance(self, node: RemoteNode) -> DataFlowNode:
        with self._lock:
            instance = self._instances.get(node)
            if instance is None:
                node_class = self._node_class(node.type_id, node.version)
                instance = node_class(node.node_id, json.loads(node.settings))
                if isinstance(instance, StatefulNode):
                    self._bind_state(instance, node)
                if type(instance).setup is not DataFlowNode.setup:
                    WorkerLoop.shared().run(instance.setup())
                self._instances[node] = instance
            return instance

    def _bind_state(self, instance: StatefulNode, node: RemoteNode) -> None:
        """Bind a stateful node to the Redis state the runtime named (under ``_lock``)."""
        url, prefix, namespace = node.state_url, node.state_prefix, node.state_namespace
        if url is None or prefix is None or namespace is None:
            msg = (
                f"node {node.node_id!r} ({node.type_id} {node.version}) keeps state, but no "
                f"state reached worker {self.worker}: a stateful node runs on the cluster "
                "with Redis state (config.stateStorage type redis, or state='redis')"
            )
            raise _StateTroubleError(msg)
        adapter = self._states.get((url, prefix))
        if adapter is None:
            from dataflow_jupyter.state.redis import RedisState  # noqa: PLC0415 - slow import

            adapter = self._states[url, prefix] = RedisState(url, prefix)
        instance.bind_state(adapter, namespace)

    def _node_class(self, type_id: str, version: str) -> type[DataFlowNode]:
        key = (type_id, version)
        if key not in self._digests:
            msg = (
                "the client's registry did not send this node type (is it installed where the "
                "graph runs?)"
            )
            raise _RegistryTroubleError(msg)
        try:
            node_type = self.registry.get(type_id, version)
        except UnknownNodeError as exc:
            why = "; ".join(str(p) for p in self.registry.problems) or str(exc)
            msg = (
                f"{why}. Node types from entry points must be installed on every worker "
                "(pip install the pack there, the same version)"
            )
            raise _RegistryTroubleError(msg) from exc
        expected = self._digests[key]
        if expected is not None and node_type.path is not None:
            here = folder_digest(_read_folder(node_type.path))
            if here != expected:
                msg = (
                    f"its files here ({node_type.path}, digest {here[:12]}) differ from the "
                    f"client's (digest {expected[:12]}): install the same version of the pack "
                    "on the workers"
                )
                raise _RegistryTroubleError(msg)
            _lock_version(key, expected)
        try:
            return node_type.load()
        except NodeLoadError as exc:
            raise _RegistryTroubleError(str(exc)) from exc

    # -- end ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Tear the node instances down (on the worker loop, ``TEARDOWN_S`` each at most),
        close the state adapters and remove the shipped folders."""
        with self._lock:
            instances, self._instances = list(self._instances.values()), {}
            states, self._states = list(self._states.values()), {}
        loop = WorkerLoop.shared() if instances or states else None
        for instance in instances:
            if loop is not None and type(instance).teardown is not DataFlowNode.teardown:
                with contextlib.suppress(Exception):  # one must not stop the others
                    loop.run(instance.teardown(), TEARDOWN_S)
        for state in states:
            if loop is not None:
                with contextlib.suppress(Exception):
                    loop.run(state.close(), TEARDOWN_S)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _lock_version(key: tuple[str, str], digest: str) -> None:
    """Hold ``key`` to ``digest`` in this worker process; refuse other code under it."""
    with _LOADED_LOCK:
        loaded = _LOADED.setdefault(key, digest)
    if loaded != digest:
        msg = (
            f"this worker already runs {key[0]} {key[1]} with other code (digest "
            f"{loaded[:12]}; the client's is {digest[:12]}). Graphs lock exact versions: "
            "give changed code a new version in schema.json, or restart the workers "
            "(client.restart())"
        )
        raise _RegistryTroubleError(msg)


def _write_folder(target: Path, files: Sequence[tuple[str, bytes]]) -> None:
    for name, data in files:
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            continue  # a manifest is made by from_registry; never write outside target
        path = target.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
