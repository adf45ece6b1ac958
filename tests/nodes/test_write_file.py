from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph
from dataflow_jupyter.node import DataFlowNode, IONode
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import RunResult

if TYPE_CHECKING:
    from pathlib import Path

FIRST = {"sym": ["a", "b"], "price": [1.5, 2.0]}
SECOND = {"sym": ["c"], "price": [3.25]}
ROWS = [
    {"sym": "a", "price": 1.5},
    {"sym": "b", "price": 2.0},
    {"sym": "c", "price": 3.25},
]


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def write_file(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("write-file", "1.0.0").load()


def write(
    registry: NodeRegistry, tables: list[dict[str, list[Any]]], **settings: Any
) -> tuple[RunResult, str]:
    """table-source -> write-file (its 'out' is the sink), 'error' -> debug-log."""
    graph = Graph(id="write", registry=registry)
    src = graph.add_node("table-source", settings={"tables": tables})
    node = graph.add_node("write-file", settings=settings, id="wr")
    log = graph.add_node("debug-log", id="log")
    graph.connect(src, "out", node, "in")
    graph.connect(node, "error", log, "in")
    return run_graph(graph, registry), node


def test_the_spec(write_file: type[DataFlowNode]) -> None:
    assert issubclass(write_file, IONode)
    assert not write_file.is_source()
    spec = write_file.spec
    assert (spec.id, spec.version, spec.category) == ("write-file", "1.0.0", "Table")
    assert [(p.name, p.type.value) for p in spec.ports.inputs] == [("in", "table")]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "object"),
        ("error", "error_packet"),
    ]
    assert write_file("wr", {"path": "x.csv"}).settings == {
        "path": "x.csv",
        "format": "auto",
        "mode": "overwrite",
    }


