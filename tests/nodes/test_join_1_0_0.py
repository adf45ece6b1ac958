"""join 1.0.0, kept for graphs that name it (2.0.0 is tested in test_join.py)."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pytest
from _table_nodes import node_registry, run_table_node

from dataflow_jupyter.node import DataFlowNode, PureNode
from dataflow_jupyter.registry import NodeRegistry

TRADES = {"sym": ["a", "b", "a", "c"], "qty": [1, 2, 3, 4], "note": ["t1", "t2", "t3", "t4"]}
NAMES = {"sym": ["a", "b", "d"], "name": ["Alpha", "Beta", "Delta"], "note": ["n1", "n2", "n4"]}


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def join(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("join", "1.0.0").load()


def joined(
    registry: NodeRegistry, settings: dict[str, Any], left: Any = TRADES, right: Any = NAMES
) -> list[dict[str, Any]]:
    out, errors = run_table_node(
        registry, "join", settings, version="1.0.0", inputs={"left": [left], "right": [right]}
    )
    assert errors == []
    (table,) = out
    # The row order of a hash join is not defined: compare sorted.
    return table.sort_by([("sym", "ascending"), ("qty", "ascending")]).to_pylist()


def test_the_spec(join: type[DataFlowNode]) -> None:
    assert issubclass(join, PureNode)
    spec = join.spec
    assert (spec.id, spec.version, spec.category) == ("join", "1.0.0", "Table")
    assert [(p.name, p.type.value, p.required) for p in spec.ports.inputs] == [
        ("left", "table", True),
        ("right", "table", True),
    ]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "table"),
        ("error", "error_packet"),
    ]
    assert spec.execution.fire == "all"
    assert join("j", {"keys": "sym"}).settings == {
        "keys": "sym",
        "rightKeys": None,
        "how": "inner",
        "leftSuffix": "",
        "rightSuffix": "_right",
    }


def test_inner(registry: NodeRegistry) -> None:
    assert joined(registry, {"keys": "sym"}) == [
        {"sym": "a", "qty": 1, "note": "t1", "name": "Alpha", "note_right": "n1"},
        {"sym": "a", "qty": 3, "note": "t3", "name": "Alpha", "note_right": "n1"},
        {"sym": "b", "qty": 2, "note": "t2", "name": "Beta", "note_right": "n2"},
    ]


def test_left_right_outer(registry: NodeRegistry) -> None:
    left = joined(registry, {"keys": ["sym"], "how": "left"})
    assert [(r["sym"], r["qty"], r["name"]) for r in left] == [
        ("a", 1, "Alpha"),
        ("a", 3, "Alpha"),
        ("b", 2, "Beta"),
        ("c", 4, None),
    ]
    right = joined(registry, {"keys": ["sym"], "how": "right"})
    assert [(r["sym"], r["qty"], r["name"]) for r in right] == [
        ("a", 1, "Alpha"),
        ("a", 3, "Alpha"),
        ("b", 2, "Beta"),
        ("d", None, "Delta"),
    ]
    outer = joined(registry, {"keys": ["sym"], "how": "outer"})
    assert [(r["sym"], r["qty"], r["name"]) for r in outer] == [
        ("a", 1, "Alpha"),
        ("a", 3, "Alpha"),
        ("b", 2, "Beta"),
        ("c", 4, None),
        ("d", None, "Delta"),
    ]


def test_right_keys_and_suffixes(registry: NodeRegistry) -> None:
    names = {"ticker": ["a", "c"], "note": ["n1", "n3"]}
    rows = joined(
        registry,
        {"keys": "sym", "rightKeys": "ticker", "leftSuffix": "_l", "rightSuffix": "_r"},
        right=names,
    )
    assert rows == [
        {"sym": "a", "qty": 1, "note_l": "t1", "note_r": "n1"},
        {"sym": "a", "qty": 3, "note_l": "t3", "note_r": "n1"},
        {"sym": "c", "qty": 4, "note_l": "t4", "note_r": "n3"},
    ]


def test_pairs_the_kth_left_with_the_kth_right(registry: NodeRegistry) -> None:
    lefts = [{"k": [1, 2]}, {"k": [3]}]
    rights = [{"k": [2], "v": ["x"]}, {"k": [3], "v": ["y"]}]
    out, errors = run_table_node(
        registry, "join", {"keys": "k"}, {"left": lefts, "right": rights}, "1.0.0"
    )
    assert [t.to_pylist() for t in out] == [[{"k": 2, "v": "x"}], [{"k": 3, "v": "y"}]]
    assert out[0].schema == pa.schema([("k", pa.int64()), ("v", pa.string())])


def test_key_problems_go_to_error(registry: NodeRegistry) -> None:
    out, errors = run_table_node(
        registry, "join", {"keys": "ticker"}, {"left": [TRADES], "right": [NAMES]}, "1.0.0"
    )
    assert out == []
    (error,) = errors
    assert (error.code.value, error.message) == (
        "VALIDATION",
        "join (node 't'): the left table has no key column 'ticker'; its columns: sym, qty, note",
    )
    numbers = {"sym": [1, 2], "x": [0, 0]}
    out, errors = run_table_node(
        registry, "join", {"keys": "sym"}, {"left": [TRADES], "right": [numbers]}, "1.0.0"
    )
    (error,) = errors
    assert error.message.startswith("join (node 't'): cannot join on ['sym'] = ['sym']: ")


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
