"""The runtime: runs graphs on asyncio, with backpressure, retries, a dead-letter queue,
an execution log and a cell-driven debugger. ``GraphRuntime`` is the entry point.

Exported here is what a user meets: the runtime, the results and counters it returns, the
debugger and its steps, the dead-letter queue and its letters, the log, and the errors a
run raises (``StallError``, ``NodeStartError``). The events a subscriber receives are in
``runtime.events``. The modules whose names start with an underscore (sessions, channels,
firings, placement, batches, pushdown, progress) are the runtime's internals: nothing
outside the runtime imports them but its tests.
"""

from __future__ import annotations

from dataflow_jupyter.runtime._session import NodeStartError
from dataflow_jupyter.runtime.debugger import Debugger, Step
from dataflow_jupyter.runtime.errors import (
    ClusterLostError,
    DeadLetter,
    DeadLetterQueue,
    StallError,
)
from dataflow_jupyter.runtime.frames import RunResult
from dataflow_jupyter.runtime.log import ExecutionLog
from dataflow_jupyter.runtime.scheduler import GraphRuntime
from dataflow_jupyter.runtime.stats import EdgeStats, NodeStats, Stats

__all__ = [
    "ClusterLostError",
    "DeadLetter",
    "DeadLetterQueue",
    "Debugger",
    "EdgeStats",
    "ExecutionLog",
    "GraphRuntime",
    "NodeStartError",
    "NodeStats",
    "RunResult",
    "StallError",
    "Stats",
    "Step",
]
