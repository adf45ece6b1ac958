"""Running the runtime's coroutines from synchronous code, in scripts and in notebooks.

In a script no loop runs: the runtime keeps one private loop, so a debugger's suspended
sources survive from one ``step()`` to the next. In a notebook cell the kernel's loop is
already running in this thread: the call re-enters it through nest-asyncio2 (the maintained
successor of nest-asyncio), so tasks stay on the kernel loop and keep running between cells.

``dataflow_jupyter._aio.running_loop()`` is the one way the package asks "is a loop running
in this thread?".
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

from dataflow_jupyter._aio import running_loop

if TYPE_CHECKING:
    from collections.abc import Coroutine

__all__ = ["LoopOwner"]

T = TypeVar("T")


class LoopOwner:
    """Runs coroutines to completion from synchronous code, always on the same loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop synchronous calls run on: the running one, else a private one."""
        running = running_loop()
        if running is not None:
            return running
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
            # a runtime dropped without close() still closes its loop, in order
            weakref.finalize(self, _close_quietly, self._loop)
        return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion and return its result."""
        loop = self.loop()
        if loop.is_running():
            import nest_asyncio2  # noqa: PLC0415 - only inside a running loop (a notebook)

            nest_asyncio2.apply(loop)
        return loop.run_until_complete(coro)

    def close(self) -> None:
        """Close the private loop, if one was made."""
        if self._loop is not None and not self._loop.is_running():
            self._loop.close()
        self._loop = None


def _close_quietly(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_running() and not loop.is_closed():
        if running_loop() is None:  # else it cannot run here (the finalizer ran inside a loop)
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
