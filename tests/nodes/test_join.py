"""join 2.0.0: the whole right side, then the left streamed through it, as pandas merge.

The node's hooks are driven directly here (``_drive``); graph-level runs through the
runtime, on real data, are in ``tests/oracle``.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from _drive import drive
from _table_nodes import node_registry, run_table_node

from dataflow_jupyter.node import DataFlowNode, StatefulNode

TRADES = pa.table(
    {
        "sym": ["a", "b", "a", "c", None, "b"],
        "qty": [1, 2, 3, 4, 5, 6],
        "note": ["t1", "t2", "t3", "t4", "t5", "t6"],
    }
)
NAMES = pa.table(
    {
        "sym": ["a", "b", "d", None, "a"],
        "name": ["Alpha", "Beta", "Delta", "Nobody", "Again"],
        "note": ["n1", "n2", "n4", "n0", "n5"],
    }
)


@pytest.fixture(scope="module")
def join() -> type[DataFlowNode]:
    return node_registry().get("join", "2.0.0").load()


def run(
    join: type[DataFlowNode],
    settings: dict[str, Any],
    packets: list[tuple[str, pa.Table]],
) -> pa.Table:
    emitted = drive(join("j", settings), packets)
    assert [port for port, _ in emitted if port != "out"] == [], emitted
    return pa.concat_tables([table for _, table in emitted])


def split(port: str, table: pa.Table, rows: int) -> list[tuple[str, pa.Table]]:
    return [(port, table.slice(start, rows)) for start in range(0, len(table), rows)]


def merged(how: str, left: pa.Table = TRADES, right: pa.Table = NAMES, **options: Any) -> Any:
    return left.to_pandas().merge(right.to_pandas(), how=how, **options)


def in_order(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def test_the_spec(join: type[DataFlowNode]) -> None:
    assert issubclass(join, StatefulNode)
    spec = join.spec
    assert (spec.id, spec.version, spec.category) == ("join", "2.0.0", "Table")
    assert [(p.name, p.type.value, p.required) for p in spec.ports.inputs] == [
        ("left", "table", True),
        ("right", "table", True),
    ]
    assert spec.execution.fire == "any"
    assert join("j", {"keys": "sym"}).settings == {
        "keys": "sym",
        "rightKeys": None,
        "how": "inner",
        "leftSuffix": "_x",
        "rightSuffix": "_y",
    }


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer"])
@pytest.mark.parametrize("rows", [1, 2, 10])
def test_every_how_equals_pandas_merge(join: type[DataFlowNode], how: str, rows: int) -> None:
    """The defect: a right side in several tables joined only its first table."""
    # the right side in several tables, interleaved with left tables that must wait for it
    packets = [*split("right", NAMES, rows)]
    packets[1:1] = split("left", TRADES.slice(0, 2), 1)
    packets += split("left", TRADES.slice(2), rows)
    got = run(join, {"keys": "sym", "how": how}, packets).to_pandas()
    expected = merged(how, on="sym")
    if how in ("right", "outer"):  # documented: right-only rows last; pandas orders otherwise
        got, expected = in_order(got), in_order(expected)
    pd.testing.assert_frame_equal(got, expected)


def test_null_keys_match_null_keys_as_in_pandas(join: type[DataFlowNode]) -> None:
    got = run(join, {"keys": "sym"}, [("right", NAMES), ("left", TRADES)])
    assert ("t5", "Nobody") in zip(got["note_x"].to_pylist(), got["name"].to_pylist(), strict=True)


def test_several_keys_named_differently(join: type[DataFlowNode]) -> None:
    left = pa.table({"a": [1, 1, 2, None], "b": ["x", "y", "x", "x"], "v": [1, 2, 3, 4]})
    right = pa.table({"ka": [1, 2, 2, None], "kb": ["x", "x", "x", "x"], "v": [10, 20, 30, 40]})
    settings = {"keys": ["a", "b"], "rightKeys": ["ka", "kb"], "how": "left"}
    got = run(join, settings, [*split("right", right, 3), ("left", left)]).to_pandas()
    expected = merged("left", left, right, left_on=["a", "b"], right_on=["ka", "kb"])
    pd.testing.assert_frame_equal(got, expected)
    assert list(got.columns) == ["a", "b", "v_x", "ka", "kb", "v_y"]


def test_suffixes_and_integer_keys_against_float_keys(join: type[DataFlowNode]) -> None:
    left = pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]})
    right = pa.table({"k": [1.0, 3.0], "v": ["A", "C"]})
    settings = {"keys": "k", "leftSuffix": "_l", "rightSuffix": "_r"}
    got = run(join, settings, [("right", right), ("left", left)])
    assert got.to_pylist() == [{"k": 1, "v_l": "a", "v_r": "A"}, {"k": 3, "v_l": "c", "v_r": "C"}]


def test_no_right_table_and_no_left_table(join: type[DataFlowNode]) -> None:
    got = run(join, {"keys": "sym", "how": "left"}, [("left", TRADES)])
    pd.testing.assert_frame_equal(got.to_pandas(), TRADES.to_pandas())
    got = run(join, {"keys": "sym", "how": "right"}, [("right", NAMES)])
    assert got.column_names == ["sym", "name", "note"]
    assert got.num_rows == NAMES.num_rows


def test_key_problems_go_to_error(join: type[DataFlowNode]) -> None:
    emitted = drive(join("j", {"keys": "ticker"}), [("right", NAMES)])
    ((port, error),) = emitted
    assert (port, error.code.value, error.message) == (
        "error",
        "VALIDATION",
        "join (node 'j'): the table has no column 'ticker'; its columns: sym, name, note",
    )
    numbers = pa.table({"sym": [1, 2], "x": [0, 0]})
    emitted = drive(join("j", {"keys": "sym"}), [("right", numbers), ("left", TRADES)])
    ((port, error),) = emitted
    assert error.message.startswith("join (node 'j'): cannot join on ['sym'] = ['sym']: ")
    emitted = drive(
        join("j", {"keys": "sym", "leftSuffix": "", "rightSuffix": ""}),
        [
            ("right", NAMES),
            ("left", TRADES),
        ],
    )
    ((port, error),) = emitted
    assert "columns ['note'] are on both sides and leftSuffix equals rightSuffix" in error.message


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"keys": []}, "'keys' must be a column name or a non-empty list of distinct column"),
        ({"keys": ["a", "a"]}, "'keys' must be a column name or a non-empty list of distinct"),
        ({"keys": "a", "rightKeys": 1}, "'rightKeys' must be a column name or a non-empty list"),
        ({"keys": "a", "rightKeys": ["b", "c"]}, "'keys' has 1 columns but 'rightKeys' has 2"),
        ({"keys": "a", "how": "cross"}, "setting 'how': expects one of"),
    ],
)
def test_invalid_settings_are_refused(
    join: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        join("j", settings)


def test_through_the_runtime_the_right_side_in_several_tables() -> None:
    """The defects: only the first right table was joined, and with more left tables than
    right ones ``run()`` never returned."""
    registry = node_registry()
    lefts = [TRADES.slice(i, 1).to_pydict() for i in range(len(TRADES))]
    rights = [NAMES.slice(i, 2).to_pydict() for i in range(0, len(NAMES), 2)]
    for how in ("inner", "left", "right", "outer"):
        out, errors = run_table_node(
            registry, "join", {"keys": "sym", "how": how}, {"left": lefts, "right": rights}
        )
        assert errors == []
        got = pa.concat_tables(out).to_pandas()
        expected = merged(how, on="sym")
        if how in ("right", "outer"):
            got, expected = in_order(got), in_order(expected)
        pd.testing.assert_frame_equal(got, expected)
