"""LocalExecutor: synchronous calls in a thread pool; cheap nodes inline."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LocalExecutor"]


class _Pool(ThreadPoolExecutor):
    """A thread pool that can add a thread for one whose call was abandoned.

    ``ThreadPoolExecutor`` starts threads up to ``_max_workers`` on demand
    (``_adjust_thread_count``); raising that bound while an abandoned call still runs
    keeps the pool's capacity for everyone else.
    """

    def replace_while_running(self, future: Future[Any]) -> None:
        """Add a thread now; take it back when ``future``'s call returns."""
        with self._shutdown_lock:
            self._max_workers += 1
            self._adjust_thread_count()
        future.add_done_callback(self._give_back)

    def _give_back(self, _future: Future[Any]) -> None:
        with self._shutdown_lock:
            self._max_workers -= 1


class LocalExecutor:
    """Runs synchronous calls in a pool of worker threads; lets the dispatcher run cheap
    nodes inline.

    Worker threads let GIL-releasing work (pyarrow compute, I/O) of independent branches
    overlap, and keep the loop free while a slow node works.
    """

    inline = True

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool: _Pool | None = None

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        if self._pool is None:
            self._pool = _Pool(self.max_workers, thread_name_prefix="dataflow")
        pool = self._pool
        future = pool.submit(partial(fn, *args))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # A call cannot be stopped in its thread. One that runs on (a timeout) gets a
            # replacement thread until it returns, so it never starves the other nodes.
            if not future.cancel():
                pool.replace_while_running(future)
            raise

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
