"""Executors: where a firing's synchronous call runs when it leaves the event loop.

The scheduler decides *where* a node's firings run (``runtime._placement``): inline in the
dispatcher, on the loop for an ``async`` node, or on a worker. An ``Executor`` is asked for
two things only: whether the dispatcher may call cheap synchronous nodes itself
(``inline``), and to run a synchronous function off the loop (``submit``), which the
scheduler uses for a batch of a worker-placed node's firings at a time. ``LocalExecutor``
runs them in a thread pool. Switching executors changes no graph and no node.

A ``ClusterExecutor`` can also fire a node on a cluster (a node's ``execution.offload:
"cluster"``): ``start(registry)`` makes the registry's node packs importable on every
worker, ``fire(node, inputs)`` runs one firing there and returns a ``RemoteOutcome`` whose
tables stay on the cluster (``RemoteTable``s), ``fire_many`` runs several in a row as one
unit of the cluster's work, and ``lookahead(parallelism)`` says how many
more of a node's tasks may wait on the cluster beside the ones running. ``DaskExecutor``
(``executors.dask``, needs the extra ``dataflow-jupyter[dask]``) is the one implementation;
it is imported on first use of the name, so this package never imports Dask by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dataflow_jupyter.executors._cluster import RemoteError, RemoteNode, RemoteOutcome
from dataflow_jupyter.executors.local import LocalExecutor

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from dataflow_jupyter.packets import DataPacket
    from dataflow_jupyter.registry import NodeRegistry

__all__ = [
    "ClusterExecutor",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "RemoteError",
    "RemoteNode",
    "RemoteOutcome",
]


def __getattr__(name: str) -> Any:
    """``DaskExecutor`` on first use (Dask is an optional dependency)."""
    if name == "DaskExecutor":
        from dataflow_jupyter.executors.dask import DaskExecutor  # noqa: PLC0415 - optional

        return DaskExecutor
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


@runtime_checkable
class Executor(Protocol):
    """What the scheduler may ask of an executor."""

    #: Whether the dispatcher may call synchronous nodes placed inline itself, on the loop's
    #: thread. ``False`` sends every synchronous firing through ``submit``.
    inline: bool

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Run the synchronous ``fn(*args)`` off the event loop and return its result.

        Cancelling the awaiting task abandons the call: the executor must keep its capacity
        for everyone else while the abandoned call runs on (it cannot be interrupted).
        """
        ...

    async def close(self) -> None:
        """Release threads, processes or clients."""
        ...


@runtime_checkable
class ClusterExecutor(Executor, Protocol):
    """An executor that can also fire nodes on a cluster (``offload: "cluster"``)."""

    @property
    def dashboard_link(self) -> str | None:
        """The cluster dashboard's URL, once started (``None`` before, or when none)."""
        ...

    @property
    def lost(self) -> bool:
        """Whether the cluster went away after it was started (the run then ends)."""
        ...

    def lookahead(self, parallelism: int) -> int:
        """How many tasks (``fire``, ``fire_many``) of a pure node allowed ``parallelism``
        at once may wait on the cluster besides those running, with no more than
        ``parallelism`` of them ever running at once (0: none wait; the runtime sends the
        next task when one ends)."""
        ...

    async def start(self, registry: NodeRegistry) -> None:
        """Connect to (or start) the cluster and make ``registry``'s node packs importable on
        every worker, now and joining later. Idempotent."""
        ...

    async def fire(self, node: RemoteNode, inputs: Mapping[str, DataPacket]) -> RemoteOutcome:
        """Run one firing of ``node`` on the cluster. The cluster's faults come back as a
        recoverable ``RemoteError`` in the outcome; cancelling the await releases it."""
        ...

    async def fire_many(
        self, node: RemoteNode, firings: Sequence[Mapping[str, DataPacket]]
    ) -> list[RemoteOutcome]:
        """Run firings of ``node`` one after the other on one worker, as one unit of the
        cluster's work: an outcome each, in order; fewer when one called ``ctx.done()``
        (the rest were not fired). A fault of the cluster is a recoverable ``RemoteError``
        in the outcome of each; cancelling the await releases them."""
        ...