def test_parquet_batches_go_to_one_file(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "out" / "prices.parquet"  # the folder is created
    result, node = write(registry, [FIRST, SECOND], path=str(path))
    assert result.ok
    assert result.outputs[f"{node}.out"] == [
        {"path": str(path), "rows": 2, "totalRows": 2},
        {"path": str(path), "rows": 1, "totalRows": 3},
    ]
    assert pq.read_table(path).to_pylist() == ROWS  # closed at teardown: the footer is there
    assert pq.ParquetFile(path).metadata.num_row_groups == 2


def test_csv_overwrite_replaces_the_file(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("old,stuff\n1,2\n")
    write(registry, [FIRST, SECOND], path=str(path))
    assert path.read_text() == '"sym","price"\n"a",1.5\n"b",2\n"c",3.25\n'
    assert pcsv.read_csv(path).to_pylist() == ROWS


def test_csv_append_writes_the_header_once(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    write(registry, [FIRST], path=str(path), mode="append")
    write(registry, [SECOND], path=str(path), mode="append")
    assert pcsv.read_csv(path).to_pylist() == ROWS
    reordered = {"price": [4.0], "sym": ["d"]}  # same columns, other order: the file's wins
    write(registry, [reordered], path=str(path), mode="append")
    assert pcsv.read_csv(path).to_pylist()[-1] == {"sym": "d", "price": 4.0}


def test_csv_append_refuses_other_columns(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    write(registry, [FIRST], path=str(path))
    result, node = write(registry, [{"sym": ["x"], "qty": [1]}], path=str(path), mode="append")
    (error,) = result.outputs["log.out"]
    assert (error.code.value, error.message) == (
        "VALIDATION",
        f"write-file (node 'wr'): cannot append columns ['sym', 'qty'] to {str(path)!r}, whose "
        "header is ['sym', 'price']",
    )
    assert pcsv.read_csv(path).to_pylist() == ROWS[:2]


def dated_table(value: Any) -> pa.Table:
    """Referenced by a python-function node: a table with values JSON settings cannot hold."""
    return pa.table(
        {
            "at": [dt.datetime(2026, 1, 2, 3, 4, 5)],
            "day": [dt.date(2026, 1, 2)],
            "n": pa.array([None], pa.int64()),
            "nan": [float("nan")],
        }
    )


def test_jsonl_lines(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "prices.jsonl"
    write(registry, [FIRST, SECOND], path=str(path))
    assert [json.loads(line) for line in path.read_text().splitlines()] == ROWS


def test_jsonl_dates_nan_and_append(
    registry: NodeRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAFLOW_PYTHON_MODULES", __name__)  # python-function makes the table
    path = tmp_path / "when.ndjson"
    for mode in ("overwrite", "append"):
        graph = Graph(id="write", registry=registry)
        src = graph.add_node("values-source", settings={"values": [None]})
        fn = graph.add_node("python-function", settings={"function": f"{__name__}:dated_table"})
        node = graph.add_node("write-file", settings={"path": str(path), "mode": mode})
        graph.connect(src, "out", fn, "in")
        graph.connect(fn, "out", node, "in")
        assert run_graph(graph, registry).ok
    line = '{"at": "2026-01-02T03:04:05", "day": "2026-01-02", "n": null, "nan": null}\n'
    assert path.read_text() == line * 2


def test_later_batches_are_conformed_or_refused(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "prices.parquet"
    tables = [
        FIRST,
        {"price": [7], "sym": ["d"]},  # reordered, int: cast to the file's float
        {"sym": ["e"], "qty": [1]},  # other columns: refused
        {"sym": ["f"], "price": ["cheap"]},  # cannot be cast: refused
        SECOND,
    ]
    result, node = write(registry, tables, path=str(path))
    assert [s["totalRows"] for s in result.outputs[f"{node}.out"]] == [2, 3, 4]
    errors = [e.message for e in result.outputs["log.out"]]
    assert errors[0] == (
        "write-file (node 'wr'): a batch has columns ['sym', 'qty'], but the file has "
        "['sym', 'price']"
    )
    assert errors[1].startswith(
        "write-file (node 'wr'): a batch's columns do not fit the file's types"
    )
    assert pq.read_table(path).to_pylist() == [*ROWS[:2], {"sym": "d", "price": 7.0}, ROWS[2]]


def test_a_list_of_rows_is_a_table_and_other_values_are_refused(
    registry: NodeRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "rows.csv"
    graph = Graph(id="write", registry=registry)
    src = graph.add_node("values-source", settings={"values": [ROWS, {"sym": "x"}]})
    node = graph.add_node("write-file", settings={"path": str(path)}, id="wr")
    log = graph.add_node("debug-log", id="log")
    graph.connect(src, "out", node, "in")
    graph.connect(node, "error", log, "in")
    result = run_graph(graph, registry)
    assert result.outputs[f"{node}.out"] == [{"path": str(path), "rows": 3, "totalRows": 3}]
    (error,) = result.outputs["log.out"]
    assert (error.code.value, error.message) == (
        "TYPE_MISMATCH",
        "write-file (node 'wr') port 'in' expects an Arrow table; got dict. Send a pa.Table "
        "(e.g. from read-file) or a list of row dicts",
    )
    assert pcsv.read_csv(path).to_pylist() == ROWS


def test_nothing_received_leaves_the_file_alone(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "keep.csv"
    path.write_text("a\n1\n")
    result, node = write(registry, [], path=str(path))
    assert result.outputs == {}
    assert path.read_text() == "a\n1\n"


def test_read_file_to_write_file(registry: NodeRegistry, tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.parquet"
    rows = [{"id": i, "half": i / 2} for i in range(1000)]
    pcsv.write_csv(pa.Table.from_pylist(rows), source)
    graph = Graph(id="copy", registry=registry)
    rd = graph.add_node("read-file", settings={"path": str(source), "batchRows": 300})
    wr = graph.add_node("write-file", settings={"path": str(target)})
    graph.connect(rd, "out", wr, "in")
    result = run_graph(graph, registry)
    assert [s["totalRows"] for s in result.outputs[f"{wr}.out"]] == [300, 600, 900, 1000]
    assert pq.read_table(target).to_pylist() == rows


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"path": "a.parquet", "mode": "append"}, "a Parquet file cannot be appended to"),
        ({"path": "a.xlsx"}, "format 'auto' cannot tell the format of 'a.xlsx'"),
        ({"path": "a.csv", "mode": "update"}, "setting 'mode': expects one of"),
    ],
)
def test_invalid_settings_are_refused(
    write_file: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_file("wr", settings)
