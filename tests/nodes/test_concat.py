from __future__ import annotations

import pyarrow as pa
import pytest
from _table_nodes import node_registry, run_table_node

from dataflow_jupyter.node import DataFlowNode, PureNode
from dataflow_jupyter.registry import NodeRegistry

A = {"sym": ["a", "b"], "qty": [1, 2]}
B = {"sym": ["c"], "qty": [3]}


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def concat(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("concat", "1.0.0").load()


def test_the_spec(concat: type[DataFlowNode]) -> None:
    assert issubclass(concat, PureNode)
    spec = concat.spec
    assert (spec.id, spec.version, spec.category) == ("concat", "1.0.0", "Table")
    assert [(p.name, p.type.value, p.required) for p in spec.ports.inputs] == [
        ("a", "table", True),
        ("b", "table", True),
    ]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "table"),
        ("error", "error_packet"),
    ]
    assert spec.execution.fire == "all"
    assert concat("c").settings == {"promote": "default"}


def test_rows_of_a_then_b_pair_by_pair(registry: NodeRegistry) -> None:
    out, errors = run_table_node(registry, "concat", {}, {"a": [A, B], "b": [B, A]})
    assert errors == []
    assert [t.to_pylist() for t in out] == [
        [{"sym": "a", "qty": 1}, {"sym": "b", "qty": 2}, {"sym": "c", "qty": 3}],
        [{"sym": "c", "qty": 3}, {"sym": "a", "qty": 1}, {"sym": "b", "qty": 2}],
    ]
    assert out[0].column("qty").num_chunks == 2  # stacked, not copied


def test_missing_columns_are_filled_with_nulls(registry: NodeRegistry) -> None:
    other = {"sym": ["d"], "price": [9.5]}
    out, errors = run_table_node(registry, "concat", {}, {"a": [A], "b": [other]})
    (table,) = out
    assert table.to_pylist() == [
        {"sym": "a", "qty": 1, "price": None},
        {"sym": "b", "qty": 2, "price": None},
        {"sym": "d", "qty": None, "price": 9.5},
    ]


def test_promote_permissive_widens_types(registry: NodeRegistry) -> None:
    floats = {"sym": ["e"], "qty": [0.5]}
    out, errors = run_table_node(
        registry, "concat", {"promote": "permissive"}, {"a": [A], "b": [floats]}
    )
    (table,) = out
    assert table.schema == pa.schema([("sym", pa.string()), ("qty", pa.float64())])
    assert table.column("qty").to_pylist() == [1.0, 2.0, 0.5]


@pytest.mark.parametrize(
    ("promote", "b", "hint"),
    [
        ("default", {"sym": ["e"], "qty": [0.5]}, "; try promote 'permissive'"),
        ("none", {"sym": ["d"], "price": [9.5]}, "; try promote 'permissive'"),
        ("permissive", {"sym": ["e"], "qty": [[1]]}, ""),
    ],
)
def test_tables_that_do_not_stack_go_to_error(
    registry: NodeRegistry, promote: str, b: dict[str, list[object]], hint: str
) -> None:
    out, errors = run_table_node(registry, "concat", {"promote": promote}, {"a": [A], "b": [b]})
    assert out == []
    (error,) = errors
    assert error.code.value == "VALIDATION"
    columns = ", ".join(f"{name}: {pa.table(b).schema.field(name).type}" for name in b)
    assert error.message.startswith(
        f"concat (node 't'): cannot stack a table with columns (sym: string, qty: int64) and "
        f"one with ({columns}): "
    )
    assert error.message.endswith(hint)
