"""The benchmark nodes, their registry and the chain graphs the benchmarks run.

Every spec is built with ``dataflow_jupyter.testing.spec``. The synchronous nodes fire
inline (``offload: none``) except ``regex-count``, which is written without an ``offload``
key so the runtime decides, as for a user's node (``regex-count-thread`` forces a worker
thread: the configuration measured before that default).

What a run's sink received goes to a ``Collected`` owned by the run: ``registry(sink=...)``
binds the sink node to it, so no node keeps counters on its class. ``one-shot`` emits the
``payload`` its registry was built with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from dataflow_jupyter import Graph, IONode, PureNode
from dataflow_jupyter.testing import INLINE, node_registry, spec

if TYPE_CHECKING:
    from dataflow_jupyter import DataPacket, NodeRegistry, NodeSpec

START_X = 1.5  # the x of every streaming benchmark's first packet
PATTERN = r"(\d+)7(\d+)-.*h$"  # what regex-count matches


def map_x(value: dict[str, Any]) -> dict[str, Any]:
    """The work of one map node, the same for every side."""
    return {**value, "x": value["x"] + 1}


def regex_count(column: Any) -> int:
    """Rows matching a regular expression: pyarrow compute, CPU-bound, releases the GIL."""
    return int(pc.sum(pc.match_substring_regex(column, PATTERN)).as_py())


@dataclass
class Collected:
    """What one run's sink received: how many packets, and the last payload."""

    count: int = 0
    last: Any = None


# -- the nodes ---------------------------------------------------------------------------------


class DictSource(IONode):
    """Emits ``count`` small dicts, each a new trace."""

    async def run(self, ctx: Any) -> None:
        for i in range(self.settings["count"]):
            await ctx.emit("out", {"i": i, "x": START_X})


def one_shot(payload: Any) -> type[IONode]:
    """A source class that emits ``payload`` once."""

    class OneShot(IONode):
        async def run(self, ctx: Any) -> None:
            await ctx.emit("out", payload)

    return OneShot


class MapX(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        value = inputs["in"].value
        return {"out": {**value, "x": value["x"] + 1}}


class AddOne(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": inputs["in"].value + 1}


class Identity(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": inputs["in"].payload}


class RegexCount(PureNode):
    """GIL-releasing pyarrow compute; where it runs is the runtime's default (no offload key)."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": regex_count(inputs["in"].payload.column(0))}


def sink_class(into: Collected) -> type[PureNode]:
    """A sink class that counts the packets it consumes and keeps the last payload in ``into``."""

    class Sink(PureNode):
        def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
            into.count += 1
            into.last = inputs["in"].payload

    return Sink


# -- the registry and the graphs ---------------------------------------------------------------


def bench_spec(type_id: str, inputs: list[str], outputs: list[str], **extra: Any) -> NodeSpec:
    return spec(type_id, inputs, outputs, category="Benchmark", **extra)


def registry(payload: Any = None, sink_into: Collected | None = None) -> NodeRegistry:
    """The built-in nodes and the benchmark nodes; ``one-shot`` emits ``payload`` and
    ``sink`` counts into ``sink_into`` (a fresh ``Collected`` when none is given)."""
    count = [{"name": "count", "type": "integer", "default": 1}]
    thread = {"execution": {"offload": "thread"}}
    return node_registry(
        (bench_spec("dict-source", [], ["out"], settings=count), DictSource),
        (bench_spec("one-shot", [], ["out"]), one_shot(payload)),
        (bench_spec("map-x", ["in"], ["out"], **INLINE), MapX),
        (bench_spec("add-one", ["in"], ["out"], **INLINE), AddOne),
        (bench_spec("identity", ["in"], ["out"], **INLINE), Identity),
        (bench_spec("regex-count", ["in"], ["out"]), RegexCount),
        (bench_spec("regex-count-thread", ["in"], ["out"], **thread), RegexCount),
        (bench_spec("sink", ["in"], [], **INLINE), sink_class(sink_into or Collected())),
        include_builtin=True,
    )


def chain_graph(
    reg: NodeRegistry, head: tuple[str, dict[str, Any]], body: str, n: int, *, sink: bool
) -> tuple[Graph, str]:
    """``head -> body x n [-> sink]``; returns the graph and the id of the last body node."""
    graph = Graph(id="bench", registry=reg)
    prev = graph.add_node(head[0], settings=head[1])
    for _ in range(n):
        node = graph.add_node(body)
        graph.connect(prev, "out", node, "in")
        prev = node
    last = prev
    if sink:
        graph.connect(prev, "out", graph.add_node("sink"), "in")
    return graph, last
