"""Smoke test of the performance suite (benchmarks/suite.py and the module of each
benchmark next to it): our side, tiny sizes.

The peers live in benchmarks/.venv (made by benchmarks/run.sh), not in the project's
environment, so this runs our runtime only and checks that the suite copes without them.
The notebook benchmark runs a real kernel of this environment (ipykernel is a dev
dependency), the cluster benchmark a real 2-process ``LocalCluster`` (distributed is one).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

SUITE = Path(__file__).resolve().parents[1] / "benchmarks" / "suite.py"
# What the suite imports by name from benchmarks/ (removed from sys.modules afterwards).
SIBLINGS = (
    "harness",
    "bench_nodes",
    "streaming",
    "dispatch",
    "payload",
    "parallel",
    "streaming_default",
    "notebook_run",
    "table",
    "cluster",
)


@pytest.fixture(scope="module")
def suite() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("benchmarks_suite", SUITE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)
        for name in SIBLINGS:
            sys.modules.pop(name, None)
        sys.path[:] = path


def test_streaming_runs_our_side(suite: ModuleType) -> None:
    result = suite.sibling("streaming").bench_streaming(packets=300, maps=10, repeat=1, peers=False)
    assert result.name == "streaming"
    assert result.ours.unit == "pkt/s"
    assert result.ours.value > 0
    assert result.ratios["ours/plain"] > 0
    streamz = next(p for p in result.peers if p.name == "streamz")
    assert streamz.value is None
    assert result.met is None  # no peer, no verdict


def test_dispatch_runs_our_side(suite: ModuleType) -> None:
    result = suite.sibling("dispatch").bench_dispatch(nodes=50, repeat=1, peers=False)
    assert result.ours.unit == "us"
    assert result.ours.value > 0
    assert all(p.value is None for p in result.peers if p.name != "plain calls")
    assert "dispatch" in suite.report([result])
    assert result.headline().endswith(" us/node")


def test_a_missing_peer_is_reported_not_faked(suite: ModuleType) -> None:
    harness = suite.sibling("harness")
    side, seconds = harness.peer_side("nope", "no_such_peer_module_xyz", "us", lambda mod: 1.0)
    assert seconds is None
    assert side.value is None
    assert side.note == harness.NOT_INSTALLED
    assert harness.NOT_INSTALLED in side.text()


def test_table_runs_our_side_and_pyarrow(suite: ModuleType) -> None:
    table = suite.sibling("table")
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


def test_streaming_default_runs_our_side(suite: ModuleType) -> None:
    bench = suite.sibling("streaming_default")
    result = bench.bench_streaming_default(packets=200, maps=10, repeat=1, peers=False)
    assert result.name == "streaming-default"
    assert result.ours.unit == "pkt/s"
    assert result.ours.value > 0
    assert result.ratios["ours/plain"] > 0
    streamz = next(p for p in result.peers if p.name == "streamz")
    assert streamz.value is None
    assert result.met is None
    assert "streaming-default" in suite.report([result])


def test_streaming_default_nodes_are_folders_written_like_the_seed(
    suite: ModuleType, tmp_path: Path
) -> None:
    bench = suite.sibling("streaming_default")
    nodes = bench.write_pack(tmp_path, maps=3)
    registry = bench.user_registry(nodes)
    for type_id in ("user-rows", "user-step-1", "user-step-2", "user-step-3", "user-count"):
        node_type = registry.get(type_id, "1.0.0")
        assert node_type.path.is_relative_to(nodes)
        assert node_type.source == "path"  # discovered in the folder, not registered in code
        schema = json.loads((node_type.path / "schema.json").read_text(encoding="utf-8"))
        assert schema["execution"] == {"timeoutMs": 5000, "retry": 2, "recoverable": True}
        assert (node_type.path / "node.py").is_file()


def test_notebook_runs_in_a_kernel_and_as_a_script(suite: ModuleType) -> None:
    result = suite.sibling("notebook_run").bench_notebook(packets=200, maps=10, repeat=1)
    assert result.name == "notebook"
    assert result.ours.value > 0
    script = next(p for p in result.peers if p.name == "script")
    assert script.value > 0
    assert result.ratios["notebook/script"] == result.ours.value / script.value
    assert Path(result.extra["executable"]).resolve() == Path(sys.executable).resolve()
    assert "in a kernel" in suite.report([result])


def test_parallel_measures_the_default_and_the_forced_thread(suite: ModuleType) -> None:
    result = suite.sibling("parallel").bench_parallel(rows=20_000, repeat=1)
    assert result.ours.value > 0
    names = [p.name for p in result.peers]
    assert names == ["ours with offload: thread", "sequential", "bare threads"]
    assert all(p.value > 0 for p in result.peers)
    assert result.ratios["sequential/ours"] > 0
    spec = suite.sibling("bench_nodes").registry().get("regex-count", "1.0.0").spec
    assert "offload" not in spec.execution.model_fields_set


def test_payload_runs_our_side_and_says_its_headline(suite: ModuleType) -> None:
    result = suite.sibling("payload").bench_payload(rows=10_000, hops=3, repeat=1)
    assert result.ours.unit == "us"
    assert result.ours.value > 0
    assert result.extra["peak_growth_mb"] is not None
    assert "/hop, peak " in result.headline()
    assert result.headline() in suite.report([result])


def test_each_run_owns_what_its_sink_received(suite: ModuleType) -> None:
    nodes = suite.sibling("bench_nodes")
    runtime = suite.sibling("dataflow_jupyter.runtime")
    first, second = nodes.Collected(), nodes.Collected()
    for got, count in ((first, 3), (second, 5)):
        reg = nodes.registry(sink_into=got)
        graph, _ = nodes.chain_graph(reg, ("dict-source", {"count": count}), "map-x", 2, sink=True)
        assert runtime.GraphRuntime(graph).run().ok
    assert (first.count, first.last) == (3, {"i": 2, "x": nodes.START_X + 2})
    assert (second.count, second.last) == (5, {"i": 4, "x": nodes.START_X + 2})


@pytest.mark.integration
def test_cluster_runs_every_side_on_a_local_cluster(suite: ModuleType) -> None:
    result = suite.sibling("cluster").bench_cluster(batches=6, rows=50, firings=10, repeat=1)
    assert result.name == "cluster"
    assert result.ours.unit == "s"
    assert result.ours.value > 0
    names = [p.name for p in result.peers]
    assert names == [
        "ours with parallelism: 4",
        "local threads",
        "client.map",
        "client.submit 1 in flight",
        "client.submit 8 in flight",
    ]
    assert all(p.value > 0 for p in result.peers)
    assert set(result.ratios) == {"local/ours", "ours/client.map", "local/ours-4"}
    assert set(result.extra["overhead_ms"]) == {"1", "8"}
    assert "grouped; one per task" in result.headline()
    assert {"ours-1", "single-1", "submit-1"} <= set(result.extra["per_firing_ms"])
    assert result.headline() in suite.report([result])
