"""Table packets in breakpoint conditions and edge filters, and bounded reprs of tables."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from dataflow_jupyter import DataPacket, Graph, IONode, NodeRegistry
from dataflow_jupyter.expressions import TableView, compile_expression, expression_names
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.testing import spec


class Tables(IONode):
    """Emits one table per entry of ``sizes``: that many rows of columns ``price`` and ``sym``."""

    async def run(self, ctx: Any) -> None:
        for rows in self.settings["sizes"]:
            await ctx.emit("out", pa.table({"price": list(range(rows)), "sym": ["a"] * rows}))


@pytest.fixture
def tables_registry(registry: NodeRegistry) -> NodeRegistry:
    sizes = [{"name": "sizes", "type": "json", "default": [1, 7, 0, 12]}]
    registry.register(
        spec("tables", [], [{"name": "out", "type": "table"}], settings=sizes), Tables
    )
    return registry


def table_packet(rows: int) -> DataPacket:
    return DataPacket(None, pa.table({"price": list(range(rows)), "sym": ["x"] * rows}))


def test_value_of_a_table_packet_is_a_read_only_view() -> None:
    names = expression_names(table_packet(5))
    assert isinstance(names["value"], TableView)
    for text, expected in [
        ("len(value)", 5),
        ("value.num_rows", 5),
        ("value.columns", ["price", "sym"]),
        ("'price' in value", True),
        ("'volume' in value", False),
        ("len(value) > 3 and 'sym' in value.columns", True),
    ]:
        assert compile_expression(text).evaluate(names) == expected, text


def test_a_breakpoint_condition_on_row_count_stops_only_where_it_holds(
    tables_registry: NodeRegistry,
) -> None:
    g = Graph(id="bp", registry=tables_registry)
    src = g.add_node("tables")
    log = g.add_node("debug-log")
    g.connect(src, "out", log, "in")
    rt = GraphRuntime(g, tables_registry)
    dbg = rt.debugger()
    dbg.add_breakpoint(log, condition="len(value) > 5")
    hits = []
    while (step := dbg.resume()) is not None:
        hits.append(step.inputs["in"].binary_value.num_rows)
    assert hits == [7, 12]
    rt.close()


def test_an_edge_filter_drops_empty_tables(tables_registry: NodeRegistry) -> None:
    g = Graph(id="filter", registry=tables_registry)
    src = g.add_node("tables")
    log = g.add_node("debug-log")
    g.connect(src, "out", log, "in", filter="len(value) > 0 and 'price' in value")
    rt = GraphRuntime(g, tables_registry)
    rows = [t.num_rows for t in rt.run().outputs[f"{log}.out"]]
    assert rows == [1, 7, 12]
    assert rt.stats.edges["filtered"].tolist() == [1]
    rt.close()


def test_reprs_of_a_big_table_are_bounded(tables_registry: NodeRegistry) -> None:
    big = 1_000_000
    g = Graph(id="repr", registry=tables_registry)
    src = g.add_node("tables", settings={"sizes": [big]})
    log = g.add_node("debug-log")
    g.connect(src, "out", log, "in")
    rt = GraphRuntime(g, tables_registry)
    dbg = rt.debugger()
    dbg.step()  # the emission
    pending = dbg.pending
    assert pending["value"].tolist() == [
        "<table 1,000,000 rows x 2 columns: price: int64, sym: string>"
    ]
    assert len(repr(pending)) < 1_000
    step = dbg.step()
    assert step is not None
    packet = step.inputs["in"]
    assert len(repr(packet)) < 400
    assert "1,000,000 rows" in repr(packet)
    assert len(repr(step)) < 400
    html = step._repr_html_()
    assert len(html) < 100_000
    assert "first 60 of 1,000,000 rows" in html
    assert len(rt.frame(f"{log}.in").to_html(max_rows=60)) < 100_000
    rt.close()


def test_an_error_packet_shows_as_its_dict(registry: NodeRegistry) -> None:
    g = Graph(id="errors", registry=registry)
    src = g.add_node("numbers", settings={"count": 3})
    flaky = g.add_node("flaky", settings={"errorOn": [1]})
    log = g.add_node("debug-log")
    g.connect(src, "out", flaky, "in")
    g.connect(flaky, "error", log, "in", filter="value['code'] == 'VALIDATION'")
    rt = GraphRuntime(g, registry)
    (error,) = rt.run().outputs[f"{log}.out"]
    assert error.message == "refused 1"
    rt.close()
