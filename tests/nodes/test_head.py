"""head: the first n rows (pandas head), then done: the runtime stops delivering."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pytest
from _drive import DriveContext, drive
from _table_nodes import node_registry

from dataflow_jupyter import DataPacket, Graph
from dataflow_jupyter.node import DataFlowNode, StatefulNode
from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from pathlib import Path

ROWS = pa.table({"x": list(range(10)), "y": [str(i) for i in range(10)]})


@pytest.fixture(scope="module")
def head() -> type[DataFlowNode]:
    return node_registry().get("head", "1.0.0").load()


def test_the_spec(head: type[DataFlowNode]) -> None:
    assert issubclass(head, StatefulNode)
    spec = head.spec
    assert (spec.id, spec.version, spec.category) == ("head", "1.0.0", "Table")
    assert [(s.name, s.default) for s in spec.settings] == [("n", 5)]


@pytest.mark.parametrize("rows", [1, 3, 4, 100])
@pytest.mark.parametrize("n", [0, 1, 4, 10, 25])
def test_equals_pandas_head(head: type[DataFlowNode], rows: int, n: int) -> None:
    packets = [("in", ROWS.slice(s, rows)) for s in range(0, len(ROWS), rows)]
    emitted = drive(head("h", {"n": n}), packets)
    assert {port for port, _ in emitted} == {"out"}
    got = pa.concat_tables([t for _, t in emitted]).to_pandas()
    pd.testing.assert_frame_equal(got, ROWS.to_pandas().head(n))
    assert len(emitted) == min(-(-max(n, 1) // rows), -(-len(ROWS) // rows))


def test_says_done_once_it_has_n_rows(head: type[DataFlowNode]) -> None:
    node = head("h", {"n": 4})
    ctx = DriveContext("h")
    first = node.process({"in": DataPacket(None, ROWS.slice(0, 3))}, ctx)
    assert first["out"].num_rows == 3
    assert not ctx.wants_no_more
    second = node.process({"in": DataPacket(None, ROWS.slice(3, 3))}, ctx)
    assert second["out"].to_pydict() == {"x": [3], "y": ["3"]}
    assert ctx.wants_no_more


def test_not_a_table_goes_to_error(head: type[DataFlowNode]) -> None:
    ((port, error),) = drive(head("h", {}), [("in", DataPacket(42))])
    assert port == "error"
    assert error.message.startswith("head (node 'h') port 'in' expects an Arrow table; got int")


def test_through_the_runtime_head_stops_read_file(tmp_path: Path) -> None:
    registry = node_registry()
    path = tmp_path / "numbers.csv"
    path.write_text("x\n" + "".join(f"{i}\n" for i in range(100_000)))
    graph = Graph(id="head", registry=registry)
    source = graph.add_node("read-file", settings={"path": str(path), "batchRows": 10}, id="rd")
    node = graph.add_node("head", settings={"n": 25}, id="h")
    graph.connect(source, "out", node, "in")
    runtime = GraphRuntime(graph, registry)
    try:
        result = runtime.run()
        got = pa.concat_tables(result.outputs["h.out"])
        assert got["x"].to_pylist() == list(range(25))
        emitted = runtime.stats.node("rd").emitted
        assert emitted < 10_000  # read-file stopped reading long before the end
        discarded = int(runtime.stats.edges.iloc[0]["discarded"])
        assert runtime.stats.node("h").received + discarded == emitted  # nothing lost
    finally:
        runtime.close()
