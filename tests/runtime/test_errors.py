from __future__ import annotations

import random
from typing import Any

import pytest
from _testnodes import Flaky

from dataflow_jupyter import DataPacket, ErrorCode, ErrorPacket, Graph, NodeRegistry, PureNode
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.testing import spec


def test_a_recoverable_failure_is_retried(graph: Graph, registry: NodeRegistry) -> None:
    src = graph.add_node("numbers", settings={"count": 3})
    flaky = graph.add_node("flaky", settings={"failOn": [1], "failTimes": 2})
    graph.connect(src, "out", flaky, "in")
    rt = GraphRuntime(graph, registry)
    result = rt.run()
    assert result.outputs[f"{flaky}.out"] == [0, 1, 2]
    assert rt.stats.node(flaky).retries == 2
    assert result.errors == []
    statuses = rt.log.firings().query("node_id == @flaky")["status"].tolist()
    assert statuses.count("retry") == 2


def test_exhausted_retries_go_to_the_dead_letter_queue(
    graph: Graph, registry: NodeRegistry
) -> None:
    src = graph.add_node("numbers", settings={"count": 3})
    flaky = graph.add_node("flaky", settings={"failOn": [2]})
    graph.connect(src, "out", flaky, "in")
    rt = GraphRuntime(graph, registry)
    result = rt.run()
    assert result.outputs[f"{flaky}.out"] == [0, 1]
    (error,) = result.errors
    assert error.code is ErrorCode.NODE_EXCEPTION
    assert error.node_id == flaky
    assert error.attempt == 4  # the first try and three retries
    assert "ValueError: cannot handle 2" in error.details["traceback"]
    frame = rt.dlq.to_pandas()
    assert frame[["node_id", "code", "attempt"]].values.tolist() == [[flaky, "NODE_EXCEPTION", 4]]
    assert frame["inputs"].tolist() == [{"in": 2}]


def test_replay_fires_the_node_again_after_a_fix(
    graph: Graph, registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = graph.add_node("numbers", settings={"count": 3})
    flaky = graph.add_node("flaky", settings={"failOn": [2], "failTimes": 4})
    log = graph.add_node("debug-log")
    graph.connect(src, "out", flaky, "in")
    graph.connect(flaky, "out", log, "in")
    rt = GraphRuntime(graph, registry)
    assert rt.run().outputs[f"{log}.out"] == [0, 1]
    assert len(rt.dlq) == 1
    monkeypatch.setattr(Flaky, "healed", True)  # the fix
    replayed = rt.dlq.replay()
    assert replayed.outputs[f"{log}.out"] == [2]
    assert len(rt.dlq) == 0


def test_a_connected_error_output_takes_the_failure(graph: Graph, registry: NodeRegistry) -> None:
    src = graph.add_node("numbers", settings={"count": 3})
    flaky = graph.add_node("flaky", settings={"errorOn": [1]})
    errors = graph.add_node("debug-log")
    graph.connect(src, "out", flaky, "in")
    graph.connect(flaky, "error", errors, "in")
    rt = GraphRuntime(graph, registry)
    result = rt.run()
    (routed,) = result.outputs[f"{errors}.out"]
    assert isinstance(routed, ErrorPacket)
    assert routed.message == "refused 1"
    assert routed.node_id == flaky
    assert len(rt.dlq) == 0
    assert rt.stats.node(flaky).errors == 1


class Stalls(PureNode):
    async def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        import asyncio

        await asyncio.sleep(10)
        return {"out": 1}


def test_a_timeout_becomes_an_error_packet(graph: Graph, registry: NodeRegistry) -> None:
    registry.register(
        spec("stalls", ["in"], ["out"], execution={"timeoutMs": 20, "retry": 1,
                                                  "recoverable": True, "retryBackoffMs": 1}),
        Stalls,
    )  # fmt: skip
    src = graph.add_node("inject", settings={"value": 1})
    node = graph.add_node("stalls")
    graph.connect(src, "out", node, "in")
    result = GraphRuntime(graph, registry).run()
    (error,) = result.errors
    assert error.code is ErrorCode.TIMEOUT
    assert error.attempt == 2
    assert error.message == f"node {node!r} took longer than 20 ms"


def test_a_failing_node_never_stops_an_independent_branch(
    graph: Graph, registry: NodeRegistry
) -> None:
    a = graph.add_node("numbers", settings={"count": 5})
    bad = graph.add_node("flaky", settings={"failOn": [0, 1, 2, 3, 4]})
    b = graph.add_node("numbers", settings={"count": 5})
    good = graph.add_node("add-one")
    graph.connect(a, "out", bad, "in")
    graph.connect(b, "out", good, "in")
    result = GraphRuntime(graph, registry).run()
    assert result.outputs[f"{good}.out"] == [1, 2, 3, 4, 5]
    assert len(result.errors) == 5


class RandomFailure(PureNode):
    """Fails on 10% of packets: half of them recoverably (a retry rolls again), half not."""

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.rng = random.Random(7)

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        roll = self.rng.random()
        if roll < 0.05:
            return ErrorPacket(ErrorCode.IO_ERROR, "flaky upstream", recoverable=True)
        if roll < 0.10:
            return ErrorPacket(ErrorCode.VALIDATION, "bad record", recoverable=False)
        return {"out": inputs["in"].value}


def test_nothing_is_lost_across_100k_packets(graph: Graph, registry: NodeRegistry) -> None:
    registry.register(
        spec(
            "random-failure",
            ["in"],
            ["out", {"name": "error", "type": "error_packet"}],
            execution={"retry": 1, "retryBackoffMs": 0, "offload": "none"},
        ),
        RandomFailure,
    )
    src = graph.add_node("numbers", settings={"count": 100_000})
    odd = graph.add_node("filter", settings={"expression": "value % 3 != 0"})
    first = graph.add_node("random-failure")  # its failures go to its error output
    second = graph.add_node("random-failure")  # its failures go to the dead-letter queue
    sink = graph.add_node("add-one")
    errors = graph.add_node("debug-log", settings={"level": "debug"})
    graph.connect(src, "out", odd, "in")
    graph.connect(odd, "out", first, "in", filter="value % 7 != 0")
    graph.connect(first, "out", second, "in", buffer={"size": 8, "overflow": "drop_oldest"})
    graph.connect(first, "error", errors, "in")
    graph.connect(second, "out", sink, "in")
    rt = GraphRuntime(graph, registry, log=False, progress=False)
    rt.run()
    stats = rt.stats
    emitted = stats.node(src).emitted
    delivered = stats.node(sink).received
    filtered = stats.node(odd).filtered + stats.totals()["edge_filtered"]
    dropped = stats.totals()["edge_dropped"]
    error_port = stats.node(errors).received
    dead = len(rt.dlq)
    print(f"{emitted=} {delivered=} {filtered=} {dropped=} {error_port=} {dead=}")
    assert emitted == 100_000
    assert error_port > 0
    assert dead > 0
    assert emitted == delivered + filtered + dropped + error_port + dead
