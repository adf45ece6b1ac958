from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from _table_nodes import RowSink, node_registry, run_graph

from dataflow_jupyter import Graph
from dataflow_jupyter.node import DataFlowNode, IONode
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import RunResult

if TYPE_CHECKING:
    from pathlib import Path

ROWS = [{"id": i, "sym": "ab"[i % 2], "price": i * 1.5} for i in range(10)]


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def read_file(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("read-file", "1.0.0").load()


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    pcsv.write_csv(pa.Table.from_pylist(rows), path)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def read(registry: NodeRegistry, **settings: Any) -> tuple[RunResult, str]:
    """read-file -> (unconnected 'out': the sink) and 'error' -> debug-log."""
    graph = Graph(id="read", registry=registry)
    node = graph.add_node("read-file", settings=settings, id="rd")
    log = graph.add_node("debug-log", id="log")
    graph.connect(node, "error", log, "in")
    return run_graph(graph, registry), node


def test_the_spec(read_file: type[DataFlowNode]) -> None:
    assert issubclass(read_file, IONode)
    assert read_file.is_source()
    spec = read_file.spec
    assert (spec.id, spec.version, spec.category) == ("read-file", "1.0.0", "Table")
    assert spec.ports.inputs == []
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "table"),
        ("error", "error_packet"),
    ]
    assert read_file("rd", {"path": "x.csv"}).settings == {
        "path": "x.csv",
        "format": "auto",
        "batchRows": 65536,
        "delimiter": "",
    }


def test_csv_in_batches_of_batch_rows(registry: NodeRegistry, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "prices.csv", ROWS)
    result, node = read(registry, path=str(path), batchRows=4)
    assert result.ok
    tables = result.outputs[f"{node}.out"]
    assert all(isinstance(t, pa.Table) for t in tables)
    assert [t.num_rows for t in tables] == [4, 4, 2]
    assert [row for t in tables for row in t.to_pylist()] == ROWS
    assert tables[0].schema == pa.schema(
        [("id", pa.int64()), ("sym", pa.string()), ("price", pa.float64())]
    )
    packets = result.packets[f"{node}.out"]
    assert [p.value for p in packets] == [
        {"path": str(path), "batch": 0, "rows": 4},
        {"path": str(path), "batch": 1, "rows": 4},
        {"path": str(path), "batch": 2, "rows": 2},
    ]
    assert len({p.trace_id for p in packets}) == 3  # each batch starts a trace


