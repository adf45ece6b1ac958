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
    "sym": ["AAPL", "MSFT", "GOOG", None, "AMZN"],
    "price": [190.5, 410.0, 150.25, 99.0, None],
    "qty": [10, 0, 5, 7, 3],
    "venue name": ["x", "y", "x", "z", "y"],
}
TRADES_FRAME = pa.table(TRADES).to_pandas()


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def filter_rows(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("filter-rows", "1.0.0").load()


def kept(registry: NodeRegistry, expression: str, column: str = "sym") -> list[Any]:
    out, errors = run_table_node(
        registry, "filter-rows", {"expression": expression}, {"in": [TRADES]}
    )
    assert errors == []
    (table,) = out
    return table.column(column).to_pylist()


def test_the_spec(filter_rows: type[DataFlowNode]) -> None:
    assert issubclass(filter_rows, PureNode)
    spec = filter_rows.spec
    assert (spec.id, spec.version, spec.category) == ("filter-rows", "1.0.0", "Table")
    assert [(p.name, p.type.value) for p in spec.ports.inputs] == [("in", "table")]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "table"),
        ("error", "error_packet"),
    ]


def test_keeps_the_rows_where_the_expression_is_true(registry: NodeRegistry) -> None:
    out, errors = run_table_node(
        registry, "filter-rows", {"expression": "price > 150.25"}, {"in": [TRADES, TRADES]}
    )
    assert errors == []
    assert [t.to_pylist() for t in out] == [
        [
            {"sym": "AAPL", "price": 190.5, "qty": 10, "venue name": "x"},
            {"sym": "MSFT", "price": 410.0, "qty": 0, "venue name": "y"},
        ]
    ] * 2


@pytest.mark.parametrize(
    ("expression", "syms"),
    [
        ("qty == 5", ["GOOG"]),
        ("qty != 5", ["AAPL", "MSFT", None, "AMZN"]),
        ("qty >= 7", ["AAPL", None]),
        ("qty <= 3", ["MSFT", "AMZN"]),
        ("3 < qty < 10", ["GOOG", None]),
        ("sym == 'MSFT'", ["MSFT"]),
        ("price > 100 and qty > 0", ["AAPL", "GOOG"]),
        ("qty == 0 or sym == 'AMZN'", ["MSFT", "AMZN"]),
        ("not (qty > 4)", ["MSFT", "AMZN"]),
        ("price * qty > 1000", ["AAPL"]),
        ("price - 100 < 0", [None]),
        ("price / 2 > 100", ["MSFT"]),
        ("qty + 1 == 4", ["AMZN"]),
        ("qty ** 2 > 90", ["AAPL"]),
        ("-qty < -6", ["AAPL", None]),
        ("+qty == 0", ["MSFT"]),
        ("sym in ['AAPL', 'AMZN']", ["AAPL", "AMZN"]),
        ("sym not in ('AAPL', 'AMZN')", ["MSFT", "GOOG", None]),
        ("isin(qty, [0, 7])", ["MSFT", None]),
        ("is_null(sym) or is_null(price)", [None, "AMZN"]),
        ("is_valid(sym) and is_valid(price)", ["AAPL", "MSFT", "GOOG"]),
        ("col('venue name') == 'x'", ["AAPL", "GOOG"]),
        ("starts_with(sym, 'A')", ["AAPL", "AMZN"]),
        ("ends_with(sym, 'T')", ["MSFT"]),
        ("contains(sym, 'OO')", ["GOOG"]),
        ("lower(sym) == 'goog'", ["GOOG"]),
        ("upper(col('venue name')) == 'Z'", [None]),
        ("abs(qty - 5) == 2", [None, "AMZN"]),
        ("True", ["AAPL", "MSFT", "GOOG", None, "AMZN"]),
        ("qty > 100", []),
    ],
)
def test_the_supported_subset(registry: NodeRegistry, expression: str, syms: list[Any]) -> None:
    assert kept(registry, expression) == syms


