"""Test sources and sinks for the node tests: tables and plain values, source -> node -> sink.

``node_registry()`` is the built-in registry plus these test nodes:

- ``table-source``: emits one Arrow table per entry of ``tables`` (each entry a dict of
  columns, as ``pa.table`` takes it), each a new trace;
- ``values-source``: emits each entry of ``values``, each a new trace;
- ``row-sink``: counts the rows and packets it receives and the peak of
  ``pa.total_allocated_bytes()`` while it does, and keeps nothing.

``run_graph(graph, registry, **options)`` runs a graph to the end and closes the runtime
(its private loop, threads and state), so no test leaves them behind. ``run_table_node``
builds and runs the usual graph of a table node test: one ``table-source`` per input port,
the node (id ``t``) with its ``out`` as the sink, its ``error`` into a ``debug-log`` (``log``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa

from dataflow_jupyter import DataPacket, Graph, IONode, PureNode
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime, RunResult
from dataflow_jupyter.testing import INLINE, spec


class TableSource(IONode):
    async def run(self, ctx: Any) -> None:
        for columns in self.settings["tables"]:
            await ctx.emit("out", pa.table(columns))


class ValuesSource(IONode):
    async def run(self, ctx: Any) -> None:
        for value in self.settings["values"]:
            await ctx.emit("out", value)


class RowSink(PureNode):
    """Counts rows and packets; the counters are class-level so a test can read them."""

    rows: ClassVar[int] = 0
    packets: ClassVar[int] = 0
    peak_bytes: ClassVar[int] = 0

    @classmethod
    def reset(cls) -> None:
        cls.rows = cls.packets = 0
        cls.peak_bytes = pa.total_allocated_bytes()

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        cls = type(self)
        cls.rows += inputs["in"].binary_value.num_rows  # type: ignore[union-attr]
        cls.packets += 1
        cls.peak_bytes = max(cls.peak_bytes, pa.total_allocated_bytes())


def node_registry() -> NodeRegistry:
    """The built-in nodes and the test nodes above."""
    registry = NodeRegistry(
        paths=[],
        include_builtin=True,
        include_env=False,
        include_cwd=False,
        include_entry_points=False,
    )
    tables = [{"name": "tables", "type": "json", "default": []}]
    registry.register(spec("table-source", [], ["out"], settings=tables, **INLINE), TableSource)
    values = [{"name": "values", "type": "json", "default": []}]
    registry.register(spec("values-source", [], ["out"], settings=values, **INLINE), ValuesSource)
    registry.register(spec("row-sink", ["in"], [], settings=[], **INLINE), RowSink)
    return registry


def run_graph(graph: Graph, registry: NodeRegistry, **options: Any) -> RunResult:
    """Run ``graph`` to the end with ``GraphRuntime(graph, registry, **options)``; close it."""
    runtime = GraphRuntime(graph, registry, **options)
    try:
        return runtime.run()
    finally:
        runtime.close()


def run_table_node(
    registry: NodeRegistry,
    type_id: str,
    settings: dict[str, Any],
    inputs: dict[str, list[dict[str, list[Any]]]],
    version: str | None = None,
) -> tuple[list[pa.Table], list[Any]]:
    """Run sources -> ``type_id`` (``version``, else the newest) -> sink; return the tables
    on ``out`` and the errors."""
    graph = Graph(id=type_id, registry=registry)
    node = graph.add_node(type_id, settings=settings, id="t", version=version)
    for port, tables in inputs.items():
        src = graph.add_node("table-source", settings={"tables": tables}, id=f"src_{port}")
        graph.connect(src, "out", node, port)
    log = graph.add_node("debug-log", id="log")
    graph.connect(node, "error", log, "in")
    result = run_graph(graph, registry)
    return result.outputs.get("t.out", []), result.outputs.get("log.out", [])
