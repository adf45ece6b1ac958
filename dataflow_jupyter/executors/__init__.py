"""Executors: where a firing's synchronous call runs when it leaves the event loop.

The scheduler decides *where* a node's firings run (``runtime._placement``): inline in the
dispatcher, on the loop for an ``async`` node, or on a worker. An ``Executor`` is asked for
two things only: whether the dispatcher may call cheap synchronous nodes itself
(``inline``), and to run a synchronous function off the loop (``submit``), which the
scheduler uses for a batch of a worker-placed node's firings at a time. ``LocalExecutor``
runs them in a thread pool. Switching executors changes no graph and no node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dataflow_jupyter.executors.local import LocalExecutor

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Executor", "LocalExecutor"]


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
