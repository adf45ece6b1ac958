"""The ``table`` benchmarks: a file through read-file -> filter-rows -> select-columns -> aggregate.

One query over a generated file (``rows`` rows: ``id`` int64, ``key`` a string of 1,000
categories, floats ``x``, ``y``, ``z``, a timestamp ``ts``), as Parquet (``table``) and as CSV
(``table-csv``)::

    keep the rows where y < 0.5, keep key and x, then per key: sum(x), mean(x), count(*)

run by our runtime (``read-file`` -> ``filter-rows`` -> ``select-columns`` -> ``aggregate``
in mode ``total``, with the defaults on: packet metadata, execution log, frames, stats) and by
pyarrow directly (a dataset scan with the projection and the filter, then ``group_by``),
pandas (``read_parquet``/``read_csv`` with the columns named, a mask, ``groupby``), polars
(``scan_parquet``/``scan_csv`` lazily, ``collect``) and ``streamz.dataframe`` (chunks of
65,536 rows pushed through a streaming groupby). Every side's answer is compared with
pyarrow's (keys exactly, counts exactly, floats with ``rtol=1e-9``), each run of each side.

Time is the best of ``repeat`` runs in this process. Peak memory is measured for each side
in a process of its own (``python table.py --memory SIDE``): the growth of the resident set
over the baseline taken just before the run (everything imported, the side built), sampled
every 0.5 ms, so what an earlier side left in an allocator cannot hide a later one's peak.

The levers of our side are measured too, each one turned off alone (``extra.levers``):
projection pushed into read-file (``pushdown=False``), masks in filter-rows (the expression
filter instead), and frames holding the last 2 Arrow payloads per port (the last 100
instead).

The files are made once per size into ``benchmarks/.cache/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from harness import NOT_INSTALLED, MemorySampler, Result, Side, optional

from dataflow_jupyter import Graph
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
ROWS = (10_000_000, 200_000)  # (full, quick)
BATCH_ROWS = 65_536
CATEGORIES = 1_000
THRESHOLD = 0.5  # y < THRESHOLD keeps about half the rows
GOAL = "<= 1.3x pyarrow time, <= its peak memory, ahead of pandas"
SIDES = ("ours", "pyarrow", "pandas", "polars", "streamz")
PEER_MODULE = {"pyarrow": "pyarrow", "pandas": "pandas", "polars": "polars"}
PEER_MODULE["streamz"] = "streamz.dataframe"


# -- the data ----------------------------------------------------------------------------------


def data_files(rows: int) -> dict[str, Path]:
    """The Parquet and CSV files of ``rows`` rows, made once into the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    files = {
        "parquet": CACHE / f"table-{rows}.parquet",
        "csv": CACHE / f"table-{rows}.csv",
    }
    if all(path.exists() for path in files.values()):
        return files
    rng = np.random.default_rng(12)
    ids = np.arange(rows, dtype=np.int64)
    names = pa.array([f"key-{i:04d}" for i in range(CATEGORIES)])
    table = pa.table(
        {
            "id": ids,
            "key": names.take(pa.array(rng.integers(0, CATEGORIES, rows))),
            "x": rng.random(rows),
            "y": rng.random(rows),
            "z": rng.standard_normal(rows),
            "ts": pa.array(
                np.datetime64("2026-01-01T00:00:00", "us") + ids * 1_000_000,
                pa.timestamp("us"),
            ),
        }
    )
    for kind, path in files.items():
        partial = path.with_suffix(path.suffix + ".part")
        if kind == "parquet":
            pq.write_table(table, partial)
        else:
            pcsv.write_csv(table, partial)
        partial.replace(path)
    return files


# -- the answer --------------------------------------------------------------------------------


def normalise(table: pa.Table) -> pa.Table:
    """An answer as ``key, x_sum, x_mean, count_all``, sorted by key, counts as int64."""
    table = table.select(["key", "x_sum", "x_mean", "count_all"])
    table = table.set_column(3, "count_all", pc.cast(table["count_all"], pa.int64()))
    table = table.set_column(0, "key", pc.cast(table["key"], pa.string()))
    return table.sort_by("key").combine_chunks()


