"""collect: every table until end of stream, as one table (pandas concat)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from _drive import drive
from _table_nodes import node_registry, run_table_node

from dataflow_jupyter.node import DataFlowNode, StatefulNode

ROWS = pa.table({"x": list(range(10)), "y": [str(i) for i in range(10)]})


@pytest.fixture(scope="module")
def collect() -> type[DataFlowNode]:
    return node_registry().get("collect", "1.0.0").load()


def test_the_spec(collect: type[DataFlowNode]) -> None:
    assert issubclass(collect, StatefulNode)
    spec = collect.spec
    assert (spec.id, spec.version, spec.category) == ("collect", "1.0.0", "Table")
    assert [(s.name, s.default) for s in spec.settings] == [("promote", "default")]


@pytest.mark.parametrize("rows", [1, 3, 100])
def test_one_table_of_everything(collect: type[DataFlowNode], rows: int) -> None:
    packets = [("in", ROWS.slice(s, rows)) for s in range(0, len(ROWS), rows)]
    ((port, table),) = drive(collect("c", {}), packets)
    assert port == "out"
    pd.testing.assert_frame_equal(table.to_pandas(), ROWS.to_pandas())


def test_columns_that_differ(collect: type[DataFlowNode]) -> None:
    packets = [("in", pa.table({"x": [1]})), ("in", pa.table({"x": [2.5], "z": ["a"]}))]
    ((port, error),) = drive(collect("c", {}), packets)
    assert port == "error"
    assert "try promote 'permissive'" in error.message
    ((port, table),) = drive(collect("c", {"promote": "permissive"}), packets)
    assert table.to_pylist() == [{"x": 1.0, "z": None}, {"x": 2.5, "z": "a"}]


def test_no_input_gives_an_empty_table(collect: type[DataFlowNode]) -> None:
    ((port, table),) = drive(collect("c", {}), [])
    assert (port, table.num_rows, table.num_columns) == ("out", 0, 0)


def test_through_the_runtime() -> None:
    registry = node_registry()
    tables = [ROWS.slice(s, 2).to_pydict() for s in range(0, len(ROWS), 2)]
    out, errors = run_table_node(registry, "collect", {}, {"in": tables})
    assert errors == []
    (table,) = out
    pd.testing.assert_frame_equal(table.to_pandas(), ROWS.to_pandas())
