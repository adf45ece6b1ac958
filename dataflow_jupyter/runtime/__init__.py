"""The runtime: runs graphs on asyncio, with backpressure, retries, a dead-letter queue,
an execution log and a cell-driven debugger. ``GraphRuntime`` is the entry point.

Exported here is what a user meets: the runtime, the results and counters it returns, the
debugger and its steps, the dead-letter queue and its letters, the log, and ``StallError``.
Everything else (sessions, channels, firings, placement, the events a subscriber receives
in ``runtime.events``) is imported from its own module by the code that needs it.
"""

from __future__ import annotations

from dataflow_jupyter.runtime.debugger import Debugger, Step
from dataflow_jupyter.runtime.errors import DeadLetter, DeadLetterQueue, StallError
from dataflow_jupyter.runtime.frames import RunResult
from dataflow_jupyter.runtime.log import ExecutionLog
from dataflow_jupyter.runtime.scheduler import GraphRuntime
from dataflow_jupyter.runtime.stats import EdgeStats, NodeStats, Stats

__all__ = [
    "DeadLetter",
    "DeadLetterQueue",
    "Debugger",
    "EdgeStats",
    "ExecutionLog",
    "GraphRuntime",
    "NodeStats",
    "RunResult",
    "StallError",
    "Stats",
    "Step",
]
