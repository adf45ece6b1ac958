"""Batches: a worker thread firing a node's queued inputs in a row.

``run_calls`` runs in the executor's thread: each call gets a context of its own (so an emit
after its call returned is told apart as a late emit), the batch stops after a failure or a
``ctx.done()``, and ``Progress`` tells the loop how far it got, so a call that overruns its
timeout can be abandoned while the batch is under way (see ``Firings._on_worker``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from dataflow_jupyter.node import NodeContext
from dataflow_jupyter.packets import ErrorPacket
from dataflow_jupyter.runtime._noderun import DONE, Done

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from dataflow_jupyter.packets import DataPacket

__all__ = ["Outcome", "Progress", "run_calls"]

# (result, exception or timeout error, emitted (port, value) pairs, start_ns, end_ns)
Outcome = tuple[Any, BaseException | ErrorPacket | None, list[tuple[str, Any]], int, int]


class Progress:
    """How far a worker got through a batch of calls (written by its thread)."""

    __slots__ = ("cancelled", "current", "results", "wants_no_more")

    def __init__(self) -> None:
        self.results: list[Outcome] = []
        self.current = (0, time.perf_counter())  # (index, perf_counter at its start)
        self.cancelled = False  # the loop gave up on the batch (a timeout, a stop)
        self.wants_no_more = False  # a call asked ctx.done()

    def given_up(self) -> bool:
        """Whether the loop gave up on the batch (read fresh: the loop sets it any time)."""
        return self.cancelled


def run_calls(
    node_id: str,
    calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...], Mapping[str, DataPacket]]],
    progress: Progress,
    late: list[int],
) -> None:
    """A worker's batch (in its thread): call each in a row until one fails, calls
    ``ctx.done()``, or the loop gave up on the batch. Each call gets a context of its own,
    so what a call emits after it returned is told apart: one entry in ``late`` each."""
    results = progress.results
    for index, (fn, args, inputs) in enumerate(calls):
        if progress.given_up():
            return
        emitted: list[tuple[str, Any]] = []
        returned: list[bool] = []

        def emit(
            port: str,
            value: Any,
            emitted: list[tuple[str, Any]] = emitted,
            returned: list[bool] = returned,
        ) -> Done:
            if returned:
                late.append(1)
            else:
                emitted.append((port, value))
            return DONE

        first = next(iter(inputs.values()), None)
        ctx = NodeContext(node_id, emit, trace_id=first.trace_id if first is not None else None)
        progress.current = (index, time.perf_counter())
        start = time.time_ns()
        result: Any = None
        exc: BaseException | None = None
        try:
            result = fn(*args, ctx)
        except Exception as raised:  # noqa: BLE001 - a node's failure becomes an ErrorPacket
            exc = raised
        end = time.time_ns()
        returned.append(True)
        if progress.given_up():
            return  # the loop already failed this call as a timeout
        results.append((result, exc, emitted, start, end))
        if ctx.wants_no_more:
            progress.wants_no_more = True
            return
        if exc is not None or isinstance(result, ErrorPacket):
            return