def check_same(got: pa.Table, expected: pa.Table, side: str) -> None:
    """``got`` equals ``expected``: keys and counts exactly, floats with rtol=1e-9."""
    got = normalise(got)
    if got.num_rows != expected.num_rows:
        msg = f"{side}: {got.num_rows} groups, pyarrow has {expected.num_rows}"
        raise AssertionError(msg)
    for name in ("key", "count_all"):
        if not got[name].equals(expected[name]):
            msg = f"{side}: column {name!r} differs from pyarrow's"
            raise AssertionError(msg)
    for name in ("x_sum", "x_mean"):
        a, b = got[name].to_numpy(), expected[name].to_numpy()
        if not np.allclose(a, b, rtol=1e-9, atol=0.0):
            worst = float(np.max(np.abs(a - b) / np.abs(b)))
            msg = f"{side}: column {name!r} differs from pyarrow's (largest relative {worst:g})"
            raise AssertionError(msg)


# -- the sides: each returns (run, answer-of-run's-output) -------------------------------------

Prepared = tuple["Callable[[], Any]", "Callable[[Any], pa.Table]"]


def registry() -> NodeRegistry:
    return NodeRegistry(
        paths=[], include_builtin=True, include_env=False, include_cwd=False,
        include_entry_points=False,
    )  # fmt: skip


def ours(path: Path, **options: Any) -> Prepared:
    """Our runtime: read-file -> filter-rows -> select-columns -> aggregate (total)."""
    reg = registry()
    graph = Graph(id="table", registry=reg)
    read = graph.add_node("read-file", settings={"path": path.name, "batchRows": BATCH_ROWS})
    keep = graph.add_node("filter-rows", settings={"expression": f"y < {THRESHOLD}"})
    select = graph.add_node("select-columns", settings={"columns": ["key", "x"]})
    aggregations = [
        {"column": "x", "op": "sum"},
        {"column": "x", "op": "mean"},
        {"op": "count_all"},
    ]
    total = graph.add_node("aggregate", settings={"keys": ["key"], "aggregations": aggregations})
    graph.connect(read, "out", keep, "in")
    graph.connect(keep, "out", select, "in")
    graph.connect(select, "out", total, "in")
    rt = GraphRuntime(graph, reg, data_root=path.parent, **options)

    def answer(result: Any) -> pa.Table:
        assert result.ok, [e.message for e in result.errors[:1]]
        (table,) = result.outputs[f"{total}.out"]
        return table

    return rt.run, answer


def pyarrow_direct(path: Path, kind: str) -> Prepared:
    """A dataset scan with the projection and the filter, then ``group_by``."""

    def run() -> pa.Table:
        dataset = ds.dataset(path, format=kind)
        table = dataset.to_table(columns=["key", "x"], filter=pc.field("y") < THRESHOLD)
        grouped = table.group_by("key").aggregate([("x", "sum"), ("x", "mean"), ([], "count_all")])
        return grouped.sort_by("key")

    return run, lambda out: out


def pandas_side(path: Path, kind: str) -> Prepared:
    import pandas as pd  # noqa: PLC0415 - a peer, imported when measured

    def run() -> Any:
        columns = ["key", "x", "y"]
        if kind == "parquet":
            frame = pd.read_parquet(path, columns=columns)
        else:
            frame = pd.read_csv(path, usecols=columns)
        frame = frame[frame["y"] < THRESHOLD][["key", "x"]]
        return frame.groupby("key").agg(
            x_sum=("x", "sum"), x_mean=("x", "mean"), count_all=("x", "size")
        )

    return run, lambda out: pa.Table.from_pandas(out.reset_index(), preserve_index=False)


def polars_side(path: Path, kind: str) -> Prepared:
    import polars as pl  # noqa: PLC0415 - a peer, imported when measured

    def run() -> Any:
        scan = pl.scan_parquet(path) if kind == "parquet" else pl.scan_csv(path)
        query = (
            scan.filter(pl.col("y") < THRESHOLD)
            .select("key", "x")
            .group_by("key")
            .agg(
                pl.col("x").sum().alias("x_sum"),
                pl.col("x").mean().alias("x_mean"),
                pl.len().alias("count_all"),
            )
            .sort("key")
        )
        return query.collect()

    return run, lambda out: out.to_arrow()


