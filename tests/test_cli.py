"""The ``dataflow`` command, run as a user runs it: in a subprocess, on files in tmp_path."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataflow_jupyter import Graph, NodeRegistry, __version__

CLI = [sys.executable, "-m", "dataflow_jupyter.cli"]
# A background job of a script inherits SIGINT ignored (and the CLI keeps it so); a user's
# terminal does not. The Ctrl-C tests restore Python's default handler first.
CLI_WITH_SIGINT = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from dataflow_jupyter.cli import main; sys.exit(main(sys.argv[1:]))",
]
TIMEOUT_S = 60

FAIL_NODE = """
from dataflow_jupyter.node import PureNode


class AlwaysFail(PureNode):
    def process(self, inputs, ctx):
        raise RuntimeError("boom: this node always fails")
"""

SLOW_NODE = """
import time

from dataflow_jupyter.node import PureNode


class Slow(PureNode):
    def process(self, inputs, ctx):
        time.sleep(0.2)
        return {"out": inputs["in"]}
"""

BAD_SETUP_NODE = """
from dataflow_jupyter.node import PureNode


class BadSetup(PureNode):
    async def setup(self):
        raise ConnectionError("cannot reach the service")

    def process(self, inputs, ctx):
        return {"out": inputs["in"]}
"""


def node_schema(type_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": type_id,
        "version": "1.0.0",
        "compatibility": {"minRuntime": "0.1.0"},
        "category": "Test",
        "name": type_id.replace("-", " ").title(),
        "ports": {
            "inputs": [{"name": "in", "type": "any", "required": True}],
            "outputs": [{"name": "out", "type": "any"}],
        },
        **extra,
    }


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A node pack: a node that always fails, a slow (threaded) one, one that cannot set up."""
    root = tmp_path / "pack"
    for folder, schema, code in (
        ("AlwaysFail", node_schema("always-fail", execution={"offload": "none"}), FAIL_NODE),
        ("Slow", node_schema("slow"), SLOW_NODE),
        ("BadSetup", node_schema("bad-setup"), BAD_SETUP_NODE),
    ):
        (root / folder).mkdir(parents=True)
        (root / folder / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
        (root / folder / "node.py").write_text(code, encoding="utf-8")
    return root


def registry(*paths: Path) -> NodeRegistry:
    return NodeRegistry(paths=paths)


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=cwd,
        check=False,
    )


def save(graph: Graph, folder: Path) -> Path:
    return graph.save(folder / f"{graph.id}.dfgraph.json")


def demo_graph(folder: Path) -> Path:
    """inject (3 times) -> filter -> debug-log."""
    g = Graph(id="demo", registry=registry())
    src = g.add_node("inject", settings={"value": {"x": 2}, "count": 3})
    flt = g.add_node("filter", settings={"expression": "value['x'] > 1"})
    log = g.add_node("debug-log")
    g.connect(src, "out", flt, "in")
    g.connect(flt, "out", log, "in")
    return save(g, folder)


def endless_graph(folder: Path, *chain: str, nodes: Path | None = None) -> Path:
    """An inject that never ends (every 10 ms) -> ``chain`` (default: debug-log)."""
    g = Graph(id="endless", registry=registry(*([nodes] if nodes else [])))
    last = g.add_node("inject", settings={"value": "tick", "count": 0, "intervalMs": 10})
    for type_id in chain or ("debug-log",):
        node = g.add_node(type_id)
        g.connect(last, "out", node, "in")
        last = node
    return save(g, folder)


def counters(stdout: str, node_id: str) -> list[int]:
    """The counters in the row of ``node_id`` in the summary's node table (then where it ran)."""
    match = re.search(
        rf"^\s+{node_id}((?:\s+\d+)+)\s+(?:inline|worker|loop)\s*$", stdout, re.MULTILINE
    )
    assert match is not None, stdout
    return [int(n) for n in match.group(1).split()]


# -- version, validate ---------------------------------------------------------------------


