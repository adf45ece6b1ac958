"""The runtime: runs graphs on asyncio, with backpressure, retries, a dead-letter queue,
an execution log and a cell-driven debugger. ``GraphRuntime`` is the entry point."""

from __future__ import annotations

from dataflow_jupyter.runtime.channels import Channel
from dataflow_jupyter.runtime.debugger import Debugger, Step
from dataflow_jupyter.runtime.errors import DeadLetter, DeadLetterQueue, StallError
from dataflow_jupyter.runtime.inspect import RunResult, frame_of
from dataflow_jupyter.runtime.log import ExecutionLog
from dataflow_jupyter.runtime.scheduler import GraphRuntime
from dataflow_jupyter.runtime.stats import EdgeStats, NodeStats, Stats

__all__ = [
    "Channel",
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
    "frame_of",
]
