"""One firing path: a node fired inline and the same node on a worker give the same packets,
the same stats and the same log (issue: inline and offloaded paths used to disagree, e.g. an
edge filter that fails counted the packet as emitted only when the node ran inline)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from _testnodes import Emitter, Flaky, WrongType, Zip, chain_registry

from dataflow_jupyter import Graph, GraphRuntime, NodeRegistry
from dataflow_jupyter.testing import spec

if TYPE_CHECKING:
    from collections.abc import Callable


def registry(offload: str) -> NodeRegistry:
    reg = chain_registry(offload)
    execution = {"execution": {"offload": offload}}
    reg.register(spec("emitter", ["in"], ["out"], **execution), Emitter)
    reg.register(
        spec("zip", ["a", "b", {"name": "c", "required": False}], ["out"], **execution), Zip
    )
    reg.register(
        spec("wrong-type", ["in"], [{"name": "out", "type": "number"}], **execution), WrongType
    )
    return reg


def retries_and_errors(g: Graph) -> None:
    src = g.add_node("numbers", settings={"count": 12})
    flaky = g.add_node("flaky", settings={"failOn": [2, 5, 7], "failTimes": 1, "errorOn": [9]})
    dead = g.add_node("flaky", settings={"failOn": [3], "failTimes": 99})
    g.connect(src, "out", flaky, "in")
    g.connect(flaky, "out", dead, "in")
    plus = g.add_node("add-one")
    g.connect(flaky, "error", plus, "in", transform="1000")


def failing_edge_filter(g: Graph) -> None:
    src = g.add_node("numbers", settings={"count": 6})
    emit = g.add_node("emitter")
    first, second = g.add_node("add-one"), g.add_node("add-one")
    g.connect(src, "out", emit, "in", transform="[value, 'text']")
    g.connect(emit, "out", first, "in")
    g.connect(emit, "out", second, "in", filter="value > 2")  # fails on 'text'


def fan_in_and_types(g: Graph) -> None:
    a, b = (g.add_node("numbers", settings={"count": 5}) for _ in range(2))
    zipped = g.add_node("zip")
    g.connect(a, "out", zipped, "a")
    g.connect(b, "out", zipped, "b", buffer=1)
    wrong = g.add_node("wrong-type")
    g.connect(zipped, "out", wrong, "in")


GRAPHS: dict[str, Callable[[Graph], None]] = {
    "retries_and_errors": retries_and_errors,
    "failing_edge_filter": failing_edge_filter,
    "fan_in_and_types": fan_in_and_types,
}


def observe(build: Callable[[Graph], None], offload: str) -> dict[str, Any]:
    Flaky.healed = False
    g = Graph(id="parity", registry=registry(offload))
    build(g)
    rt = GraphRuntime(g)
    result = rt.run()
    stats = rt.stats.nodes.drop(columns=["runs_on", "moves"])
    firings = rt.log.firings()
    packets = rt.log.packets()
    seen = {
        "outputs": result.outputs,
        "counts": result.counts,
        "errors": sorted((e.node_id, e.code.value, e.attempt) for e in result.errors),
        "dlq": len(rt.dlq),
        "stats": stats.to_dict(),
        "edges": rt.stats.edges.drop(columns=["peak", "queued"]).to_dict(),
        "firing_statuses": sorted(
            zip(firings["node_id"], firings["status"], firings["attempt"], strict=True)
        ),
        "packets": sorted(packets.groupby(["node_id", "port"]).size().items()),
        "runs_on": set(rt.stats.nodes["runs_on"]) - {"loop"},
    }
    rt.close()
    return seen


@pytest.mark.parametrize("name", list(GRAPHS))
def test_inline_and_offloaded_firings_see_the_same(name: str) -> None:
    inline = observe(GRAPHS[name], "none")
    worker = observe(GRAPHS[name], "thread")
    assert inline.pop("runs_on") == {"inline"}
    assert worker.pop("runs_on") == {"worker"}
    for key in inline:
        assert inline[key] == worker[key], key


def test_a_failing_edge_filter_sends_and_counts_nothing_on_either_path() -> None:
    for offload in ("none", "thread"):
        seen = observe(failing_edge_filter, offload)
        stats = seen["stats"]
        # 6 inputs, each emitting a number (sent) and 'text' (its filter fails: not emitted)
        assert stats["emitted"]["n2"] == 6, offload
        assert seen["counts"] == {"n3.out": 6, "n4.out": 3}, offload
