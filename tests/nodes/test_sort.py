"""sort: the whole input, sorted at end of stream like pandas sort_values(kind='stable')."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from _drive import drive
from _table_nodes import node_registry, run_table_node

from dataflow_jupyter.node import DataFlowNode, StatefulNode

ROWS = pa.table(
    {
        "sym": ["b", "a", None, "b", "a", "c", "a"],
        "price": [2.0, None, 1.0, 2.0, 5.0, 3.0, 5.0],
        "seq": [0, 1, 2, 3, 4, 5, 6],
    }
)


@pytest.fixture(scope="module")
def sort() -> type[DataFlowNode]:
    return node_registry().get("sort", "1.0.0").load()


def sorted_by(sort: type[DataFlowNode], rows: int, **settings: Any) -> pa.Table:
    packets = [("in", ROWS.slice(s, rows)) for s in range(0, len(ROWS), rows)]
    emitted = drive(sort("s", settings), packets)
    ((port, table),) = emitted
    assert port == "out"
    return table


def test_the_spec(sort: type[DataFlowNode]) -> None:
    assert issubclass(sort, StatefulNode)
    spec = sort.spec
    assert (spec.id, spec.version, spec.category) == ("sort", "1.0.0", "Table")
    assert [(s.name, s.default) for s in spec.settings] == [
        ("by", None),
        ("ascending", True),
        ("naPosition", "last"),
    ]
    assert "sort_values" in spec.description


@pytest.mark.parametrize("rows", [1, 3, 7])
@pytest.mark.parametrize(
    ("by", "ascending", "na"),
    [
        ("sym", True, "last"),
        (["sym"], False, "first"),
        (["sym", "price"], [True, False], "last"),
        (["price", "sym"], [False, True], "first"),
    ],
)
def test_equals_pandas_sort_values(
    sort: type[DataFlowNode], rows: int, by: Any, ascending: Any, na: str
) -> None:
    table = sorted_by(sort, rows, by=by, ascending=ascending, naPosition=na)
    expected = (
        ROWS.to_pandas()
        .sort_values(by, ascending=ascending, na_position=na, kind="stable")
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(table.to_pandas(), expected)


def test_no_input_gives_an_empty_table(sort: type[DataFlowNode]) -> None:
    ((port, table),) = drive(sort("s", {"by": "x"}), [])
    assert (port, table.num_rows, table.num_columns) == ("out", 0, 0)


def test_a_missing_column_goes_to_error(sort: type[DataFlowNode]) -> None:
    emitted = drive(sort("s", {"by": "when"}), [("in", ROWS)])
    (port, error), *_ = emitted
    assert (port, error.message) == (
        "error",
        "sort (node 's'): the table has no column 'when'; its columns: sym, price, seq",
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"by": []}, "'by' must be a column name or a non-empty list of distinct column names"),
        ({"by": ["a", "a"]}, "'by' must be a column name or a non-empty list of distinct"),
        ({"by": ["a", "b"], "ascending": [True]}, "'ascending' must be true, false or a list of 2"),
        ({"by": "a", "ascending": "yes"}, "'ascending' must be true, false or a list of 1"),
        ({"by": "a", "naPosition": "middle"}, "setting 'naPosition': expects one of"),
    ],
)
def test_invalid_settings_are_refused(
    sort: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sort("s", settings)


def test_through_the_runtime() -> None:
    registry = node_registry()
    tables = [ROWS.slice(s, 2).to_pydict() for s in range(0, len(ROWS), 2)]
    out, errors = run_table_node(
        registry, "sort", {"by": ["sym", "price"], "ascending": [False, True]}, {"in": tables}
    )
    assert errors == []
    (table,) = out
    pd.testing.assert_frame_equal(
        table.to_pandas(),
        ROWS.to_pandas()
        .sort_values(["sym", "price"], ascending=[False, True], kind="stable")
        .reset_index(drop=True),
    )