def test_parquet(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "prices.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path, row_group_size=3)  # 3, 3, 3, 1
    result, node = read(registry, path=str(path), batchRows=5)
    tables = result.outputs[f"{node}.out"]
    assert [t.num_rows for t in tables] == [5, 5]  # batches span row groups
    assert [row for t in tables for row in t.to_pylist()] == ROWS


def test_jsonl(registry: NodeRegistry, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "prices.jsonl", ROWS)
    result, node = read(registry, path=str(path), batchRows=6)
    tables = result.outputs[f"{node}.out"]
    assert [t.num_rows for t in tables] == [6, 4]
    assert [row for t in tables for row in t.to_pylist()] == ROWS


def test_jsonl_without_open_json(
    read_file: type[DataFlowNode], registry: NodeRegistry, tmp_path: Path, monkeypatch: Any
) -> None:
    module = sys.modules[read_file.__module__]
    monkeypatch.delattr(module.pjson, "open_json", raising=False)  # as in pyarrow < 19
    path = write_jsonl(tmp_path / "prices.ndjson", ROWS)
    path.write_text(path.read_text() + "\n")  # a blank line is skipped
    result, node = read(registry, path=str(path), batchRows=4)
    tables = result.outputs[f"{node}.out"]
    assert [t.num_rows for t in tables] == [4, 4, 2]
    assert [row for t in tables for row in t.to_pylist()] == ROWS
    assert {t.schema for t in tables} == {tables[0].schema}


def test_format_by_extension_or_setting(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "prices.tsv"
    path.write_text("id\tsym\n1\ta\n2\tb\n")
    result, node = read(registry, path=str(path))
    assert [t.to_pylist() for t in result.outputs[f"{node}.out"]] == [
        [{"id": 1, "sym": "a"}, {"id": 2, "sym": "b"}]
    ]
    path = write_jsonl(tmp_path / "prices.log", ROWS[:2])
    result, node = read(registry, path=str(path), format="jsonl")
    assert [t.to_pylist() for t in result.outputs[f"{node}.out"]] == [ROWS[:2]]
    path = tmp_path / "semi.txt"
    path.write_text("a;b\n1;x\n")
    result, node = read(registry, path=str(path), format="csv", delimiter=";")
    assert [t.to_pylist() for t in result.outputs[f"{node}.out"]] == [[{"a": 1, "b": "x"}]]


def test_an_empty_file_gives_one_empty_table(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("id,sym\n")
    result, node = read(registry, path=str(path))
    (table,) = result.outputs[f"{node}.out"]
    assert (table.num_rows, table.column_names) == (0, ["id", "sym"])


def test_a_missing_file_goes_to_error(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"
    result, node = read(registry, path=str(path))
    assert f"{node}.out" not in result.outputs
    (error,) = result.outputs["log.out"]
    assert error.node_id == node
    assert error.message.startswith(
        f"read-file (node 'rd'): cannot read {str(path)!r} as csv: [Errno 2] No such file"
    )


def test_a_value_that_does_not_fit_the_inferred_type_goes_to_error(
    registry: NodeRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "late.csv"
    path.write_text("x\n" + "1\n" * 1_000_000 + "1.5\n")  # the first block says int64
    result, node = read(registry, path=str(path), batchRows=50_000)
    assert sum(t.num_rows for t in result.outputs[f"{node}.out"]) >= 100_000
    (error,) = result.outputs["log.out"]
    assert error.message.startswith(f"read-file (node 'rd'): reading {str(path)!r} failed:")
    assert "invalid value '1.5'" in error.message


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"path": "data.xlsx"}, "format 'auto' cannot tell the format of 'data.xlsx' from its "),
        ({"path": "data"}, "from its extension '(none)'; set format to csv, parquet or jsonl"),
        ({"path": "a.csv", "delimiter": "::"}, "delimiter must be one character; got '::'"),
    ],
)
def test_invalid_settings_are_refused(
    read_file: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_file("rd", settings)


def write_big_csv(path: Path, rows: int) -> None:
    schema = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("label", pa.string())])
    step = 100_000
    with pcsv.CSVWriter(path, schema) as writer:
        for start in range(0, rows, step):
            ids = pa.array(range(start, min(start + step, rows)), pa.int64())
            labels = pc.binary_join_element_wise(
                "label-", pc.cast(ids, pa.string()), "-with-some-padding-text", ""
            )
            x = pc.multiply(pc.cast(ids, pa.float64()), 0.5)
            writer.write_table(pa.table({"id": ids, "x": x, "label": labels}, schema=schema))


def test_a_large_file_streams_in_bounded_memory(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = 1_100_000
    write_big_csv(path, rows)
    size = path.stat().st_size
    assert size > 50_000_000
    graph = Graph(id="big", registry=registry)
    node = graph.add_node("read-file", settings={"path": str(path), "batchRows": 20_000})
    sink = graph.add_node("row-sink")
    graph.connect(node, "out", sink, "in", buffer=2)
    RowSink.reset()
    before = RowSink.peak_bytes
    result = run_graph(graph, registry, frame_size=1)
    assert result.ok
    assert (RowSink.rows, RowSink.packets) == (rows, 55)
    # Read at once, the table takes about as much memory as the file; streamed, a few batches.
    assert RowSink.peak_bytes - before < size / 3
