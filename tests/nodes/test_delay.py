from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import pytest
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph
from dataflow_jupyter.node import DataFlowNode, NodeContext, PureNode
from dataflow_jupyter.packets import DataPacket
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import RunResult

TOLERANCE_NS = 5_000_000  # clock granularity between the loop's clock and time.time_ns


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def delay(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("delay", "1.0.0").load()


def run_delay(registry: NodeRegistry, values: list[int], delay_ms: float) -> tuple[RunResult, str]:
    graph = Graph(id="delay", registry=registry)
    src = graph.add_node("values-source", settings={"values": values})
    node = graph.add_node("delay", settings={"delayMs": delay_ms})
    graph.connect(src, "out", node, "in")
    return run_graph(graph, registry), node


def test_the_spec(delay: type[DataFlowNode]) -> None:
    assert issubclass(delay, PureNode)
    assert delay.process_is_async()
    spec = delay.spec
    assert (spec.id, spec.version, spec.category) == ("delay", "1.0.0", "Logic")
    assert [p.name for p in spec.ports.inputs] == ["in"]
    assert [p.name for p in spec.ports.outputs] == ["out"]
    assert delay("d").settings == {"delayMs": 1000}


def test_each_packet_leaves_delay_ms_after_it_was_sent_in_order(registry: NodeRegistry) -> None:
    result, node = run_delay(registry, [1, 2, 3, 4, 5], 100)
    assert result.ok
    assert result.outputs[f"{node}.out"] == [1, 2, 3, 4, 5]
    sent = {p.packet_id: p for p in result.frames[f"{node}.in"]}
    for packet in result.packets[f"{node}.out"]:
        (parent,) = packet.parents
        assert packet.trace_id == sent[parent].trace_id
        assert packet.timestamp - sent[parent].timestamp >= 100_000_000 - TOLERANCE_NS


def test_a_burst_is_delayed_together_not_one_after_another(registry: NodeRegistry) -> None:
    started = time.perf_counter()
    result, node = run_delay(registry, list(range(10)), 200)
    elapsed = time.perf_counter() - started
    assert result.outputs[f"{node}.out"] == list(range(10))
    assert elapsed >= 0.2
    assert elapsed < 1.0  # one after the other would take 2 s


async def test_the_wait_counts_from_the_packet_timestamp(
    delay: type[DataFlowNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    module = sys.modules[delay.__module__]
    monkeypatch.setattr(module, "asyncio", SimpleNamespace(sleep=fake_sleep))
    node = delay("d", {"delayMs": 250})
    ctx = NodeContext("d", None)  # type: ignore[arg-type]
    fresh = DataPacket(1)
    old = DataPacket(2, timestamp=time.time_ns() - 10**9)
    future = DataPacket(3, timestamp=time.time_ns() + 60 * 10**9)  # a skewed clock upstream
    for packet in (fresh, old, future):
        assert await node.process({"in": packet}, ctx) == {"out": packet}
    assert len(sleeps) == 2  # the old packet leaves at once
    assert 0.2 < sleeps[0] <= 0.25
    assert sleeps[1] == 0.25  # never longer than delayMs


def test_zero_passes_at_once(registry: NodeRegistry) -> None:
    result, node = run_delay(registry, [1, 2], 0)
    assert result.outputs[f"{node}.out"] == [1, 2]
