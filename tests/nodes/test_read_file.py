from __future__ import annotations

import json
import pathlib
import re
import shutil
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
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
        "nullValues": None,
        "columns": None,
        "skipRows": 0,
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


# -- reading CSV like pandas (issue 9) ------------------------------------------------------

DATA = pathlib.Path(__file__).parent.parent / "data"


@pytest.fixture
def penguins(data_root: Path) -> Path:
    """tests/data/penguins.csv, copied under the test's data root."""
    path = data_root / "penguins.csv"
    shutil.copyfile(DATA / "penguins.csv", path)
    return path


def read_table(registry: NodeRegistry, **settings: Any) -> pa.Table:
    result, node = read(registry, **settings)
    assert "log.out" not in result.outputs, result.outputs.get("log.out")
    return pa.concat_tables(result.outputs[f"{node}.out"])


def test_text_na_is_null_in_a_text_column_like_pandas(
    registry: NodeRegistry, penguins: Path
) -> None:
    """The defect: read-file kept the text 'NA' of penguins.csv as a value of 'sex'."""
    table = read_table(registry, path=str(penguins), batchRows=50)
    assert table.num_rows == 344
    assert table["sex"].null_count == 11
    assert "NA" not in table["sex"].to_pylist()
    expected = pd.read_csv(penguins)
    pd.testing.assert_frame_equal(table.to_pandas(), expected)


def test_every_pandas_na_string_is_null_in_every_column_type(
    registry: NodeRegistry, tmp_path: Path
) -> None:
    from pandas._libs.parsers import STR_NA_VALUES

    na = sorted(STR_NA_VALUES)
    lines = ["text,ints,floats,flags"] + ["a,1,1.5,true" for _ in range(2)]
    lines += [f"{v},{v},{v},{v}" if v else ",,," for v in na]
    lines += ['"NA","NA","NA","NA"']  # quoted, as pandas: missing too
    path = tmp_path / "na.csv"
    path.write_text("\n".join(lines) + "\n")
    table = read_table(registry, path=str(path))
    assert table.schema == pa.schema(
        [
            ("text", pa.string()),
            ("ints", pa.int64()),
            ("floats", pa.float64()),
            ("flags", pa.bool_()),
        ]
    )
    assert [table[c].null_count for c in table.column_names] == [len(na) + 1] * 4
    expected = pd.read_csv(path)
    got = table.to_pandas()
    got["ints"] = got["ints"].astype("float64")  # pandas turns integers with nulls into floats
    got["flags"] = got["flags"].astype(object).where(got["flags"].notna(), np.nan)
    expected["flags"] = expected["flags"].astype(object)
    pd.testing.assert_frame_equal(got, expected)


def test_null_values_setting_replaces_the_list(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "na.csv"
    path.write_text("name,score\nNA,1\n-,2\n,3\n")
    table = read_table(registry, path=str(path), nullValues=["-"])
    assert table.to_pylist() == [
        {"name": "NA", "score": 1},
        {"name": None, "score": 2},
        {"name": "", "score": 3},
    ]
    table = read_table(registry, path=str(path), nullValues=[])
    assert table["name"].to_pylist() == ["NA", "-", ""]


def test_columns_in_file_order_and_skip_rows(registry: NodeRegistry, penguins: Path) -> None:
    path = str(penguins)
    table = read_table(registry, path=path, columns=["sex", "species"], batchRows=100)
    expected = pd.read_csv(path, usecols=["sex", "species"])
    assert table.column_names == ["species", "sex"]  # pandas usecols keeps the file's order
    pd.testing.assert_frame_equal(table.to_pandas(), expected)
    table = read_table(registry, path=path, skipRows=1, columns=["Adelie", "2007"])
    assert table.num_rows == 343  # the first data row became the header, as in pandas
    expected = pd.read_csv(path, skiprows=1, usecols=["Adelie", "2007"])
    pd.testing.assert_frame_equal(table.to_pandas(), expected)


def test_a_missing_column_goes_to_error(registry: NodeRegistry, penguins: Path) -> None:
    result, node = read(registry, path=str(penguins), columns=["specie"])
    (error,) = result.outputs["log.out"]
    assert "the file has no column 'specie' (setting 'columns'); its columns: species, " in (
        error.message
    )


def test_dates_stay_text_and_an_empty_column_is_float(
    registry: NodeRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "dates.csv"
    path.write_text("day,at,empty\n2024-01-02,2024-01-02 10:00:00,\n2024-01-03,,NA\n")
    table = read_table(registry, path=str(path))
    assert table.schema == pa.schema(
        [("day", pa.string()), ("at", pa.string()), ("empty", pa.float64())]
    )
    pd.testing.assert_frame_equal(table.to_pandas(), pd.read_csv(path))


def test_parquet_columns(registry: NodeRegistry, tmp_path: Path) -> None:
    path = tmp_path / "prices.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    table = read_table(registry, path=str(path), columns=["price", "id"])
    assert table.column_names == ["id", "price"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"path": "a.csv", "nullValues": "NA"}, "'nullValues' must be null or a list of strings"),
        ({"path": "a.csv", "columns": []}, "'columns' must list distinct column names"),
        ({"path": "a.csv", "columns": ["a", "a"]}, "'columns' must list distinct column names"),
        ({"path": "a.parquet", "skipRows": 2}, "skipRows applies to CSV files; this one is read"),
    ],
)
def test_invalid_csv_settings_are_refused(
    read_file: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        read_file("rd", settings)


def test_a_csv_read_twice_to_fix_its_types_is_read_whole(
    registry: NodeRegistry, tmp_path: Path
) -> None:
    """The defect: a CSV whose first block has a date column is opened a second time (dates
    stay text); the second reader shared the file object with the first, whose read-ahead
    thread could still move its position, so a file of several blocks failed at random
    ("Expected 2 columns, got 6") or lost rows."""
    path = tmp_path / "stamped.csv"
    rows = 120_000  # about 10 blocks of Arrow's 1 MB
    ids = np.arange(rows, dtype=np.int64)
    stamps = np.datetime64("2026-01-01T00:00:00", "us") + ids * 1_000_000
    source = pa.table({"id": ids, "x": ids * 0.25, "ts": pa.array(stamps, pa.timestamp("us"))})
    pcsv.write_csv(source, path)
    expected = pd.read_csv(path)
    for _ in range(5):  # the race did not lose every time
        table = read_table(registry, path=str(path), batchRows=65_536)
        pd.testing.assert_frame_equal(table.to_pandas(), expected)