def test_a_comparison_with_a_null_is_false_as_in_pandas(registry: NodeRegistry) -> None:
    """The defect the pandas oracle found: 'not (x > 1)' dropped the rows where x is null,
    which pandas keeps (NaN > 1 is False, so its negation is True)."""
    assert kept(registry, "price < 1000") == ["AAPL", "MSFT", "GOOG", None]  # AMZN: null price
    assert kept(registry, "not (price < 1000)") == ["AMZN"]
    assert kept(registry, "price != 1") == ["AAPL", "MSFT", "GOOG", None, "AMZN"]
    assert kept(registry, "price < 1000 or qty == 3") == ["AAPL", "MSFT", "GOOG", None, "AMZN"]
    frame = TRADES_FRAME
    for expression, mask in [
        ("not (price < 1000)", ~(frame["price"] < 1000)),
        ("price != 1", frame["price"] != 1),
        ("not (sym == 'AAPL')", ~(frame["sym"] == "AAPL")),
    ]:
        assert kept(registry, expression, "qty") == frame[mask]["qty"].tolist()


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("__import__('os')", "calls '__import__', which filter-rows does not know"),
        ("__import__('os').system('x')", "calls \"__import__('os').system\""),
        ("price.real > 1", "uses an attribute ('price.real')"),
        ("sym[0] == 'A'", "uses indexing ('sym[0]')"),
        ("(lambda: 1)()", "calls 'lambda: 1'"),
        ("qty % 2 == 0", "uses the operator '%'"),
        ("qty // 2 == 0", "uses the operator '//'"),
        ("qty & 1", "uses the operator '&'"),
        ("~qty", "uses '~' (bitwise not); use 'not'"),
        ("sym == None", "compares with None; test for nulls with is_null(x)"),
        ("sym is None", "uses is"),
        ("qty if qty else 0", "uses 'x if c else y'"),
        ("sym in other", "uses 'in' / isin with something else than a list of literals"),
        ("sym in [other]", "uses 'in' / isin with a list holding more than literals"),
        ("qty in [1, 'a']", "lists values of mixed types"),
        ("1 < qty in [1]", "chains 'in' with other comparisons; join them with 'and'"),
        ("col(sym) == 1", "calls col() without exactly one column name string"),
        ("is_null(sym, price)", "calls is_null() with 2 arguments; it takes 1"),
        ("starts_with(sym, other)", "calls starts_with() without (column, 'text')"),
        ("is_null(x=sym)", "passes keyword arguments to is_null()"),
        ("qty > 10000000000000000000000", "uses the constant 10000000000000000000000, which"),
        ("f'{sym}' == 'A'", "uses an f-string"),
        ("[qty]", "uses List"),
    ],
)
def test_anything_else_is_refused(
    filter_rows: type[DataFlowNode], expression: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)) as info:
        filter_rows("f", {"expression": expression})
    assert str(info.value).startswith(f"filter-rows expression {expression!r} ")
    if "nested" not in problem:
        assert str(info.value).endswith(
            "it supports column names (or col('name')), numbers, strings, True/False, "
            "comparisons, in / not in a list, and / or / not, + - * / ** and the functions abs, "
            "col, contains, ends_with, is_null, is_valid, isin, lower, starts_with, upper"
        )


def test_deep_nesting_is_refused(filter_rows: type[DataFlowNode]) -> None:
    expression = "(" * 150 + "qty" + ")" * 150 + " + 1" * 150 + " > 0"
    with pytest.raises(ValueError, match="is nested more than 100 levels deep"):
        filter_rows("f", {"expression": expression})


def test_a_missing_column_or_a_type_error_goes_to_error(registry: NodeRegistry) -> None:
    out, errors = run_table_node(
        registry, "filter-rows", {"expression": "volume > 1"}, {"in": [TRADES]}
    )
    assert out == []
    (error,) = errors
    assert (error.code.value, error.message) == (
        "EXPRESSION",
        "filter-rows (node 't'): expression 'volume > 1' uses column 'volume', which the table "
        "lacks; its columns: sym, price, qty, venue name",
    )
    out, errors = run_table_node(
        registry, "filter-rows", {"expression": "qty + 1"}, {"in": [TRADES]}
    )
    (error,) = errors
    assert error.message.startswith(
        "filter-rows (node 't'): expression 'qty + 1' fails on columns (qty: int64): Filter "
        "expression must evaluate to bool"
    )
    out, errors = run_table_node(
        registry, "filter-rows", {"expression": "qty ** 100 > 0"}, {"in": [TRADES]}
    )
    (error,) = errors
    assert error.message.startswith(
        "filter-rows (node 't'): expression 'qty ** 100 > 0' fails on columns (qty: int64): "
    )
    assert "overflow" in error.message


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "setting 'expression' is required"),
        ({"expression": "price >"}, "setting 'expression': expression 'price >' is not valid"),
    ],
)
def test_invalid_settings_are_refused(
    filter_rows: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        filter_rows("f", settings)
