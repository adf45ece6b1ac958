"""What the executor tests share: the test pack's node code (written to disk, so the worker
plugin carries their files), ``write_node``, ``local_cluster`` and a byte counter. The
fixtures built on them are in conftest.py."""

from __future__ import annotations

import json
import textwrap
import time
from typing import TYPE_CHECKING, Any

from distributed import Client, LocalCluster

if TYPE_CHECKING:
    from pathlib import Path

# The test pack: folders written to disk, so the worker plugin carries their files.
MAKE_TABLE = """
import numpy as np
import pyarrow as pa
from dataflow_jupyter.node import PureNode

class MakeTable(PureNode):
    def process(self, inputs, ctx):
        rows = int(self.settings["megabytes"] * (1 << 20)) // 8
        table = pa.table({"x": np.arange(rows, dtype=np.int64)})
        return {"out": inputs["in"].derive(binary_value=table)}
"""

ADD_COLUMN = """
import pyarrow.compute as pc
from dataflow_jupyter.node import PureNode

class AddColumn(PureNode):
    def process(self, inputs, ctx):
        table = inputs["in"].table()
        name = f"c{table.num_columns}"
        ctx.emit("rows", table.num_rows)
        return {"out": table.append_column(name, pc.add(table["x"], 1))}
"""

STOP_AT = """
from dataflow_jupyter.node import PureNode

class StopAt(PureNode):
    def process(self, inputs, ctx):
        value = inputs["in"].value
        if value == self.settings["at"]:
            ctx.done()
        return {"out": value}
"""

SLEEPER = """
import os
import time
from dataflow_jupyter.node import PureNode

class Sleeper(PureNode):
    def process(self, inputs, ctx):
        time.sleep(self.settings["seconds"])
        packet = inputs["in"]
        rows = packet.binary_value.num_rows if packet.binary_value is not None else None
        return {"out": {"pid": os.getpid(), "value": packet.value, "rows": rows}}
"""

SUICIDE = """
import os
import signal
from dataflow_jupyter.node import PureNode

class Suicide(PureNode):
    def process(self, inputs, ctx):
        os.kill(os.getpid(), signal.SIGKILL)
"""

FAILS = """
from dataflow_jupyter.node import PureNode

class Fails(PureNode):
    def process(self, inputs, ctx):
        raise ValueError(f"cannot take {inputs['in'].value!r}")
"""

COUNT_UP = """
from dataflow_jupyter.node import IONode

class CountUp(IONode):
    async def run(self, ctx):
        for i in range(self.settings["count"]):
            await ctx.emit("out", i)
"""

COUNTER = """
import asyncio
import os
from dataflow_jupyter.node import StatefulNode

class Counter(StatefulNode):
    async def setup(self):
        self.loop = asyncio.get_running_loop()

    async def process(self, inputs, ctx):
        count = await self.state.get("count", 0) + 1
        await self.state.set("count", count)
        same_loop = asyncio.get_running_loop() is self.loop  # the loop of setup
        return {"out": {"count": count, "same_loop": same_loop, "pid": os.getpid()}}
"""

VERSIONED = """
from dataflow_jupyter.node import PureNode

class Versioned(PureNode):
    def process(self, inputs, ctx):
        return {{"out": {answer!r}}}
"""


def write_node(
    root: Path,
    type_id: str,
    code: str,
    *,
    settings: list[dict[str, Any]] | None = None,
    inputs: tuple[str, ...] = ("in",),
    outputs: tuple[str, ...] = ("out",),
) -> Path:
    """A node folder ``root/Test/<type_id>`` holding ``schema.json`` and ``node.py``."""
    folder = root / "Test" / type_id.replace("-", "_")
    folder.mkdir(parents=True)
    schema = {
        "id": type_id,
        "version": "1.0.0",
        "category": "Test",
        "name": type_id.title(),
        "ports": {
            "inputs": [{"name": name} for name in inputs],
            "outputs": [{"name": name} for name in outputs],
        },
        "settings": settings or [],
    }
    (folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    (folder / "node.py").write_text(textwrap.dedent(code), encoding="utf-8")
    return folder


def local_cluster(n_workers: int = 2) -> LocalCluster:
    """A ``LocalCluster`` of ``n_workers`` processes, one thread each, quiet dashboard port."""
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        worker_dashboard_address=":0",
    )


class BytesReceived:
    """Bytes of every message this process reads from a TCP comm: the client's, and those
    of the scheduler that a ``LocalCluster`` runs in this process (so a table the client
    gathers through the scheduler is counted twice: once into the scheduler, once into the
    client; an upper bound of what reached the kernel)."""

    def __init__(self) -> None:
        self.total = 0


class TaskStream:
    """The tasks the scheduler finishes from its making on (Dask's task stream)."""

    def __init__(self, client: Client) -> None:
        client.get_task_stream()  # the scheduler records the tasks from here on
        self.client = client
        self.started = time.time()

    def keys(self, prefix: str) -> list[str]:
        """The keys of the finished tasks that start with ``prefix``."""
        tasks = self.client.get_task_stream(start=self.started)
        return [str(task["key"]) for task in tasks if str(task["key"]).startswith(prefix)]
