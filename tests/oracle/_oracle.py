"""The pandas oracle: a graph's answer on a real file against pandas' answer on the same file.

A query is a small graph (``read-file`` sources, table nodes, one node whose ``out`` is the
answer) and the pandas code that computes the same thing. ``answer(query, batch_rows)``
runs the graph through ``GraphRuntime`` with every ``read-file`` at ``batchRows`` and stacks
the tables the answer node sent; ``assert_same(got, expected)`` compares them with
``pandas.testing.assert_frame_equal``: exactly for integers, strings and lists, with
``rtol=1e-9`` for floats.

The one difference of types allowed, and documented by the nodes: an integer column with
nulls stays an Arrow integer column (``to_pandas()`` gives float64, as pandas has it); an
integer column that pandas made float64 because of nulls *elsewhere* (e.g. the sum of a
column that had nulls) is compared as float64.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dataflow_jupyter import Graph
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from collections.abc import Callable

DATA = Path(__file__).resolve().parent.parent / "data"
BATCH_SIZES = (1, 7, 100, 65536)


def registry() -> NodeRegistry:
    return NodeRegistry(
        paths=[], include_builtin=True, include_env=False, include_cwd=False,
        include_entry_points=False,
    )  # fmt: skip


def read(name: str, **options: Any) -> pd.DataFrame:
    """pandas' reading of a data file (what read-file must equal)."""
    return pd.read_csv(DATA / name, **options)


@dataclass
class Query:
    """A graph builder and its pandas twin. ``build(graph, source)`` adds the nodes after
    the sources and returns the id of the answer node; ``source(file)`` adds a read-file."""

    name: str
    build: Callable[[Graph, Callable[..., str]], str]
    pandas: Callable[[], pd.DataFrame]
    sort_rows: bool = False  # compare sorted (documented: the node's row order differs)
    settings: dict[str, Any] = field(default_factory=dict)


def answer(query: Query, batch_rows: int) -> pa.Table:
    """The tables the query's answer node sent, stacked, at ``batch_rows`` rows per batch."""
    reg = registry()
    graph = Graph(id=f"oracle-{query.name}", registry=reg)
    counter = iter(range(100))

    def source(name: str, **settings: Any) -> str:
        settings = {"path": str(DATA / name), "batchRows": batch_rows, **settings}
        return graph.add_node("read-file", settings=settings, id=f"read{next(counter)}")

    last = query.build(graph, source)
    runtime = GraphRuntime(graph, reg, max_outputs=1_000_000, frame_size=1, log=False)
    try:
        result = runtime.run()
    finally:
        runtime.close()
    assert result.ok, [e.message for e in result.errors]
    tables = result.outputs.get(f"{last}.out", [])
    assert tables, f"{query.name}: the answer node {last!r} sent nothing"
    return pa.concat_tables(tables, promote_options="default")


def assert_same(got: pa.Table, expected: pd.DataFrame, *, sort_rows: bool = False) -> None:
    """``got`` equals ``expected`` (exactly, but floats with rtol=1e-9; see the docstring)."""
    frame = got.to_pandas()
    expected = expected.reset_index(drop=True)
    assert list(frame.columns) == list(expected.columns)
    if expected.empty:  # pandas' dtypes of an empty result are not what it gives with rows
        assert frame.empty
        return
    for name in frame.columns:
        if frame[name].dtype == np.int64 and expected[name].dtype == np.float64:
            frame[name] = frame[name].astype(np.float64)
        if _is_lists(frame[name]) or _is_lists(expected[name]):
            frame[name] = _lists(frame[name])
            expected[name] = _lists(expected[name])
    if sort_rows:
        frame, expected = _sorted(frame), _sorted(expected)
    floats = [n for n in frame.columns if frame[n].dtype == np.float64]
    others = [n for n in frame.columns if n not in floats]
    pd.testing.assert_frame_equal(frame[others], expected[others], check_exact=True)
    pd.testing.assert_frame_equal(frame[floats], expected[floats], rtol=1e-9, check_exact=False)


def _is_lists(column: pd.Series) -> bool:
    return column.dtype == object and any(isinstance(v, list | np.ndarray) for v in column)


def _lists(column: pd.Series) -> pd.Series:
    return pd.Series(
        [tuple(None if pd.isna(x) else x for x in v) for v in column], dtype=object,
        name=column.name,
    )  # fmt: skip


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)
