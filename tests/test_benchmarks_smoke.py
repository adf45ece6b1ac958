"""Smoke test of the performance suite (benchmarks/suite.py): our side, tiny sizes.

The peers live in benchmarks/.venv (made by benchmarks/run.sh), not in the project's
environment, so this runs our runtime only and checks that the suite copes without them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

SUITE = Path(__file__).resolve().parents[1] / "benchmarks" / "suite.py"


@pytest.fixture(scope="module")
def suite() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("benchmarks_suite", SUITE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_streaming_runs_our_side(suite: ModuleType) -> None:
    result = suite.bench_streaming(packets=300, maps=10, repeat=1, peers=False)
    assert result.name == "streaming"
    assert result.ours.unit == "pkt/s"
    assert result.ours.value > 0
    assert result.ratios["ours/plain"] > 0
    streamz = next(p for p in result.peers if p.name == "streamz")
    assert streamz.value is None
    assert result.met is None  # no peer, no verdict


def test_dispatch_runs_our_side(suite: ModuleType) -> None:
    result = suite.bench_dispatch(nodes=50, repeat=1, peers=False)
    assert result.ours.unit == "us"
    assert result.ours.value > 0
    assert all(p.value is None for p in result.peers if p.name != "plain calls")
    assert "dispatch" in suite.table([result])


def test_a_missing_peer_is_reported_not_faked(suite: ModuleType) -> None:
    side, seconds = suite.peer_side("nope", "no_such_peer_module_xyz", "us", lambda mod: 1.0)
    assert seconds is None
    assert side.value is None
    assert side.note == suite.NOT_INSTALLED
    assert suite.NOT_INSTALLED in side.text()


def test_table_runs_our_side_and_pyarrow(
    suite: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(SUITE.parent))  # benchmarks/table.py imports suite
    table = importlib.import_module("table")
    for kind in ("parquet", "csv"):
        result = table.bench_table(kind, rows=3_000, repeat=1, peers=False, levers=False)
        assert result.name == ("table" if kind == "parquet" else "table-csv")
        assert result.ours.value > 0
        assert result.extra["peak_memory_mb"]["ours"] is not None
        pyarrow = next(p for p in result.peers if p.name == "pyarrow")
        assert pyarrow.value > 0
        assert result.ratios["ours/pyarrow"] > 0
        assert {p.name: p.note for p in result.peers if p.value is None} == {
            "pandas": "skipped",
            "polars": "skipped",
            "streamz": "skipped",
        }
