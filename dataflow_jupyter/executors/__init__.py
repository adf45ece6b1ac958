"""Executors: where a firing's ``process`` runs.

The scheduler hands every call to an ``Executor``; switching executors changes no graph and
no node. ``LocalExecutor`` runs ``async`` nodes on the loop and synchronous ones in a thread
pool (or inline, for nodes whose spec says ``offload: none``). A Dask executor comes with
the scale-out work and implements the same one method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dataflow_jupyter.executors.local import LocalExecutor

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Executor", "LocalExecutor"]


@runtime_checkable
class Executor(Protocol):
    """Runs one call of a node's ``process``.

    An executor may also have ``runs_inline = True``: the scheduler then calls cheap
    synchronous nodes (``offload: none``) itself, without a ``submit`` per firing.
    """

    async def submit(self, fn: Callable[..., Any], /, *args: Any, offload: bool = True) -> Any:
        """Run ``fn(*args)`` and return its result (awaiting it when it is a coroutine).

        ``offload`` says whether a synchronous ``fn`` may leave the event loop's thread.
        """
        ...

    async def close(self) -> None:
        """Release threads, processes or clients."""
        ...
