"""streaming-default: the ``streaming`` benchmark with the nodes a user writes.

The graph is the one of ``streaming`` (a source of small dicts, 10 map nodes, a sink), but
every node is a user's node: a folder with a ``schema.json`` and a ``node.py``, written to a
temporary ``nodes/`` folder and discovered by ``NodeRegistry`` as a user's own ``./nodes``
folder is (the same ``add_path`` discovery, lazy import of ``node.py``). The schemas are
written like the seed's example, ``"execution": {"timeoutMs": 5000, "retry": 2,
"recoverable": true}``, with no ``offload`` key, so the runtime's defaults decide where each
firing runs. The 10 maps are 10 node types (``user-step-1`` ... ``user-step-10``), as a
pipeline of a user's own steps would be; they do the work of ``streaming``'s map node.

Peers: the plain loop and streamz, doing the same work (``bench_nodes.map_x``; the peers are
``streaming``'s). Goal: at least 1.5x streamz's throughput. The sink is a user's node too:
what it received is read from the run (its node's ``received`` count in ``stats`` and the
last packet in its input's frame), not from the node.

``best_run_seconds`` is also what the ``notebook`` benchmark runs, in a kernel and in a
script, so both time exactly this.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_nodes import START_X
from harness import Result, Side, best_of
from streaming import map_chain_peers

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from collections.abc import Callable

GOAL = 1.5  # times streamz's throughput

# What a user copies from the seed's example: a timeout, retries, recoverable; no offload.
SEED_EXECUTION: dict[str, Any] = {"timeoutMs": 5000, "retry": 2, "recoverable": True}

SOURCE_PY = '''\
"""user-rows: emits ``count`` small dicts, each a new trace."""

from dataflow_jupyter.node import IONode


class Rows(IONode):
    async def run(self, ctx):
        for i in range(self.settings["count"]):
            await ctx.emit("out", {"i": i, "x": 1.5})
'''

STEP_PY = '''\
"""user-step-{n}: adds 1 to the packet's "x"."""

from dataflow_jupyter.node import PureNode


class Step{n}(PureNode):
    def process(self, inputs, ctx):
        value = inputs["in"].value
        return {{"out": {{**value, "x": value["x"] + 1}}}}
'''

SINK_PY = '''\
"""user-count: counts the packets it receives and keeps the last value."""

from dataflow_jupyter.node import PureNode


class Count(PureNode):
    def __init__(self, node_id, settings=None):
        super().__init__(node_id, settings)
        self.count = 0
        self.last = None

    def process(self, inputs, ctx):
        self.count += 1
        self.last = inputs["in"].value
