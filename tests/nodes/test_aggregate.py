"""aggregate 2.0.0: totals over the whole input, equal to pandas groupby whatever the batches.

The node's hooks are driven directly here (``_drive``); the graph-level runs through the
runtime, on real data, are in ``tests/oracle``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from _drive import drive
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.graph import GraphConfig
from dataflow_jupyter.node import DataFlowNode, StatefulNode
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.spec import SettingsError
from dataflow_jupyter.state import FileState, MemoryState

if TYPE_CHECKING:
    from pathlib import Path

TRADES = pa.table(
    {
        "sym": ["b", "a", "b", "c", "a", "b", None, "a"],
        "day": [1, 1, 1, 2, 2, 2, 2, None],
        "price": [10.0, 1.0, 20.0, 5.0, 3.0, None, 7.0, 2.0],
        "qty": [1, 2, 3, 4, 5, 6, 7, 8],
    }
)
EVERY_OP = [
    "sum", "mean", "min", "max", "count", "count_distinct", "stddev", "variance",
    "product", "first", "last", "any", "all", "list", "distinct",
]  # fmt: skip
PANDAS = {"count_distinct": "nunique", "stddev": "std", "variance": "var", "product": "prod"}


@pytest.fixture(scope="module")
def aggregate() -> type[DataFlowNode]:
    return node_registry().get("aggregate", "2.0.0").load()


def make(aggregate: type[DataFlowNode], **settings: Any) -> Any:
    node = aggregate("agg", settings)
    node.bind_state(MemoryState(), "g/agg")  # type: ignore[attr-defined]
    return node


def batches(table: pa.Table, rows: int) -> list[tuple[str, pa.Table]]:
    return [("in", table.slice(start, rows)) for start in range(0, max(len(table), 1), rows)]


def tables(emitted: list[tuple[str, Any]]) -> list[pa.Table]:
    assert [port for port, _ in emitted if port != "out"] == [], emitted
    return [value for _, value in emitted]


def test_the_spec(aggregate: type[DataFlowNode]) -> None:
    assert issubclass(aggregate, StatefulNode)
    spec = aggregate.spec
    assert (spec.id, spec.version, spec.category) == ("aggregate", "2.0.0", "Table")
    assert [(s.name, s.default) for s in spec.settings] == [
        ("keys", []),
        ("aggregations", None),
        ("mode", "total"),
        ("sort", True),
        ("nullKeys", "drop"),
    ]
    assert "pandas" in spec.description
    assert "ddof=1" in spec.description


@pytest.mark.parametrize("rows", [1, 3, 100])
def test_groups_across_batches_once_each(aggregate: type[DataFlowNode], rows: int) -> None:
    """The defect: each batch was grouped on its own, so a group came once per batch."""
    node = make(
        aggregate,
        keys=["day", "sym"],
        aggregations=[{"op": "count_all"}, {"column": "qty", "op": "sum"}],
    )
    (table,) = tables(drive(node, batches(TRADES, rows)))
    expected = (
        TRADES.to_pandas()
        .groupby(["day", "sym"])
        .agg(count_all=("qty", "size"), qty_sum=("qty", "sum"))
        .reset_index()
    )
    got = table.to_pandas()
    got["day"] = got["day"].astype("float64")  # the key has a null: pandas made it float
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("rows", [1, 2, 5, 8])
@pytest.mark.parametrize("column", ["price", "qty"])
def test_every_op_equals_pandas(aggregate: type[DataFlowNode], rows: int, column: str) -> None:
    aggregations = [{"column": column, "op": op} for op in EVERY_OP if op not in ("any", "all")]
    node = make(aggregate, keys=["sym"], aggregations=[*aggregations, {"op": "count_all"}])
    (table,) = tables(drive(node, batches(TRADES, rows)))
    frame = TRADES.to_pandas()
    grouped = frame.groupby("sym")[column]
    for aggregation in aggregations:
        op = aggregation["op"]
        got = table[f"{column}_{op}"].to_pylist()
        if op in ("list", "distinct"):
            values = grouped.agg(list) if op == "list" else grouped.unique()
            _same_lists(got, [list(v) for v in values])
        else:
            expected = grouped.agg(PANDAS.get(op, op)).tolist()
            np.testing.assert_allclose(
                np.array(_nan(got), float), np.array(_nan(expected), float), rtol=1e-12
            )
    assert table["count_all"].to_pylist() == grouped.size().tolist()
    assert table["sym"].to_pylist() == ["a", "b", "c"]  # sorted; the null key left out


def _nan(values: list[Any]) -> list[Any]:
    return [np.nan if v is None else v for v in values]


def _same_lists(got: list[list[Any]], expected: list[list[Any]]) -> None:
    assert [[None if pd.isna(x) else x for x in v] for v in got] == [
        [None if pd.isna(x) else x for x in v] for v in expected
    ]


def test_any_and_all_skip_nulls_like_pandas(aggregate: type[DataFlowNode]) -> None:
    table = pa.table({"k": ["a", "a", "b", "c"], "flag": [True, None, None, False]})
    node = make(
        aggregate,
        keys=["k"],
        aggregations=[{"column": "flag", "op": "any"}, {"column": "flag", "op": "all"}],
    )
    (result,) = tables(drive(node, batches(table, 1)))
    assert result.to_pylist() == [
        {"k": "a", "flag_any": True, "flag_all": True},
        {"k": "b", "flag_any": False, "flag_all": True},  # pandas: any/all of nothing
        {"k": "c", "flag_any": False, "flag_all": False},
    ]


def test_running_sends_the_totals_after_every_batch(aggregate: type[DataFlowNode]) -> None:
    node = make(
        aggregate, keys=["sym"], aggregations=[{"column": "qty", "op": "sum"}], mode="running"
    )
    out = tables(drive(node, batches(TRADES, 3)))
    assert [t.to_pylist() for t in out] == [
        [{"sym": "a", "qty_sum": 2}, {"sym": "b", "qty_sum": 4}],
        [{"sym": "a", "qty_sum": 7}, {"sym": "b", "qty_sum": 10}, {"sym": "c", "qty_sum": 4}],
        [{"sym": "a", "qty_sum": 15}, {"sym": "b", "qty_sum": 10}, {"sym": "c", "qty_sum": 4}],
    ]


def test_batch_mode_aggregates_each_table_on_its_own(aggregate: type[DataFlowNode]) -> None:
    node = make(
        aggregate,
        keys=["sym"],
        aggregations=[{"column": "price", "op": "approximate_median"}],
        mode="batch",
        sort=False,
    )
    out = tables(drive(node, batches(TRADES, 4)))
    assert [t.to_pylist() for t in out] == [
        [
            {"sym": "b", "price_approximate_median": 10.0},
            {"sym": "a", "price_approximate_median": 1.0},
            {"sym": "c", "price_approximate_median": 5.0},
        ],
        [
            {"sym": "a", "price_approximate_median": 2.0},
            {"sym": "b", "price_approximate_median": None},
        ],
    ]


def test_group_order_and_null_keys(aggregate: type[DataFlowNode]) -> None:
    settings = {"keys": ["sym"], "aggregations": [{"op": "count_all"}]}
    frame = TRADES.to_pandas()
    for sort in (True, False):
        for null_keys in ("drop", "keep"):
            node = make(aggregate, **settings, sort=sort, nullKeys=null_keys)
            (table,) = tables(drive(node, batches(TRADES, 3)))
            expected = frame.groupby("sym", sort=sort, dropna=null_keys == "drop").size()
            assert table["sym"].to_pylist() == [None if pd.isna(k) else k for k in expected.index]
            assert table["count_all"].to_pylist() == expected.tolist()


def test_no_keys_is_one_row_also_for_no_rows(aggregate: type[DataFlowNode]) -> None:
    aggregations = [
        {"column": "qty", "op": op} for op in ("sum", "mean", "count", "list", "product")
    ]
    node = make(aggregate, aggregations=[*aggregations, {"op": "count_all"}])
    (table,) = tables(drive(node, batches(TRADES, 3)))
    assert table.to_pylist() == [
        {"qty_sum": 36, "qty_mean": 4.5, "qty_count": 8, "qty_list": list(range(1, 9)),
         "qty_product": 40320, "count_all": 8}
    ]  # fmt: skip
    node = make(aggregate, aggregations=[*aggregations, {"op": "count_all"}])
    (table,) = tables(drive(node, [("in", TRADES.slice(0, 0))]))
    assert table.to_pylist() == [
        {"qty_sum": 0, "qty_mean": None, "qty_count": 0, "qty_list": [], "qty_product": 1,
         "count_all": 0}
    ]  # fmt: skip


def test_no_input_at_all_sends_nothing(aggregate: type[DataFlowNode]) -> None:
    node = make(aggregate, keys=["sym"], aggregations=[{"op": "count_all"}])
    assert drive(node, []) == []


def test_the_partials_live_in_the_state_and_a_restart_resumes(
    aggregate: type[DataFlowNode], tmp_path: Path
) -> None:
    settings = {"keys": ["sym"], "aggregations": [{"column": "price", "op": "stddev"}]}
    state = FileState(tmp_path / "state")
    first = aggregate("agg", settings)
    first.bind_state(state, "g/agg")  # type: ignore[attr-defined]
    assert drive(first, batches(TRADES.slice(0, 5), 2), finish=False) == []  # stopped here
    stored = asyncio.run(state.get("g/agg/partial"))
    assert isinstance(stored, pa.Table)
    assert stored["sym"].to_pylist() == ["b", "a", "c"]
    again = aggregate("agg", settings)  # a new run, the same state
    again.bind_state(FileState(tmp_path / "state"), "g/agg")  # type: ignore[attr-defined]
    (table,) = tables(drive(again, batches(TRADES.slice(5), 2)))
    expected = TRADES.to_pandas().groupby("sym")["price"].std()
    np.testing.assert_allclose(table["price_stddev"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert asyncio.run(state.keys("g/agg")) == []  # cleared once the total was sent


def test_partials_made_with_other_settings_are_refused(aggregate: type[DataFlowNode]) -> None:
    state = MemoryState()
    first = aggregate("agg", {"keys": ["sym"], "aggregations": [{"column": "qty", "op": "sum"}]})
    first.bind_state(state, "g/agg")  # type: ignore[attr-defined]
    drive(first, [("in", TRADES)], finish=False)
    other = aggregate("agg", {"keys": ["day"], "aggregations": [{"column": "qty", "op": "sum"}]})
    other.bind_state(state, "g/agg")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="were made with other settings") as info:
        drive(other, [("in", TRADES)])
    assert 'these are {"keys":["day"],' in str(info.value)


def test_a_missing_column_or_a_misfit_op_goes_to_error(aggregate: type[DataFlowNode]) -> None:
    node = make(aggregate, keys=["venue"], aggregations=[{"column": "qty", "op": "sum"}])
    ((port, error),) = drive(node, [("in", TRADES)])
    assert (port, error.code.value, error.message) == (
        "error",
        "VALIDATION",
        "aggregate (node 'agg'): the table has no column 'venue'; its columns: sym, day, "
        "price, qty",
    )
    node = make(aggregate, aggregations=[{"column": "sym", "op": "mean"}])
    ((port, error), *_) = drive(node, [("in", TRADES)])
    assert error.message.startswith("aggregate (node 'agg'): cannot compute mean(sym): ")


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
        (
            {"aggregations": [{"column": "x", "op": "approximate_median"}]},
            "aggregations[0]: op 'approximate_median' is an estimate that cannot be merged "
            "across tables exactly, so mode 'total' cannot offer it; use mode 'batch'",
        ),
        ({"aggregations": [{"op": "count_all"}], "mode": "all"}, "setting 'mode': expects one of"),
    ],
)
def test_invalid_settings_are_refused(
    aggregate: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        aggregate("agg", settings)
    if not isinstance(info.value, SettingsError):
        assert str(info.value).startswith("settings of aggregate 2.0.0 (node 'agg'): ")


def test_aggregations_are_required(aggregate: type[DataFlowNode]) -> None:
    with pytest.raises(SettingsError, match="setting 'aggregations' is required"):
        aggregate("agg", {"keys": ["sym"]})


# -- through the runtime -------------------------------------------------------------------


HELD_SOURCE = {
    "id": "held-source",
    "version": "1.0.0",
    "category": "Test",
    "name": "Held source",
    "ports": {"inputs": [], "outputs": [{"name": "out", "type": "table"}]},
    "settings": [
        {"name": "tables", "type": "json", "default": []},
        {"name": "hold", "type": "boolean", "default": False},
    ],
}
HELD_SOURCE_PY = '''
import asyncio
import pyarrow as pa
from dataflow_jupyter.node import IONode

class HeldSource(IONode):
    """Emits its tables; with hold it then waits, like a live stream, until cancelled."""

    async def run(self, ctx):
        for columns in self.settings["tables"]:
            await ctx.emit("out", pa.table(columns))
        if self.settings["hold"]:
            await asyncio.Event().wait()
'''
CRASHING_RUN = """
import asyncio, json, sys
from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime

