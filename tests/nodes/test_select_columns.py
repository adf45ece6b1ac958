from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from _table_nodes import node_registry, run_graph, run_table_node

from dataflow_jupyter import Graph
from dataflow_jupyter.node import DataFlowNode, PureNode
from dataflow_jupyter.registry import NodeRegistry

PRICES = {"sym": ["a", "b"], "price": [1.5, 2.0], "qty": [3, 4]}


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def select_columns(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("select-columns", "1.0.0").load()


def test_the_spec(select_columns: type[DataFlowNode]) -> None:
    assert issubclass(select_columns, PureNode)
    spec = select_columns.spec
    assert (spec.id, spec.version, spec.category) == ("select-columns", "1.0.0", "Table")
    assert [(p.name, p.type.value) for p in spec.ports.inputs] == [("in", "table")]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "table"),
        ("error", "error_packet"),
    ]
    assert spec.execution.offload == "none"  # a selection copies nothing


def test_keeps_the_listed_columns_in_order(registry: NodeRegistry) -> None:
    out, errors = run_table_node(
        registry, "select-columns", {"columns": ["qty", "sym"]}, {"in": [PRICES, PRICES]}
    )
    assert errors == []
    assert [t.to_pylist() for t in out] == [[{"qty": 3, "sym": "a"}, {"qty": 4, "sym": "b"}]] * 2
    assert out[0].schema == pa.schema([("qty", pa.int64()), ("sym", pa.string())])


def test_shares_the_data(registry: NodeRegistry) -> None:
    graph = Graph(id="sel", registry=registry)
    src = graph.add_node("table-source", settings={"tables": [PRICES]})
    node = graph.add_node("select-columns", settings={"columns": ["price"]})
    graph.connect(src, "out", node, "in")
    result = run_graph(graph, registry)
    (received,) = result.frames[f"{node}.in"]
    (sent,) = result.packets[f"{node}.out"]
    assert sent.trace_id == received.trace_id
    before = received.binary_value.column("price").chunk(0).buffers()[1]
    after = sent.binary_value.column("price").chunk(0).buffers()[1]
    assert after.address == before.address  # no copy


def test_a_missing_column_names_the_available_ones(registry: NodeRegistry) -> None:
    out, errors = run_table_node(
        registry, "select-columns", {"columns": ["sym", "volume"]}, {"in": [PRICES]}
    )
    assert out == []
    (error,) = errors
    assert (error.code.value, error.node_id, error.message) == (
        "VALIDATION",
        "t",
        "select-columns (node 't'): the table has no column 'volume'; its columns: sym, price, qty",
    )


def test_rows_as_a_list_of_dicts(registry: NodeRegistry) -> None:
    graph = Graph(id="sel", registry=registry)
    rows = [{"sym": "a", "price": 1.5}, {"sym": "b", "price": 2.0}]
    src = graph.add_node("inject", settings={"value": rows})
    node = graph.add_node("select-columns", settings={"columns": ["price"]})
    graph.connect(src, "out", node, "in")
    (table,) = run_graph(graph, registry).outputs[f"{node}.out"]
    assert table.to_pylist() == [{"price": 1.5}, {"price": 2.0}]


@pytest.mark.parametrize("columns", [[], "sym", ["sym", "sym"], ["sym", 1], None])
def test_invalid_columns_are_refused(select_columns: type[DataFlowNode], columns: Any) -> None:
    with pytest.raises(ValueError, match="'columns'") as info:
        select_columns("sel", {"columns": columns})
    if columns is not None:
        assert "must be a non-empty list of distinct column names" in str(info.value)