'''


def _schema(type_id: str, name: str, description: str, **fields: Any) -> dict[str, Any]:
    """A schema.json written like the seed's example (its keys, its execution block)."""
    return {
        "id": type_id,
        "version": "1.0.0",
        "compatibility": {"minRuntime": "0.1.0"},
        "category": "Benchmark",
        "name": name,
        "description": description,
        "ui": {"color": "#0ea5e9", "icon": "cpu", "resizable": False},
        "execution": dict(SEED_EXECUTION),
        **fields,
    }


def write_pack(root: Path, maps: int = 10) -> Path:
    """Write the user's node folders under ``root/nodes``; return that folder."""
    nodes = root / "nodes"
    obj_in = [{"name": "in", "type": "object", "required": True}]
    obj_out = [{"name": "out", "type": "object"}]
    count = {"name": "count", "type": "integer", "label": "Count", "default": 1}
    folders: dict[str, tuple[dict[str, Any], str]] = {
        "Rows": (
            _schema(
                "user-rows",
                "Rows",
                "Emits 'count' small dicts.",
                ports={"inputs": [], "outputs": obj_out},
                settings=[count],
            ),
            SOURCE_PY,
        ),
        "Count": (
            _schema(
                "user-count",
                "Count",
                "Counts packets.",
                ports={"inputs": obj_in, "outputs": []},
                settings=[],
            ),
            SINK_PY,
        ),
    }
    for n in range(1, maps + 1):
        folders[f"Step{n}"] = (
            _schema(
                f"user-step-{n}",
                f"Step {n}",
                "Adds 1 to x.",
                ports={"inputs": obj_in, "outputs": obj_out},
                settings=[],
            ),
            STEP_PY.format(n=n),
        )
    for folder, (schema, source) in folders.items():
        path = nodes / "Benchmark" / folder
        path.mkdir(parents=True, exist_ok=True)
        (path / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
        (path / "node.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return nodes


def user_registry(nodes: Path) -> NodeRegistry:
    """The registry a user gets with these folders: the built-in nodes plus theirs."""
    registry = NodeRegistry(paths=[nodes])
    problems = [p for p in registry.problems if str(nodes) in str(p)]
    if problems:
        msg = f"the benchmark's node folders under {nodes} did not load: {problems}"
        raise RuntimeError(msg)
    return registry


def user_graph(registry: NodeRegistry, packets: int, maps: int) -> tuple[Graph, str]:
    """``user-rows -> user-step-1 -> ... -> user-step-<maps> -> user-count``; returns the
    graph and the sink's id."""
    graph = Graph(id="streaming-default", registry=registry)
    prev = graph.add_node("user-rows", settings={"count": packets})
    for n in range(1, maps + 1):
        node = graph.add_node(f"user-step-{n}")
        graph.connect(prev, "out", node, "in")
        prev = node
    sink = graph.add_node("user-count")
    graph.connect(prev, "out", sink, "in")
    return graph, sink


def check_written_like_the_seed(registry: NodeRegistry, maps: int) -> None:
    """The nodes come from folders, with the seed's execution block and no offload key."""
    for n in range(1, maps + 1):
        node_type = registry.get(f"user-step-{n}", "1.0.0")
        schema = json.loads((node_type.path / "schema.json").read_text(encoding="utf-8"))
        assert schema["execution"] == SEED_EXECUTION, schema["execution"]
        assert node_type.spec.execution.timeout_ms == SEED_EXECUTION["timeoutMs"]


def prepare_ours(
    registry: NodeRegistry, packets: int, maps: int
) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """Our side, built (untimed): ``(rt.run, check)``."""
    graph, sink = user_graph(registry, packets, maps)
    rt = GraphRuntime(graph)  # the defaults: metadata, execution log and frames all on
    expect_last = {"i": packets - 1, "x": START_X + maps}

    def check(result: Any) -> None:
        assert result.ok, result.errors[:1]
        got = (result.stats.node(sink).received, result.frames[f"{sink}.in"][-1].value)
        assert got == (packets, expect_last), (got, (packets, expect_last))
        assert rt.log.enabled

    return rt.run, check


def best_run_seconds(nodes: str | Path, packets: int, maps: int, repeat: int) -> float:
    """Best seconds of ``repeat`` timed ``rt.run()`` calls over the user's folders."""
    registry = user_registry(Path(nodes))
    check_written_like_the_seed(registry, maps)
    return best_of(lambda: prepare_ours(registry, packets, maps), repeat)


def bench_streaming_default(
    packets: int = 200_000, maps: int = 10, repeat: int = 3, peers: bool = True
) -> Result:
    """Small dict packets through ``maps`` user-written nodes (seed-like schema) into a sink."""
    with tempfile.TemporaryDirectory(prefix="dataflow-bench-") as tmp:
        ours_s = best_run_seconds(write_pack(Path(tmp), maps), packets, maps, repeat)
    ours_rate = packets / ours_s
    sides, ratios = map_chain_peers(ours_rate, packets, maps, repeat, peers)
    met = None if ratios["ours/streamz"] is None else ratios["ours/streamz"] >= GOAL
    return Result(
        "streaming-default",
        Side("ours", ours_rate, "pkt/s"),
        sides,
        ratios,
        f">= {GOAL:g}x streamz throughput",
        met,
        {
            "packets": packets,
            "maps": maps,
            "ours_seconds": ours_s,
            "execution": SEED_EXECUTION,
            "nodes": "folders (schema.json + node.py) loaded by NodeRegistry(paths=[...])",
        },
    )
