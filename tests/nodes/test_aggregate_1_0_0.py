"""aggregate 1.0.0, kept for graphs that name it (2.0.0 is tested in test_aggregate.py)."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pytest
from _table_nodes import node_registry, run_table_node

from dataflow_jupyter.node import DataFlowNode, PureNode
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.spec import SettingsError

TRADES = {
    "sym": ["b", "a", "b", "c", "a", "b"],
    "day": [1, 1, 1, 2, 2, 2],
    "price": [10.0, 1.0, 20.0, 5.0, 3.0, None],
    "qty": [1, 2, 3, 4, 5, 6],
}


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def aggregate(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("aggregate", "1.0.0").load()


def aggregated(registry: NodeRegistry, **settings: Any) -> list[dict[str, Any]]:
    out, errors = run_table_node(
        registry, "aggregate", settings, version="1.0.0", inputs={"in": [TRADES]}
    )
    assert errors == []
    (table,) = out
    return table.to_pylist()


def test_the_spec(aggregate: type[DataFlowNode]) -> None:
    assert issubclass(aggregate, PureNode)
    spec = aggregate.spec
    assert (spec.id, spec.version, spec.category) == ("aggregate", "1.0.0", "Table")
    assert [(p.name, p.type.value) for p in spec.ports.inputs] == [("in", "table")]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "table"),
        ("error", "error_packet"),
    ]
    assert [(s.name, s.default) for s in spec.settings] == [("keys", []), ("aggregations", None)]


def test_group_by_one_key_in_order_of_first_row(registry: NodeRegistry) -> None:
    rows = aggregated(
        registry,
        keys=["sym"],
        aggregations=[
            {"column": "price", "op": "mean"},
            {"column": "qty", "op": "sum", "as": "volume"},
            {"op": "count_all"},
            {"column": "price", "op": "count"},
        ],
    )
    assert rows == [
        {"sym": "b", "price_mean": 15.0, "volume": 10, "count_all": 3, "price_count": 2},
        {"sym": "a", "price_mean": 2.0, "volume": 7, "count_all": 2, "price_count": 2},
        {"sym": "c", "price_mean": 5.0, "volume": 4, "count_all": 1, "price_count": 1},
    ]


def test_several_keys_and_ops(registry: NodeRegistry) -> None:
    rows = aggregated(
        registry,
        keys=["day", "sym"],
        aggregations=[
            {"column": "qty", "op": "min"},
            {"column": "qty", "op": "max"},
            {"column": "qty", "op": "list"},
            {"column": "qty", "op": "first", "as": "opening"},
        ],
    )
    assert rows == [
        {"day": 1, "sym": "b", "qty_min": 1, "qty_max": 3, "qty_list": [1, 3], "opening": 1},
        {"day": 1, "sym": "a", "qty_min": 2, "qty_max": 2, "qty_list": [2], "opening": 2},
        {"day": 2, "sym": "c", "qty_min": 4, "qty_max": 4, "qty_list": [4], "opening": 4},
        {"day": 2, "sym": "a", "qty_min": 5, "qty_max": 5, "qty_list": [5], "opening": 5},
        {"day": 2, "sym": "b", "qty_min": 6, "qty_max": 6, "qty_list": [6], "opening": 6},
    ]


def test_no_keys_is_the_whole_table(registry: NodeRegistry) -> None:
    rows = aggregated(
        registry,
        aggregations=[
            {"column": "qty", "op": "sum"},
            {"column": "sym", "op": "count_distinct"},
            {"column": "qty", "op": "sum", "as": "again"},
        ],
    )
    assert rows == [{"qty_sum": 21, "sym_count_distinct": 3, "again": 21}]


def test_each_table_on_its_own(registry: NodeRegistry) -> None:
    settings = {"keys": ["sym"], "aggregations": [{"column": "qty", "op": "sum"}]}
    second = {"sym": ["z"], "qty": [100]}
    out, errors = run_table_node(
        registry, "aggregate", settings, version="1.0.0", inputs={"in": [TRADES, second]}
    )
    assert [t.to_pylist() for t in out] == [
        [{"sym": "b", "qty_sum": 10}, {"sym": "a", "qty_sum": 7}, {"sym": "c", "qty_sum": 4}],
        [{"sym": "z", "qty_sum": 100}],
    ]
    assert out[0].schema == pa.schema([("sym", pa.string()), ("qty_sum", pa.int64())])


def test_a_missing_column_or_a_misfit_op_goes_to_error(registry: NodeRegistry) -> None:
    settings = {"keys": ["venue"], "aggregations": [{"column": "qty", "op": "sum"}]}
    out, errors = run_table_node(
        registry, "aggregate", settings, version="1.0.0", inputs={"in": [TRADES]}
    )
    assert out == []
    (error,) = errors
    assert (error.code.value, error.message) == (
        "VALIDATION",
        "aggregate (node 't'): the table has no column 'venue'; its columns: sym, day, price, qty",
    )
    settings = {"keys": [], "aggregations": [{"column": "sym", "op": "mean"}]}
    out, errors = run_table_node(
        registry, "aggregate", settings, version="1.0.0", inputs={"in": [TRADES]}
    )
    (error,) = errors
    assert error.message.startswith("aggregate (node 't'): cannot compute mean(sym): ")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"aggregations": []}, "'aggregations' must be a non-empty list like"),
        ({"aggregations": ["sum"]}, "aggregations[0] must be an object like"),
        ({"aggregations": [{"column": "x", "op": "median"}]}, "op 'median' is not one of all, "),
        ({"aggregations": [{"op": "sum"}]}, "aggregations[0]: op 'sum' needs a 'column'"),
        (
            {"aggregations": [{"op": "count_all", "column": "x"}]},
            "count_all counts rows and takes no column; use count for non-nulls",
        ),
        (
            {"aggregations": [{"column": "x", "op": "sum", "name": "s"}]},
            "aggregations[0] has unknown field 'name'; the fields are column, op and as",
        ),
        ({"aggregations": [{"column": "x", "op": "list"}]}, "op 'list' needs group keys"),
        (
            {"aggregations": [{"column": "x", "op": "sum"}, {"column": "x", "op": "sum"}]},
            "aggregations[1] is named 'x_sum', like another column of the result",
        ),
        (
            {"keys": ["k"], "aggregations": [{"column": "x", "op": "sum", "as": "k"}]},
            "aggregations[0] is named 'k', like another column of the result",
        ),
        ({"keys": "sym", "aggregations": [{"op": "count_all"}]}, "'keys' must be a list"),
        ({"keys": ["a", "a"], "aggregations": [{"op": "count_all"}]}, "lists a column twice"),
    ],
)
def test_invalid_settings_are_refused(
    aggregate: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        aggregate("agg", settings)
    assert str(info.value).startswith("settings of aggregate 1.0.0 (node 'agg'): ")


def test_aggregations_are_required(aggregate: type[DataFlowNode]) -> None:
    with pytest.raises(SettingsError, match="setting 'aggregations' is required"):
        aggregate("agg", {"keys": ["sym"]})


def test_a_key_named_like_an_aggregate(registry: NodeRegistry) -> None:
    tables, errors = run_table_node(
        registry,
        "aggregate",
        {"keys": ["x_sum"], "aggregations": [{"column": "x", "op": "sum", "as": "total"}]},
        {"in": [{"x_sum": ["a", "a", "b"], "x": [1, 2, 5]}]},
        "1.0.0",
    )
    assert errors == []
    assert tables[0].to_pylist() == [{"x_sum": "a", "total": 3}, {"x_sum": "b", "total": 5}]
