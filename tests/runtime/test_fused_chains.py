"""Fused chains: the dispatcher fires inline nodes on batches of their inputs and hands what
a node emitted straight to the next one along a fused link (``NodeRun.link``). Nothing a
user sees may differ from the same graph whose hops all go through channels (every node on
a worker): the packets and their order, stats, edge counts, frames, the log and lineage."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest
from _testnodes import Flaky, Head, chain_registry

from dataflow_jupyter import DataPacket, Graph, GraphRuntime, NodeRegistry, PureNode
from dataflow_jupyter.runtime import scheduler
from dataflow_jupyter.testing import spec

if TYPE_CHECKING:
    from collections.abc import Callable


class Evens(PureNode):
    """Passes even values on; an odd one emits nothing (a filtered firing)."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any] | None:
        value = inputs["in"].value
        return {"out": value} if value % 2 == 0 else None


class Total(PureNode):
    """Sums what it receives; emits the sum at end of stream."""

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.total = 0

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        self.total += inputs["in"].value

    def finish(self, ctx: Any) -> dict[str, Any]:
        return {"out": self.total}


class Collect(PureNode):
    """Keeps every value it receives, in order (the class attribute ``seen``)."""

    seen: list[Any] = []

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        type(self).seen.append(inputs["in"].value)


def registry(offload: str) -> NodeRegistry:
    reg = chain_registry(offload)
    execution = {"execution": {"offload": offload}}
    reg.register(spec("evens", ["in"], ["out"], **execution), Evens)
    n = [{"name": "n", "type": "integer", "default": 5}]
    reg.register(spec("first-n", ["in"], ["out"], settings=n, **execution), Head)
    reg.register(spec("sum-at-end", ["in"], ["out"], **execution), Total)
    reg.register(spec("collect-values", ["in"], [], **execution), Collect)
    return reg


def chain(g: Graph, *steps: tuple[str, dict[str, Any]], count: int = 300) -> list[str]:
    """numbers(count) -> each step in turn; the node ids, source first."""
    ids = [g.add_node("numbers", settings={"count": count})]
    for type_id, settings in steps:
        node = g.add_node(type_id, settings=settings)
        g.connect(ids[-1], "out", node, "in")
        ids.append(node)
    return ids


def plain_chain(g: Graph) -> None:
    chain(g, *[("add-one", {})] * 6, ("evens", {}), ("add-one", {}), ("collect-values", {}))


def odd_firings_mid_batch(g: Graph) -> None:
    # fails once on 7, 8, 100 (retried in a task: the node is busy meanwhile), refuses 50
    # and 150 for good (an ErrorPacket: dead-lettered), all in the middle of batches
    flaky = {"failOn": [7, 8, 100], "failTimes": 1, "errorOn": [50, 150]}
    chain(
        g,
        ("add-one", {}),
        ("flaky", flaky),
        ("add-one", {}),
        ("add-one", {}),
        ("collect-values", {}),
    )


def done_mid_batch(g: Graph) -> None:
    chain(
        g,
        ("add-one", {}),
        ("first-n", {"n": 37}),
        ("add-one", {}),
        ("collect-values", {}),
        count=500,
    )


def finish_hook_mid_chain(g: Graph) -> None:
    chain(g, ("add-one", {}), ("sum-at-end", {}), ("add-one", {}), ("collect-values", {}))


GRAPHS: dict[str, Callable[[Graph], None]] = {
    "plain_chain": plain_chain,
    "odd_firings_mid_batch": odd_firings_mid_batch,
    "done_mid_batch": done_mid_batch,
    "finish_hook_mid_chain": finish_hook_mid_chain,
}


def observe(build: Callable[[Graph], None], offload: str) -> dict[str, Any]:
    Flaky.healed = False
    Collect.seen = []
    g = Graph(id="fused", registry=registry(offload))
    build(g)
    rt = GraphRuntime(g)
    result = rt.run()
    firings = rt.log.firings()
    packets = rt.log.packets()
    ports = [f"{n.id}.{p}" for n in g.nodes for p in ("in", "out") if n.type_id != "numbers"]
    frames = {where: [p.value for p in rt.packets(where)] for where in ports if _has(rt, where)}
    # every emitted packet's parent is a packet that was emitted before (source or node)
    emitted = set(packets["packet_id"])
    lineage_ok = all(
        len(parents) == 1 and parents[0] in emitted
        for parents in packets["parents"]
        if len(parents)
    )
    seen = {
        "collected": list(Collect.seen),
        "outputs": {k: [p.value for p in v] for k, v in result.outputs.items()},
        "counts": result.counts,
        "errors": sorted((e.node_id, e.code.value, e.attempt) for e in result.errors),
        "dlq": len(rt.dlq),
        "stats": rt.stats.nodes.drop(columns=["runs_on", "moves"]).to_dict(),
        "edges": rt.stats.edges.drop(columns=["peak"]).to_dict(),
        "frames": frames,
        "firing_statuses": sorted(
            zip(firings["node_id"], firings["status"], firings["attempt"], strict=True)
        ),
        "packets": sorted(packets.groupby(["node_id", "port"]).size().items()),
        "lineage_ok": lineage_ok,
        "runs_on": set(rt.stats.nodes["runs_on"]) - {"loop"},
    }
    rt.close()
    return seen


def _has(rt: GraphRuntime, where: str) -> bool:
    try:
        rt.packets(where)
    except KeyError:
        return False
    return True