async def main():
    pack, document = sys.argv[1], json.loads(sys.argv[2])
    registry = NodeRegistry(paths=[pack], include_env=False, include_cwd=False,
                            include_entry_points=False)
    runtime = GraphRuntime(Graph.from_dict(document, registry=registry), registry)
    await runtime.start()
    while runtime.stats.node("agg").received < 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the firing's state write completes
    print("READY", flush=True)
    await asyncio.Event().wait()  # killed here

asyncio.run(main())
"""


def held_pack(folder: Path) -> tuple[Path, NodeRegistry]:
    node = folder / "HeldSource"
    node.mkdir(parents=True)
    (node / "schema.json").write_text(json.dumps(HELD_SOURCE))
    (node / "node.py").write_text(HELD_SOURCE_PY)
    registry = NodeRegistry(
        paths=[folder], include_env=False, include_cwd=False, include_entry_points=False
    )
    assert registry.problems == []
    return folder, registry


def held_graph(
    registry: NodeRegistry, tables: list[pa.Table], storage: dict[str, Any], *, hold: bool
) -> Graph:
    config = GraphConfig.model_validate({"stateStorage": storage or "memory"})
    graph = Graph(id="totals", registry=registry, config=config)
    columns = [t.to_pydict() for t in tables]
    src = graph.add_node("held-source", settings={"tables": columns, "hold": hold}, id="src")
    node = graph.add_node("aggregate", settings=TOTALS, id="agg")
    graph.connect(src, "out", node, "in")
    return graph


TOTALS = {
    "keys": ["sym"],
    "aggregations": [{"column": "price", "op": "mean"}, {"column": "qty", "op": "list"}],
}


def test_a_graph_sends_one_total_for_many_tables(tmp_path: Path) -> None:
    """The defect, through the runtime: one row per group per batch (13 rows for 6 groups)."""
    _, registry = held_pack(tmp_path / "pack")
    graph = held_graph(registry, [TRADES.slice(i, 3) for i in range(0, 8, 3)], {}, hold=False)
    result = run_graph(graph, registry)
    (table,) = result.outputs["agg.out"]
    expected = TRADES.to_pandas().groupby("sym").agg(price_mean=("price", "mean"))
    assert table["sym"].to_pylist() == expected.index.tolist()
    assert table["price_mean"].to_pylist() == expected["price_mean"].tolist()
    assert table["qty_list"].to_pylist() == [[2, 5, 8], [1, 3, 6], [4]]


@pytest.mark.parametrize("kind", ["file", "redis"])
async def test_a_killed_run_resumes_from_its_partials(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A kernel that dies mid-stream (SIGKILL) leaves the partials; the next run goes on."""
    if kind == "file":
        storage: dict[str, Any] = {"type": "file", "path": str(tmp_path / "state")}
    else:
        storage = {"type": "redis", "url": request.getfixturevalue("redis_server").url}
    pack, registry = held_pack(tmp_path / "pack")
    first, rest = [TRADES.slice(0, 3), TRADES.slice(3, 2)], [TRADES.slice(5)]
    document = json.dumps(held_graph(registry, first, storage, hold=True).to_dict())
    command = [sys.executable, "-c", CRASHING_RUN, str(pack), document]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 120)
    process.kill()
    await process.wait()
    assert line == b"READY\n"
    again = GraphRuntime(held_graph(registry, rest, storage, hold=False), registry)
    assert await again.state.keys("totals/agg") == ["totals/agg/partial"]
    result = await again.run_async()
    (table,) = result.outputs["agg.out"]
    assert table["qty_list"].to_pylist() == [[2, 5, 8], [1, 3, 6], [4]]  # all three tables
    assert await again.state.keys("totals/agg") == []  # cleared once the total was sent
    await again.state.close()
