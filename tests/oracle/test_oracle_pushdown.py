"""The table levers never change answers: graphs over real files (tests/data, as CSV and as
Parquet) at several batch sizes, with projection pushdown on and off, against pandas.

- projection pushdown (``GraphRuntime(pushdown=True)``, the default): read-file reads only
  the columns the graph uses; the frames of its ``out`` show which;
- filter-rows' mask (``pyarrow.compute`` over the table) against ``Table.filter`` with the
  same expression compiled to an Arrow ``Expression``, and against pandas;
- frames hold ``frame_tables`` Arrow payloads per table port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from _oracle import DATA, assert_same, read, registry

from dataflow_jupyter import DataPacket, Graph
from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

BATCHES = [1, 7, 100, 65536]
MASS = {"keys": ["species"], "aggregations": [{"column": "body_mass_g", "op": "mean"}]}


def run(
    graph: Graph, answers: list[str], **options: Any
) -> tuple[dict[str, pa.Table], dict[str, list[str]]]:
    """The tables each answer node sent, stacked; and the columns that left each node's
    ``out`` (from the frames)."""
    runtime = GraphRuntime(
        graph, graph.registry, max_outputs=1_000_000, log=False, data_root="/", **options
    )
    try:
        result = runtime.run()
    finally:
        runtime.close()
    assert result.ok, [e.message for e in result.errors]
    tables = {a: pa.concat_tables(result.outputs[f"{a}.out"]) for a in answers}
    seen = {
        where.split(".")[0]: packets[-1].binary_value.column_names
        for where, packets in result.frames.items()
        if where.endswith(".out") and packets and isinstance(packets[-1].binary_value, pa.Table)
    }
    return tables, seen


def add(graph: Graph, node_id: str, type_id: str, after: str | None, **settings: Any) -> str:
    graph.add_node(type_id, settings=settings, id=node_id)
    if after is not None:
        graph.connect(after, "out", node_id, "in")
    return node_id


@pytest.fixture(params=["csv", "parquet"])
def penguins(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """penguins.csv, or the same data as Parquet (as read-file reads the CSV)."""
    if request.param == "csv":
        return DATA / "penguins.csv"
    path = tmp_path / "penguins.parquet"
    nulls = pcsv.ConvertOptions(null_values=["NA"], strings_can_be_null=True)
    pq.write_table(pcsv.read_csv(DATA / "penguins.csv", convert_options=nulls), path)
    return path


def both_ways(
    build: Callable[[Graph], list[str]],
) -> tuple[dict[str, pa.Table], dict[str, list[str]], dict[str, pa.Table]]:
    """The answers with pushdown (and the columns seen), and the answers without."""
    results = []
    for pushdown in (True, False):
        graph = Graph(id="pushdown", registry=registry())
        answers = build(graph)
        results.append(run(graph, answers, pushdown=pushdown))
    (on, seen), (off, _) = results
    return on, seen, off


def same_both_ways(
    on: dict[str, pa.Table], off: dict[str, pa.Table], expected: dict[str, pd.DataFrame]
) -> None:
    for name, frame in expected.items():
        assert on[name].equals(off[name]), name
        assert_same(on[name], frame)


@pytest.mark.parametrize("batch_rows", BATCHES)
def test_a_filter_on_a_column_the_select_drops(penguins: Path, batch_rows: int) -> None:
    def build(graph: Graph) -> list[str]:
        src = add(graph, "read", "read-file", None, path=str(penguins), batchRows=batch_rows)
        keep = add(graph, "keep", "filter-rows", src, expression="bill_length_mm > 40")
        pick = add(graph, "pick", "select-columns", keep, columns=["species", "body_mass_g"])
        return [add(graph, "mass", "aggregate", pick, **MASS)]

    on, seen, off = both_ways(build)
    frame = read("penguins.csv")
    frame = frame[frame.bill_length_mm > 40][["species", "body_mass_g"]]
    expected = frame.groupby("species").agg(body_mass_g_mean=("body_mass_g", "mean"))
    same_both_ways(on, off, {"mass": expected.reset_index()})
    assert seen["read"] == ["species", "bill_length_mm", "body_mass_g"]  # in the file's order
    assert seen["keep"] == ["species", "body_mass_g"]  # the filter copies only what follows uses


@pytest.mark.parametrize("batch_rows", BATCHES)
def test_projection_passes_through_head(penguins: Path, batch_rows: int) -> None:
    def build(graph: Graph) -> list[str]:
        src = add(graph, "read", "read-file", None, path=str(penguins), batchRows=batch_rows)
        first = add(graph, "first", "head", src, n=150)
        keep = add(graph, "keep", "filter-rows", first, expression="island != 'Dream'")
        return [add(graph, "mass", "aggregate", keep, **MASS)]

    on, seen, off = both_ways(build)
    frame = read("penguins.csv").head(150)
    frame = frame[frame.island != "Dream"]
    expected = frame.groupby("species").agg(body_mass_g_mean=("body_mass_g", "mean"))
    same_both_ways(on, off, {"mass": expected.reset_index()})
    assert seen["read"] == ["species", "island", "body_mass_g"]


@pytest.mark.parametrize("batch_rows", BATCHES)
def test_branches_with_different_needs(penguins: Path, batch_rows: int) -> None:
    def build(graph: Graph) -> list[str]:
        src = add(graph, "read", "read-file", None, path=str(penguins), batchRows=batch_rows)
        mass = add(graph, "mass", "aggregate", src, **MASS)
        late = add(graph, "late", "filter-rows", src, expression="year >= 2008 and sex == 'male'")
        flip = {"column": "flipper_length_mm", "op": "max"}
        return [mass, add(graph, "flip", "aggregate", late, keys=["island"], aggregations=[flip])]

    on, seen, off = both_ways(build)
    frame = read("penguins.csv")
    late = frame[(frame.year >= 2008) & (frame.sex == "male")]
    expected = {
        "mass": frame.groupby("species").agg(body_mass_g_mean=("body_mass_g", "mean")),
        "flip": late.groupby("island").agg(flipper_length_mm_max=("flipper_length_mm", "max")),
    }
    same_both_ways(on, off, {k: v.reset_index() for k, v in expected.items()})
    assert set(seen["read"]) == {"species", "island", "flipper_length_mm", "body_mass_g"} | {
        "sex",
        "year",
    }
    assert "bill_length_mm" not in seen["read"]


@pytest.mark.parametrize("batch_rows", BATCHES)
def test_a_consumer_that_does_not_declare_gets_every_column(
    penguins: Path, batch_rows: int
) -> None:
    def build(graph: Graph) -> list[str]:
        src = add(graph, "read", "read-file", None, path=str(penguins), batchRows=batch_rows)
        add(graph, "mass", "aggregate", src, **MASS)
        log = add(graph, "log", "debug-log", src)  # passes the table on; declares nothing
        return ["mass", add(graph, "head", "head", log, n=1000)]

    on, seen, off = both_ways(build)
    frame = read("penguins.csv")
    same_both_ways(on, off, {"head": frame})
    assert seen["read"] == list(frame.columns)


@pytest.mark.parametrize("batch_rows", BATCHES)
def test_an_unconnected_filter_output_is_whole(penguins: Path, batch_rows: int) -> None:
    def build(graph: Graph) -> list[str]:
        src = add(graph, "read", "read-file", None, path=str(penguins), batchRows=batch_rows)
        return [add(graph, "keep", "filter-rows", src, expression="not (body_mass_g < 4000)")]

    on, seen, off = both_ways(build)
    frame = read("penguins.csv")
    same_both_ways(on, off, {"keep": frame[~(frame.body_mass_g < 4000)]})
    assert seen["read"] == list(frame.columns)


@pytest.mark.parametrize("batch_rows", BATCHES)
def test_a_row_count_reads_one_column(penguins: Path, batch_rows: int) -> None:
    def build(graph: Graph) -> list[str]:
        src = add(graph, "read", "read-file", None, path=str(penguins), batchRows=batch_rows)
        return [add(graph, "n", "aggregate", src, aggregations=[{"op": "count_all"}])]

    on, seen, off = both_ways(build)
    same_both_ways(on, off, {"n": pd.DataFrame({"count_all": [344]})})
    assert seen["read"] == ["species"]


@pytest.mark.parametrize("batch_rows", BATCHES)
def test_the_columns_setting_and_pushdown_together(penguins: Path, batch_rows: int) -> None:
    def build(graph: Graph) -> list[str]:
        columns = ["species", "sex", "body_mass_g", "year"]
        src = add(
            graph, "read", "read-file", None, path=str(penguins), batchRows=batch_rows,
            columns=columns,
        )  # fmt: skip
        keep = add(graph, "keep", "filter-rows", src, expression="is_null(sex)")
        return [add(graph, "mass", "aggregate", keep, **MASS)]

    on, seen, off = both_ways(build)
    frame = read("penguins.csv")
    nulls = frame[frame.sex.isna()]
    expected = nulls.groupby("species").agg(body_mass_g_mean=("body_mass_g", "mean"))
    same_both_ways(on, off, {"mass": expected.reset_index()})
    assert seen["read"] == ["species", "body_mass_g", "sex"]


@pytest.mark.parametrize("batch_rows", BATCHES)
def test_a_csv_with_dates_read_again_for_its_types(batch_rows: int) -> None:
    """seattle-weather.csv's dates make read-file open it twice (dates stay text); with
    pushdown the second open also names the columns."""

    def build(graph: Graph) -> list[str]:
        path = str(DATA / "seattle-weather.csv")
        src = add(graph, "read", "read-file", None, path=path, batchRows=batch_rows)
        wet = add(graph, "wet", "filter-rows", src, expression="precipitation > 10")
        pick = add(graph, "pick", "select-columns", wet, columns=["date", "weather"])
        first = [{"column": "date", "op": "min"}, {"column": "date", "op": "count"}]
        return [add(graph, "when", "aggregate", pick, keys=["weather"], aggregations=first)]

    on, seen, off = both_ways(build)
    frame = read("seattle-weather.csv")
    wet = frame[frame.precipitation > 10]
    expected = wet.groupby("weather").agg(date_min=("date", "min"), date_count=("date", "count"))
    same_both_ways(on, off, {"when": expected.reset_index()})
    assert seen["read"] == ["date", "precipitation", "weather"]


EXPRESSIONS = {
    "penguins.csv": [
        "bill_length_mm > 45 and sex == 'female'",
        "not (body_mass_g < 4000)",
        "species in ['Adelie', 'Gentoo'] or is_null(sex)",
        "flipper_length_mm * 2 - bill_depth_mm ** 2 / 10 > 350",
        "starts_with(island, 'Bis') and year != 2008",
        "1 < 2",
        "bill_length_mm < bill_depth_mm * 3 < 60",
    ],
    "stocks.csv": ["symbol not in ['IBM'] and price >= 100", "contains(date, '2005')"],
    "gapminder.csv": ["abs(lifeExp - 60) < 5 and isin(continent, ['Asia', 'Africa'])"],
    "seattle-weather.csv": ["upper(weather) == 'SUN' and not is_valid(col('wind')) or wind > 6"],
}


@pytest.mark.parametrize("batch_rows", [1, 7, 100, 100_000])
@pytest.mark.parametrize(
    ("name", "text"), [(name, text) for name, texts in EXPRESSIONS.items() for text in texts]
)
def test_the_mask_keeps_what_the_arrow_expression_keeps(
    name: str, text: str, batch_rows: int
) -> None:
    node = registry().get("filter-rows", "1.0.0").load()("f", {"expression": text})
    nulls = pcsv.ConvertOptions(null_values=["NA", ""], strings_can_be_null=True)
    table = pcsv.read_csv(DATA / name, convert_options=nulls)
    for start in range(0, table.num_rows, batch_rows):
        piece = table.slice(start, batch_rows)
        got = node.process({"in": DataPacket(None, piece)}, None)["out"]
        assert got.equals(piece.filter(node.expression)), (text, start)


@pytest.mark.parametrize("frame_tables", [None, 1, 5])
def test_frames_keep_few_tables_per_table_port(frame_tables: int | None) -> None:
    graph = Graph(id="frames", registry=registry())
    src = add(graph, "read", "read-file", None, path=str(DATA / "penguins.csv"), batchRows=10)
    add(graph, "log", "debug-log", src)  # any-typed ports: frame_size packets
    options = {} if frame_tables is None else {"frame_tables": frame_tables}
    runtime = GraphRuntime(graph, graph.registry, log=False, data_root="/", **options)
    try:
        result = runtime.run()
    finally:
        runtime.close()
    assert result.ok
    kept = 2 if frame_tables is None else frame_tables
    assert len(result.frames["read.out"]) == kept  # 35 tables went out
    assert [p.value["batch"] for p in result.frames["read.out"]] == list(range(35 - kept, 35))
    assert len(result.frames["log.in"]) == 35  # debug-log's port is 'any'
    assert len(runtime.frame("read.out")) == 10 * (kept - 1) + 4  # rows of the kept tables