# How much upstream work is done before a ``ctx.done()`` reaches it depends on timing.
PARITY = [name for name in GRAPHS if name != "done_mid_batch"]


@pytest.mark.parametrize("name", PARITY)
def test_a_fused_chain_shows_what_a_chain_of_channels_shows(name: str) -> None:
    fused = observe(GRAPHS[name], "none")
    channels = observe(GRAPHS[name], "thread")
    assert fused.pop("runs_on") == {"inline"}
    assert channels.pop("runs_on") == {"worker"}
    assert fused["lineage_ok"]
    for key in fused:
        assert fused[key] == channels[key], key


def test_a_fused_chain_gives_the_expected_answer() -> None:
    seen = observe(plain_chain, "none")
    # 0..299, +6, the even ones, +1
    assert seen["collected"] == [v + 7 for v in range(300) if (v + 6) % 2 == 0]
    assert seen["stats"]["filtered"]["n8"] == 150
    assert seen["edges"]["delivered"] == dict.fromkeys(seen["edges"]["delivered"], 300) | {
        "e8": 150,
        "e9": 150,
    }
    assert all(queued == 0 for queued in seen["edges"]["queued"].values())


def test_odd_firings_keep_the_order_of_what_follows() -> None:
    seen = observe(odd_firings_mid_batch, "none")
    survivors = [v for v in range(300) if v + 1 not in (50, 150)]
    assert seen["collected"] == [v + 3 for v in survivors]
    assert seen["dlq"] == 2
    assert seen["errors"] == [("n3", "VALIDATION", 1), ("n3", "VALIDATION", 1)]


@pytest.mark.parametrize("offload", ["none", "thread"])
def test_ctx_done_mid_batch_discards_the_rest_and_the_accounts_add_up(offload: str) -> None:
    seen = observe(done_mid_batch, offload)
    assert seen["collected"] == [v + 2 for v in range(37)]
    stats, edges = seen["stats"], seen["edges"]
    assert stats["received"]["n3"] == 37
    # a chain: edge e<k> runs from n<k> to n<k+1>; every packet sent on it was taken,
    # discarded (queued, or sent after the target wanted no more), dropped or is queued
    for edge in edges["delivered"]:
        source, target = f"n{edge[1:]}", f"n{int(edge[1:]) + 1}"
        ends = ("discarded", "dropped", "queued")
        kept = stats["received"][target] + sum(edges[end][edge] for end in ends)
        assert stats["emitted"][source] == kept, edge


def test_a_finish_hook_in_a_chain_runs_after_all_the_data() -> None:
    seen = observe(finish_hook_mid_chain, "none")
    assert seen["collected"] == [sum(range(1, 301)) + 1]


@pytest.mark.parametrize("name", PARITY)
def test_a_dispatcher_out_of_time_at_every_batch_changes_nothing(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = observe(GRAPHS[name], "none")
    monkeypatch.setattr(scheduler, "_SLICE_S", -1.0)  # every look at the clock: time is up
    hurried = observe(GRAPHS[name], "none")
    assert hurried == expected


def test_packets_made_on_the_hot_path_are_ordinary_frozen_packets() -> None:
    Collect.seen = []
    g = Graph(id="fused", registry=registry("none"))
    chain(g, ("add-one", {}), ("add-one", {}), count=3)
    rt = GraphRuntime(g)
    rt.run()
    packet = rt.packets("n3.out")[-1]
    assert type(packet) is DataPacket
    assert packet == DataPacket(
        4,  # 0, 1, 2 plus two
        trace_id=packet.trace_id,
        origin_node="n3",
        timestamp=packet.timestamp,
        packet_id=packet.packet_id,
        parents=packet.parents,
    )
    with pytest.raises(AttributeError):  # dataclasses.FrozenInstanceError
        packet.value = 5  # type: ignore[misc]
    assert hash(packet) == hash(dataclasses.replace(packet))
    rt.close()


@pytest.mark.parametrize("log", [True, False])
def test_the_log_counts_what_a_fused_chain_recorded(log: bool) -> None:
    Collect.seen = []
    g = Graph(id="fused", registry=registry("none"))
    plain_chain(g)
    rt = GraphRuntime(g, log=log)
    rt.run()
    assert rt.log.dropped == 0
    # 300 source packets; 6 add-ones and evens fire 300 times, the last add-one and the
    # sink 150: a firing and a packet each, but evens' odd inputs and the sink emit nothing
    expected = 300 + 6 * 300 * 2 + (150 * 2 + 150) + 150 * 2 + 150 if log else 0
    assert len(rt.log) == expected
    rt.close()


def test_a_small_drop_buffer_between_inline_nodes_still_drops() -> None:
    Collect.seen = []
    g = Graph(id="fused", registry=registry("none"))
    src = g.add_node("numbers", settings={"count": 300})
    first, second, sink = g.add_node("add-one"), g.add_node("add-one"), g.add_node("collect-values")
    g.connect(src, "out", first, "in")
    g.connect(first, "out", second, "in", buffer={"size": 4, "overflow": "drop_oldest"})
    g.connect(second, "out", sink, "in")
    rt = GraphRuntime(g)
    rt.run()
    edge = rt.stats.edge("e2")
    assert edge.dropped > 0  # a batch of the first node is more than the edge holds
    assert rt.stats.node(second).received + edge.dropped == 300
    assert Collect.seen == sorted(Collect.seen)  # the newest kept, in order
    assert Collect.seen[-1] == 301
    rt.close()
