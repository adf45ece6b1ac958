"""Random tables with nulls, split into random batches: aggregate ``total`` and join against
pandas. The nodes' hooks are driven as the runtime's end-of-stream contract calls them
(``tests/nodes/_drive``), so hundreds of cases stay fast; a few go through ``GraphRuntime``."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from _oracle import assert_same, registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "nodes"))
from _drive import drive
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph, IONode, NodeRegistry
from dataflow_jupyter.state import MemoryState
from dataflow_jupyter.testing import spec

OPS = ["sum", "mean", "min", "max", "count", "count_distinct", "stddev", "variance"]
OPS += ["product", "first", "last", "list", "distinct"]
TEXT_OPS = ["min", "max", "count", "count_distinct", "first", "last", "list", "distinct"]
PANDAS = {"count_distinct": "nunique", "stddev": "std", "variance": "var", "product": "prod"}
PANDAS |= {"distinct": "unique"}

REGISTRY = registry()
AGGREGATE = REGISTRY.get("aggregate", "2.0.0").load()
JOIN = REGISTRY.get("join", "2.0.0").load()


@st.composite
def tables(draw: st.DrawFn, max_rows: int = 40) -> pa.Table:
    rows = draw(st.integers(1, max_rows))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(st.one_of(st.none(), values), min_size=rows, max_size=rows))

    return pa.table(
        {
            "k": pa.array(column(st.sampled_from(["a", "b", "c", "d"])), pa.string()),
            "n": pa.array(column(st.integers(0, 3)), pa.int64()),
            "x": pa.array(column(st.floats(-100, 100, allow_nan=False, width=32)), pa.float64()),
            "y": pa.array(column(st.integers(-5, 5)), pa.int64()),
            "s": pa.array(column(st.sampled_from(["p", "q", "r"])), pa.string()),
        }
    )


@st.composite
def cuts(draw: st.DrawFn, table: pa.Table) -> list[pa.Table]:
    """``table`` in random consecutive slices (some empty)."""
    points = sorted(draw(st.lists(st.integers(0, len(table)), max_size=6)))
    bounds = [0, *points, len(table)]
    return [table.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def pandas_total(frame: pd.DataFrame, keys: list[str], specs: list[tuple[str, str]]) -> Any:
    named: dict[str, Any] = {}
    for column, op in specs:
        function: Any = list if op == "list" else PANDAS.get(op, op)
        named[f"{column}_{op}"] = (column, function)
    named["count_all"] = (specs[0][0], "size")
    if not keys:  # one group of every row
        return frame.assign(_all=0).groupby("_all").agg(**named).reset_index(drop=True)
    return frame.groupby(keys).agg(**named).reset_index()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_aggregate_total_equals_pandas_groupby(data: st.DataObject) -> None:
    table = data.draw(tables())
    keys = data.draw(st.sampled_from([["k"], ["k", "n"], ["n"], []]))
    every = [(c, op) for c in ("x", "y") for op in OPS] + [("s", op) for op in TEXT_OPS]
    specs = data.draw(st.lists(st.sampled_from(every), min_size=1, max_size=8, unique=True))
    aggregations = [{"column": c, "op": op} for c, op in specs] + [{"op": "count_all"}]
    node = AGGREGATE("agg", {"keys": keys, "aggregations": aggregations})
    node.bind_state(MemoryState(), "g/agg")
    emitted = drive(node, [("in", t) for t in data.draw(cuts(table))])
    ((port, got),) = emitted
    assert port == "out"
    assert_same(got, pandas_total(table.to_pandas(), keys, specs))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_join_equals_pandas_merge(data: st.DataObject) -> None:
    left = data.draw(tables(30)).select(["k", "n", "x"])
    right = data.draw(tables(12)).select(["k", "n", "y", "x"])
    keys = data.draw(st.sampled_from([["k"], ["k", "n"]]))
    how = data.draw(st.sampled_from(["inner", "left", "right", "outer"]))
    rights = [("right", t) for t in data.draw(cuts(right))]
    lefts = [("left", t) for t in data.draw(cuts(left))]
    early = data.draw(st.integers(0, len(lefts)))  # left tables that come before the right
    packets = lefts[:early] + rights + lefts[early:]
    emitted = drive(JOIN("j", {"keys": keys, "how": how}), packets)
    assert {port for port, _ in emitted} <= {"out"}
    got = pa.concat_tables([t for _, t in emitted], promote_options="permissive")
    expected = left.to_pandas().merge(right.to_pandas(), how=how, on=keys)
    assert_same(got, expected, sort_rows=how in ("right", "outer"))


TABLES: dict[str, list[pa.Table]] = {}


class ArrowSource(IONode):
    """Emits the Arrow tables ``TABLES[name]`` as they are (JSON settings would lose types)."""

    async def run(self, ctx: Any) -> None:
        for table in TABLES[self.settings["name"]]:
            await ctx.emit("out", table)


def arrow_registry() -> NodeRegistry:
    registry = node_registry()
    name = [{"name": "name", "type": "string", "default": ""}]
    registry.register(spec("arrow-source", [], ["out"], settings=name), ArrowSource)
    return registry


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_through_the_runtime(data: st.DataObject) -> None:
    left, right = data.draw(tables(20)), data.draw(tables(10)).select(["k", "y"])
    how = data.draw(st.sampled_from(["inner", "left", "right", "outer"]))
    TABLES["left"], TABLES["right"] = data.draw(cuts(left)), data.draw(cuts(right))
    registry = arrow_registry()
    graph = Graph(id="random-join", registry=registry)
    node = graph.add_node("join", settings={"keys": "k", "how": how}, id="j")
    for port in ("left", "right"):
        source = graph.add_node("arrow-source", settings={"name": port}, id=port)
        graph.connect(source, "out", node, port)
    result = run_graph(graph, registry)
    assert result.ok, result.errors
    got = pa.concat_tables(result.outputs["j.out"], promote_options="permissive")
    expected = left.to_pandas().merge(right.to_pandas(), how=how, on="k")
    assert_same(got, expected, sort_rows=how in ("right", "outer"))