def streamz_side(path: Path, kind: str) -> Prepared:
    """``streamz.dataframe``: pandas chunks pushed through a streaming filter and groupby."""
    import pandas as pd  # noqa: PLC0415 - a peer, imported when measured
    from streamz import Stream  # noqa: PLC0415 - a peer, imported when measured
    from streamz.dataframe import DataFrame  # noqa: PLC0415 - a peer, imported when measured

    columns = ["key", "x", "y"]
    source = Stream()
    example = pd.DataFrame(
        {"key": pd.Series([], dtype=object), "x": pd.Series([], dtype=float)}
        | {"y": pd.Series([], dtype=float)}
    )
    frame = DataFrame(source, example=example)
    kept = frame[frame.y < THRESHOLD][["key", "x"]]
    grouped = kept.groupby("key")
    sums = grouped.x.sum().stream.sink_to_list()
    means = grouped.x.mean().stream.sink_to_list()
    sizes = grouped.size().stream.sink_to_list()

    def chunks() -> Iterator[pd.DataFrame]:
        if kind == "parquet":
            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                yield batch.to_pandas()
        else:
            with pd.read_csv(path, usecols=columns, chunksize=BATCH_ROWS) as reader:
                yield from reader

    def run() -> None:
        for chunk in chunks():
            source.emit(chunk.astype({"key": object}))

    def answer(_: Any) -> pa.Table:
        out = pd.DataFrame({"x_sum": sums[-1], "x_mean": means[-1], "count_all": sizes[-1]})
        return pa.Table.from_pandas(out.rename_axis("key").reset_index(), preserve_index=False)

    return run, answer


def prepare(side: str, path: Path, kind: str, **options: Any) -> Prepared:
    if side == "ours":
        return ours(path, **options)
    makers = {
        "pyarrow": pyarrow_direct,
        "pandas": pandas_side,
        "polars": polars_side,
        "streamz": streamz_side,
    }
    return makers[side](path, kind)


# -- measuring ---------------------------------------------------------------------------------


def run_once(side: str, path: Path, kind: str, **options: Any) -> tuple[float, pa.Table]:
    """One run of ``side`` (built outside the timing): its seconds and its answer."""
    run, answer = prepare(side, path, kind, **options)
    gc.collect()
    started = time.perf_counter()
    out = run()
    elapsed = time.perf_counter() - started
    return elapsed, answer(out)


