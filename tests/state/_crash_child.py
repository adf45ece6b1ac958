"""The process that test_crash_persistence kills: ``numbers -> sliding-window`` on real state.

``python _crash_child.py BACKEND TARGET LOG`` (BACKEND ``file`` with TARGET a folder, or
``redis`` with TARGET a URL) imports everything once and prints ``ready``. Then, for each
line ``go <run>`` on stdin, it forks a worker that runs the graph until it is killed,
prints the worker's pid, waits for it and prints ``exit <status>`` (``-9`` for SIGKILL). It
is a small fork server: a fresh interpreter takes over a second to import pandas and
pyarrow here, and the test kills 30 workers per backend.

The worker runs the graph ``crash``: ``src`` (emits ``{"n": run * 1_000_000 + i}`` for
i = 0, 1, ... as fast as the window takes them) into ``win``, the real ``sliding-window``
node (count, sliding, size 5) with a log around each firing. Before a firing it appends
``begin <n>``; after the firing has completed (its state written, its outputs emitted) it
appends ``end <window as a JSON list of n>``. Each record is one ``os.write`` to a file
opened with ``O_APPEND``, followed by ``fsync``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from dataflow_jupyter import Graph, GraphRuntime, NodeRegistry, NodeSpec
from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.packets import DataPacket
from dataflow_jupyter.registry import builtin_nodes_path
from dataflow_jupyter.state import FileState, StateAdapter
from dataflow_jupyter.state.redis import RedisState

GRAPH_ID = "crash"
WINDOW_ID = "win"
WINDOW_KEY = f"{GRAPH_ID}/{WINDOW_ID}/window/null"  # the one window of an unkeyed node
SIZE = 5
PREFIX = "crash"


def make_state(backend: str, target: str) -> StateAdapter:
    if backend == "file":
        return FileState(target)
    return RedisState(target, prefix=PREFIX, retry_for_s=10)


class Numbers(IONode):
    async def run(self, ctx: NodeContext) -> None:
        base = self.settings["run"] * 1_000_000
        i = 0
        while True:
            await ctx.emit("out", DataPacket({"n": base + i}, origin_node=self.node_id))
            i += 1
            if i % 16 == 0:
                await asyncio.sleep(0)


def registry_for(log_fd: int) -> NodeRegistry:
    registry = NodeRegistry([builtin_nodes_path() / "Aggregation"], include_builtin=False)
    window = registry.get("sliding-window", "1.0.0")
    base: Any = window.load()

    def record(line: str) -> None:
        os.write(log_fd, (line + "\n").encode())
        os.fsync(log_fd)

    class LoggedWindow(base):  # type: ignore[misc, valid-type]
        async def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> None:
            record(f"begin {inputs['in'].value['n']}")
            tables: list[Any] = []

            async def emit(port: str, value: Any) -> None:
                if port == "out":
                    tables.append(value)
                await ctx.emit(port, value)

            await super().process(inputs, NodeContext(ctx.node_id, emit, trace_id=ctx.trace_id))
            record("end " + json.dumps([row["n"] for row in tables[-1].to_pylist()]))

    registry.register(window.spec.model_copy(update={"id": "logged-window"}), LoggedWindow)
    source = {
        "id": "numbers",
        "version": "1.0.0",
        "category": "Test",
        "name": "Numbers",
        "ports": {"outputs": [{"name": "out"}]},
        "settings": [{"name": "run", "type": "integer", "default": 0}],
    }
    registry.register(NodeSpec.model_validate(source), Numbers)
    return registry


async def work(backend: str, target: str, log: str, run: int) -> None:
    log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    registry = registry_for(log_fd)
    graph = Graph(id=GRAPH_ID, registry=registry)
    graph.add_node("numbers", settings={"run": run}, id="src")
    graph.add_node("logged-window", settings={"size": SIZE}, id=WINDOW_ID)
    graph.connect("src.out", f"{WINDOW_ID}.in")
    await GraphRuntime(graph, registry, state=make_state(backend, target), log=False).run_async()


def serve(backend: str, target: str, log: str) -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        run = int(line.split()[1])
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the worker: runs until killed
            try:
                asyncio.run(work(backend, target, log, run))
            except BaseException as exc:  # noqa: BLE001 - reported, then a nonzero exit
                print(f"worker failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                os._exit(3)
            os._exit(4)  # the source never ends: reaching here is a failure too
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    serve(*sys.argv[1:4])