def test_version(tmp_path: Path) -> None:
    done = cli("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"dataflow-jupyter {__version__}"


def test_validate_ok(tmp_path: Path) -> None:
    done = cli("validate", demo_graph(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok: demo 1.0.0, 3 nodes, 2 edges\n"


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    g = Graph(id="broken", registry=registry())
    src = g.add_node("inject", settings={"count": 0})  # endless without an interval
    log = g.add_node("debug-log", settings={"level": "loud"})
    g.connect(src, "out", log, "nope", force=True)  # a broken file, as one may get
    done = cli("validate", save(g, tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "4 problems" in done.stderr
    assert "setting 'level'" in done.stderr
    assert "no input port 'nope'" in done.stderr
    assert "required input 'in' is not connected" in done.stderr
    assert "count 0 emits until stopped and needs intervalMs > 0" in done.stderr


def test_validate_unknown_node_type(tmp_path: Path) -> None:
    data = json.loads(demo_graph(tmp_path).read_text(encoding="utf-8"))
    data["nodes"][1]["typeId"] = "filtre"
    path = tmp_path / "typo.dfgraph.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    done = cli("validate", path, cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown node type 'filtre'" in done.stderr
    assert "did you mean 'filter'" in done.stderr


@pytest.mark.parametrize("command", ["validate", "run"])
def test_missing_file_is_bad_input(tmp_path: Path, command: str) -> None:
    done = cli(command, tmp_path / "nowhere.dfgraph.json", cwd=tmp_path)
    assert done.returncode == 2
    assert "cannot read the graph file" in done.stderr
    assert "Traceback" not in done.stderr


def test_not_json_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "junk.dfgraph.json"
    path.write_text("{not json", encoding="utf-8")
    done = cli("run", path, cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid graph" in done.stderr


def test_usage_error_exits_2(tmp_path: Path) -> None:
    done = cli("run", demo_graph(tmp_path), "--max-concurrency", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "--max-concurrency" in done.stderr


# -- run -----------------------------------------------------------------------------------


def test_run_ok_prints_summary(tmp_path: Path) -> None:
    done = cli("run", demo_graph(tmp_path), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("finished graph 'demo' 1.0.0 in ")
    assert counters(out, "n1")[:3] == [0, 3, 0]  # received, emitted, firings
    assert counters(out, "n2")[:3] == [3, 3, 3]
    assert counters(out, "n3")[:3] == [3, 3, 3]
    assert "  n3.out: 3 packets" in out
    assert "errors: 0" in out
    assert "dead letters: 0" in out
    assert out.count('n3: {"x": 2}') == 0  # node logs go to stderr, not stdout
    assert done.stderr.count('n3: {"x": 2}') == 3


# A stand-in for the Dask executor's module: a local executor that remembers how it was made
# and whether the run closed it (the real one is run end to end in tests/executors/).
FAKE_DASK = """
import json, sys, types
from dataflow_jupyter.executors import LocalExecutor

made = []

class DaskExecutor(LocalExecutor):
    def __init__(self, client=None):
        super().__init__()
        self.client, self.closed = client, False
        made.append(self)

    async def close(self):
        self.closed = True
        await super().close()

fake = types.ModuleType("dataflow_jupyter.executors.dask")
fake.DaskExecutor = DaskExecutor
sys.modules[fake.__name__] = None if sys.argv[1] == "--missing" else fake
from dataflow_jupyter.cli import main
code = main(sys.argv[2:])
print(json.dumps({"code": code, "made": [[e.client, e.closed] for e in made]}))
"""


@pytest.mark.parametrize(
    ("option", "client"),
    [
        (["--dask"], None),
        (["--dask", "local"], None),
        (["--dask", "tcp://10.1.2.3:8786"], "tcp://10.1.2.3:8786"),
    ],
)
def test_run_dask_gives_the_runtime_a_dask_executor(
    tmp_path: Path, option: list[str], client: str | None
) -> None:
    graph = demo_graph(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", FAKE_DASK, "--fake", "run", str(graph), *option, "--quiet"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "made": [[client, True]]}, done.stderr[-2000:]


def test_run_dask_without_dask_installed_is_bad_input(tmp_path: Path) -> None:
    graph = demo_graph(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", FAKE_DASK, "--missing", "run", str(graph), "--dask"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
        check=False,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 2, "made": []}
    assert "pip install 'dataflow-jupyter[dask]'" in done.stderr


def test_run_quiet_prints_one_line(tmp_path: Path) -> None:
    done = cli("run", demo_graph(tmp_path), "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"finished graph 'demo' 1\.0\.0 in [\d.]+ s: 3 outputs, 0 errors, 0 dead letters\n",
        done.stdout,
    )
    assert done.stderr == ""


def test_failing_node_exits_1(tmp_path: Path, pack: Path) -> None:
    g = Graph(id="failing", registry=registry(pack))
    src = g.add_node("inject", settings={"value": 1, "count": 2})
    bad = g.add_node("always-fail")
    g.connect(src, "out", bad, "in")
    done = cli("run", save(g, tmp_path), "--nodes", pack, "--no-progress", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "errors: 2" in done.stdout
    assert "dead letters: 2" in done.stdout
    assert "  n2: NODE_EXCEPTION: " in done.stdout
    assert "boom: this node always fails" in done.stdout
    assert counters(done.stdout, "n2")[6] == 2  # dead_lettered


def test_failing_setup_exits_1(tmp_path: Path, pack: Path) -> None:
    g = Graph(id="unreachable", registry=registry(pack))
    g.connect(g.add_node("inject"), "out", g.add_node("bad-setup"), "in")
    done = cli("run", save(g, tmp_path), "--nodes", pack, "--no-progress", cwd=tmp_path)
    assert done.returncode == 1
    assert "the run failed" in done.stderr
    assert "failed to set up" in done.stderr
    assert "cannot reach the service" in done.stderr
    assert done.stdout == ""


def test_node_pack_is_needed_for_its_types(tmp_path: Path, pack: Path) -> None:
    g = Graph(id="failing", registry=registry(pack))
    g.connect(g.add_node("inject"), "out", g.add_node("always-fail"), "in")
    done = cli("validate", save(g, tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown node type 'always-fail'" in done.stderr


def test_missing_nodes_folder_is_bad_input(tmp_path: Path) -> None:
    done = cli("run", demo_graph(tmp_path), "--nodes", tmp_path / "absent", cwd=tmp_path)
    assert done.returncode == 2
    assert "is not a folder" in done.stderr


def test_file_state_in_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = cli("run", demo_graph(tmp_path), "--state-dir", state, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert state.is_dir()


def test_file_state_default_folder(tmp_path: Path) -> None:
    done = cli("run", demo_graph(tmp_path), "--state", "file", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".dataflow-state" / "demo").is_dir()


def test_state_dir_needs_file_state(tmp_path: Path) -> None:
    graph = demo_graph(tmp_path)
    done = cli("run", graph, "--state", "memory", "--state-dir", tmp_path / "s", cwd=tmp_path)
    assert done.returncode == 2
    assert "--state-dir is for --state file" in done.stderr


@pytest.mark.integration
def test_redis_state_runs_against_a_real_server(tmp_path: Path, redis_server: Any) -> None:
    path = demo_graph(tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["config"]["stateStorage"] = {"type": "redis", "url": redis_server.url}
    path.write_text(json.dumps(document), encoding="utf-8")
    done = cli("run", path, "--state", "redis", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_log_file(tmp_path: Path) -> None:
    log = tmp_path / "run.parquet"
    done = cli("run", demo_graph(tmp_path), "--log", log, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    kinds = pq.read_table(log).column("kind").to_pylist()
    assert kinds.count("packet") == 9  # 3 from inject, 3 from filter, 3 from debug-log
    assert kinds.count("firing") == 6


def test_log_file_with_unknown_suffix_is_bad_input(tmp_path: Path) -> None:
    done = cli("run", demo_graph(tmp_path), "--log", tmp_path / "run.txt", cwd=tmp_path)
    assert done.returncode == 2
    assert "expected .parquet" in done.stderr


# -- nodes ---------------------------------------------------------------------------------


def test_nodes_table(tmp_path: Path, pack: Path) -> None:
    done = cli("nodes", "--nodes", pack, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["id", "version", "category", "name", "inputs", "outputs"]
    ids = [row.split()[0] for row in rows]
    assert {"inject", "debug-log", "filter", "always-fail", "slow"} <= set(ids)


def test_nodes_json(tmp_path: Path) -> None:
    done = cli("nodes", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    specs = json.loads(done.stdout)
    inject = next(spec for spec in specs if spec["id"] == "inject")
    assert inject["version"] == "1.0.0"
    assert inject["ports"]["outputs"][0]["name"] == "out"


def test_nodes_reports_broken_folders(tmp_path: Path, pack: Path) -> None:
    broken = pack / "Broken"
    broken.mkdir()
    (broken / "schema.json").write_text("{oops", encoding="utf-8")
    done = cli("nodes", "--nodes", pack, cwd=tmp_path)
    assert done.returncode == 0
    assert f"warning: {broken}: schema.json is not valid JSON" in done.stderr
    assert "always-fail" in done.stdout


# -- Ctrl-C --------------------------------------------------------------------------------


def start(args: list[str | Path], folder: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """``dataflow`` in the background, stdout and stderr to files (a pipe could fill up)."""
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [*CLI_WITH_SIGINT, *map(str, args)], stdout=stdout, stderr=stderr, cwd=folder
        )
    return process, out, err


def wait_for(path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while text not in path.read_text(encoding="utf-8", errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{text!r} never appeared:\n{path.read_text(encoding='utf-8')}")
        time.sleep(0.05)


def finish(process: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=TIMEOUT_S)
        raise


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@posix_only
def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "run.parquet"
    started = time.monotonic()
    process, out, err = start(["run", endless_graph(tmp_path), "--log", log], tmp_path)
    wait_for(err, '"tick"', process)  # the run is under way
    time.sleep(max(0.0, 1.5 - (time.monotonic() - started)))
    process.send_signal(signal.SIGINT)
    assert finish(process, timeout=10) == 130
    stdout = out.read_text(encoding="utf-8")
    assert stdout.startswith("stopped graph 'endless' 1.0.0 after ")
    emitted = counters(stdout, "n1")[1]
    assert emitted > 0
    assert counters(stdout, "n2")[:3] == [emitted, emitted, emitted]  # drained, nothing lost
    assert f"n2.out: {emitted} packet" in stdout  # "1 packet" when stopped early
    assert "dead letters: 0" in stdout
    assert "Traceback" not in err.read_text(encoding="utf-8")
    events = pq.read_table(log)  # closed properly: a complete, readable file
    kinds = events.column("kind").to_pylist()
    assert kinds.count("firing") == emitted
    assert kinds.count("packet") == 2 * emitted


@posix_only
def test_second_ctrl_c_exits_at_once(tmp_path: Path, pack: Path) -> None:
    graph = endless_graph(tmp_path, "slow", "debug-log", nodes=pack)  # draining takes long
    process, _, err = start(["run", graph, "--nodes", pack, "--no-progress"], tmp_path)
    wait_for(err, '"tick"', process)
    time.sleep(0.5)  # packets pile up in front of the slow node
    process.send_signal(signal.SIGINT)
    wait_for(err, "stopping", process)
    process.send_signal(signal.SIGINT)
    assert finish(process, timeout=10) == 130
    assert "exiting now" in err.read_text(encoding="utf-8")


# -- what a run shows and writes -----------------------------------------------------------


def sales_graph(folder: Path, rows: int = 1000) -> Path:
    """read-file (a Parquet file of ``rows`` sales) -> aggregate by city; -> a filter."""
    cities = ["Paris", "Lyon", "Nice", "Marseille"]
    table = pa.table(
        {
            "city": [cities[i % 4] for i in range(rows)],
            "price": [i * 1.5 for i in range(rows)],
            "volume": list(range(rows)),
        }
    )
    pq.write_table(table, folder / "sales.parquet")
    g = Graph(id="sales", registry=registry())
    g.add_node("read-file", id="rf", settings={"path": "sales.parquet"})
    g.add_node(
        "aggregate",
        id="agg",
        settings={"keys": ["city"], "aggregations": [{"column": "volume", "op": "sum"}]},
    )
    g.add_node("inject", id="one", settings={"value": {"total": 3, "unit": "EUR"}})
    g.add_node("inject", id="many", settings={"value": 7, "count": 50})
    g.connect("rf.out", "agg.in")
    return save(g, folder)


def test_run_previews_each_output(tmp_path: Path) -> None:
    done = cli("run", sales_graph(tmp_path), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    start = out.index("outputs:")
    assert out[start + 1] == "  agg.out: 1 packet: a table of 4 rows x 2 columns"
    assert out[start + 2].split() == ["city", "volume_sum"]
    assert out[start + 3].split() == ["0", "Lyon", str(sum(range(1, 1000, 4)))]  # sorted keys
    assert out[start + 7] == "  many.out: 50 packets; the last 3:"
    assert out[start + 8 : start + 11] == ["    7"] * 3
    assert out[start + 11] == '  one.out: 1 packet: {"total": 3, "unit": "EUR"}'
    assert "  rf.error" not in done.stdout  # a port that emitted nothing is not a result


def test_a_wide_table_fits_the_terminal(tmp_path: Path) -> None:
    table = pa.table({f"column_{i}": [i * 1000.5] * 8 for i in range(30)})
    pq.write_table(table, tmp_path / "wide.parquet")
    g = Graph(id="wide", registry=registry())
    g.add_node("read-file", id="rf", settings={"path": "wide.parquet"})
    done = subprocess.run(
        [*CLI, "run", str(save(g, tmp_path)), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    preview = done.stdout[done.stdout.index("outputs:") :].splitlines()
    assert "  rf.out: 1 packet: a table of 8 rows x 30 columns" in preview
    assert all(len(line) <= 80 for line in preview)
    assert any("..." in line and "column_0" in line for line in preview)  # columns elided
    assert "    ... 3 more rows" in preview


def test_output_writes_one_file_per_output(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    done = cli("run", sales_graph(tmp_path), "--output", folder, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in folder.iterdir()) == [
        "agg.out.parquet",
        "many.out.json",
        "one.out.json",
    ]
    totals = pq.read_table(folder / "agg.out.parquet").to_pydict()
    assert totals["city"] == ["Lyon", "Marseille", "Nice", "Paris"]  # like pandas' groupby
    assert sum(totals["volume_sum"]) == sum(range(1000))
    assert json.loads((folder / "one.out.json").read_text()) == [{"total": 3, "unit": "EUR"}]
    assert json.loads((folder / "many.out.json").read_text()) == [7] * 50
    assert f"wrote {folder / 'many.out.json'}: 50 packets" in done.stdout


def test_output_says_when_a_file_holds_the_first_packets_only(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    args = ("--output", folder, "--max-outputs", "10", "--quiet")
    done = cli("run", sales_graph(tmp_path), *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((folder / "many.out.json").read_text()) == [7] * 10
    assert "many.out.json: 10 packets (the first 10 of 50)" in done.stdout


def test_output_folder_that_cannot_be_made_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    done = cli("run", demo_graph(tmp_path), "--output", tmp_path / "file" / "x", cwd=tmp_path)
    assert done.returncode == 2
    assert "--output" in done.stderr
    assert "cannot create the folder" in done.stderr


def test_a_200000_packet_run_keeps_the_terminal_usable(tmp_path: Path) -> None:
    """inject x 200,000 -> debug-log at its default level: a few dozen lines, not 200,000."""
    g = Graph(id="flood", registry=registry())
    g.add_node("inject", id="src", settings={"value": {"x": 1}, "count": 200_000})
    g.add_node("debug-log", id="log")
    g.connect("src.out", "log.in")
    done = subprocess.run(
        [*CLI, "run", str(save(g, tmp_path))],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines() + done.stderr.splitlines()  # \r updates count as lines
    assert len(lines) < 200, len(lines)
    assert len(done.stdout) + len(done.stderr) < 50_000
    assert done.stderr.count('log: {"x": 1}') == 20  # the first lines of the node
    for count in (100, 1000, 10_000, 100_000):  # then a running count
        assert f"log: {count} log lines so far (20 shown)" in done.stderr
    assert "  log: 200000 lines, the first 20 shown (--log-lines N shows more)" in done.stdout
    assert "  log.out: 200000 packets; the last 3:" in done.stdout
    assert counters(done.stdout, "log")[:3] == [200_000, 200_000, 200_000]
    # the progress line: packets in with a rate and a percentage of the known total, out, errors
    assert "100%" in done.stderr
    assert "200000/200000" in done.stderr
    assert "packets in/s, out 200000, errors 0]" in done.stderr


def test_log_lines_sets_how_many_each_node_shows(tmp_path: Path) -> None:
    done = cli("run", demo_graph(tmp_path), "--log-lines", "1", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count('n3: {"x": 2}') == 1
    assert "further lines are counted, not shown" in done.stderr
    assert "  n3: 3 lines, the first 1 shown" in done.stdout


@posix_only
def test_a_graph_reading_a_fifo_ends_at_once_instead_of_hanging(tmp_path: Path) -> None:
    # read-file once blocked forever on a FIFO, and Ctrl-C could not end `dataflow run`
    os.mkfifo(tmp_path / "pipe.csv")
    g = Graph(id="fifo", registry=registry())
    read = g.add_node("read-file", settings={"path": "pipe.csv"})
    log = g.add_node("debug-log")
    g.connect(read, "out", log, "in")
    started = time.monotonic()
    done = cli("run", save(g, tmp_path), "--no-progress", cwd=tmp_path)
    assert time.monotonic() - started < TIMEOUT_S / 2
    assert done.returncode == 1
    assert "pipe.csv" in done.stdout + done.stderr
    assert (
        "not a regular file" in (done.stdout + done.stderr).lower()
        or "fifo" in (done.stdout + done.stderr).lower()
    )