def interleaved(
    sides: dict[str, tuple[str, dict[str, Any]]],
    path: Path,
    kind: str,
    expected: pa.Table,
    repeat: int,
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Best seconds of each side over ``repeat`` rounds, one run of every side per round (a
    noisy neighbour then hits all alike); every run's answer checked against ``expected``.

    ``sides`` maps a row name to ``(side, options)``. A peer that raises (other than by a
    wrong answer, which fails the benchmark) is dropped with a note.
    """
    best: dict[str, float | None] = dict.fromkeys(sides)
    notes: dict[str, str] = {}
    for _ in range(repeat):
        for name, (side, options) in sides.items():
            if name in notes:
                continue
            try:
                seconds, answer = run_once(side, path, kind, **options)
            except Exception as exc:
                if side == "ours":
                    raise
                notes[name] = f"did not run: {type(exc).__name__}: {exc}"[:160]
                best[name] = None
                continue
            check_same(answer, expected, name)
            previous = best[name]
            best[name] = seconds if previous is None else min(previous, seconds)
    return best, notes


def peak_memory(side: str, path: Path, kind: str, **options: Any) -> float:
    """Peak resident-set growth in MB of one run of ``side``, in a process of its own."""
    command = [sys.executable, __file__, "--memory", side, "--path", str(path), "--kind", kind]
    command += ["--options", json.dumps(options)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        msg = f"the memory run of {side} failed: {done.stderr.strip()[-400:]}"
        raise RuntimeError(msg)
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"])


def _memory_child(side: str, path: Path, kind: str, options: dict[str, Any]) -> None:
    """Run ``side`` once under the sampler and print its peak growth (the child process)."""
    run, answer = prepare(side, path, kind, **options)
    gc.collect()
    with MemorySampler() as sampler:
        out = run()
    answer(out)
    growth = sampler.growth()
    peak = max(v for k, v in growth.items() if k != "arrow_peak_growth_mb" and v is not None)
    print(json.dumps({"peak_mb": peak, **growth}))


def bench_table(
    kind: str = "parquet",
    *,
    quick: bool = False,
    repeat: int = 3,
    rows: int | None = None,
    peers: bool = True,
    levers: bool = True,
) -> Result:
    """The query over a ``kind`` file (``rows`` rows; by default the full or quick size):
    every side's time and peak memory, and our side with each lever off."""
    rows = rows or ROWS[1 if quick else 0]
    path = data_files(rows)[kind]
    _, expected = run_once("pyarrow", path, kind)
    expected = normalise(expected)
    sides: dict[str, tuple[str, dict[str, Any]]] = {"ours": ("ours", {})}
    notes: dict[str, str] = {}
    for side in SIDES[1:]:
        if side != "pyarrow" and not peers:
            notes[side] = "skipped"
        elif optional(PEER_MODULE[side]) is None:
            notes[side] = NOT_INSTALLED
        else:
            sides[side] = (side, {})
    if levers:
        sides |= {f"ours, {name}": ("ours", options) for name, options in LEVERS.items()}
    seconds, failed = interleaved(sides, path, kind, expected, repeat)
    notes |= failed
    memory: dict[str, float | None] = {}
    for name, (side, options) in sides.items():
        memory[name] = None
        if seconds.get(name) is not None:
            with contextlib.suppress(RuntimeError):
                memory[name] = peak_memory(side, path, kind, **options)
    lever_figures: dict[str, Any] = {
        name: {"seconds": seconds[f"ours, {name}"], "peak_memory_mb": memory[f"ours, {name}"]}
        for name in LEVERS
        if levers
    }
    if levers:
        lever_figures["filter-rows alone"] = filter_lever(path, kind, repeat)

    def side_of(name: str) -> Side:
        value = seconds.get(name)
        mb = memory.get(name)
        note = notes.get(name, "")
        if value is not None and mb is not None:
            note = f"peak +{mb:,.0f} MB"
        return Side(name, value, "s", note)

    ours_s, arrow_s = seconds["ours"], seconds["pyarrow"]
    ratios: dict[str, float | None] = {"ours/pyarrow": ours_s / arrow_s if ours_s else None}
    pandas_s = seconds.get("pandas")
    ratios["pandas/ours"] = pandas_s / ours_s if pandas_s and ours_s else None
    mem_ours, mem_arrow = memory.get("ours"), memory.get("pyarrow")
    ratios["memory ours/pyarrow"] = mem_ours / mem_arrow if mem_ours and mem_arrow else None
    met: bool | None = None
    if ours_s is not None and mem_ours is not None and mem_arrow is not None:
        met = ours_s <= 1.3 * arrow_s and mem_ours <= mem_arrow
        if pandas_s is not None:
            met = met and pandas_s > ours_s
    ours_side = side_of("ours")
    return Result(
        "table" if kind == "parquet" else "table-csv",
        ours_side,
        [side_of(name) for name in SIDES[1:]],
        ratios,
        GOAL,
        met,
        {
            "rows": rows,
            "format": kind,
            "file_mb": path.stat().st_size / (1 << 20),
            "batch_rows": BATCH_ROWS,
            "query": f"y < {THRESHOLD}; [key, x]; per key sum(x), mean(x), count(*)",
            "seconds": seconds,
            "peak_memory_mb": memory,
            "levers": lever_figures,
        },
        ours_suffix=f" ({ours_side.note})" if ours_side.note else "",
    )


LEVERS: dict[str, dict[str, Any]] = {
    "no projection pushdown": {"pushdown": False},
    "frames keep 100 tables": {"frame_tables": 100},
}


def filter_lever(path: Path, kind: str, repeat: int) -> dict[str, float]:
    """filter-rows' work over the file's batches: its mask vs ``Table.filter(Expression)``."""
    node = registry().get("filter-rows", "1.0.0").load()("f", {"expression": f"y < {THRESHOLD}"})
    columns = ["key", "x", "y"]
    if kind == "parquet":
        batches = pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns)
    else:
        options = pcsv.ConvertOptions(include_columns=columns)
        batches = pcsv.open_csv(path, convert_options=options)
    tables = [pa.Table.from_batches([batch]) for batch in batches]
    ways: dict[str, Callable[[pa.Table], pa.Table]] = {
        "mask_s": lambda table: table.filter(node.mask(table)),
        "expression_s": lambda table: table.filter(node.expression),
    }
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(repeat):
        for name, way in ways.items():
            started = time.perf_counter()
            kept = sum(way(table).num_rows for table in tables)
            best[name] = min(best[name], time.perf_counter() - started)
        assert kept == sum(table.filter(node.expression).num_rows for table in tables)
    # The filter in the scan: Arrow's dataset scanner with and without the predicate.
    scans: dict[str, pc.Expression | None] = {"scan_s": None, "scan_with_filter_s": node.expression}
    best |= dict.fromkeys(scans, float("inf"))
    for _ in range(repeat):
        for name, predicate in scans.items():
            dataset = ds.dataset(path, format=kind)
            started = time.perf_counter()
            for _batch in dataset.to_batches(
                columns=columns, filter=predicate, batch_size=BATCH_ROWS
            ):
                pass
            best[name] = min(best[name], time.perf_counter() - started)
    return {**best, "tables": len(tables)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one side of the table benchmark")
    parser.add_argument("--memory", choices=SIDES, required=True)
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--kind", choices=("parquet", "csv"), required=True)
    parser.add_argument("--options", default="{}")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    os.chdir(HERE.parent)
    _memory_child(args.memory, args.path, args.kind, json.loads(args.options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
