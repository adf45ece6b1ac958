"""LocalExecutor: async nodes on the loop, synchronous nodes in a thread pool."""

from __future__ import annotations

import asyncio
import inspect
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Runs coroutines on the loop; offloads synchronous calls to worker threads.

    Worker threads let GIL-releasing work (pyarrow compute, I/O) of independent branches
    overlap. A synchronous call with ``offload=False`` runs inline: for cheap nodes a thread
    hop costs more than the work.
    """

    runs_inline = True  # the scheduler may call offload=False synchronous nodes itself

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool: ThreadPoolExecutor | None = None

    async def submit(self, fn: Callable[..., Any], /, *args: Any, offload: bool = True) -> Any:
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        if not offload:
            result = fn(*args)
            return await result if inspect.isawaitable(result) else result
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="dataflow")
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._pool, partial(fn, *args))
        return await result if inspect.isawaitable(result) else result

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
