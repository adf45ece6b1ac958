from __future__ import annotations

import itertools

import pytest
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph
from dataflow_jupyter.node import DataFlowNode, PureNode
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import RunResult
from dataflow_jupyter.spec import SettingsError

TOLERANCE_NS = 5_000_000


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def rate_limit(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("rate-limit", "1.0.0").load()


def run_limited(
    registry: NodeRegistry, count: int, settings: dict[str, float], buffer: int | None = None
) -> tuple[RunResult, str]:
    graph = Graph(id="rate", registry=registry)
    src = graph.add_node("values-source", settings={"values": list(range(count))})
    node = graph.add_node("rate-limit", settings=settings)
    graph.connect(src, "out", node, "in", buffer=buffer)
    return run_graph(graph, registry), node


def gaps_ns(result: RunResult, port: str) -> list[int]:
    stamps = [p.timestamp for p in result.packets[port]]
    return [b - a for a, b in itertools.pairwise(stamps)]


def test_the_spec(rate_limit: type[DataFlowNode]) -> None:
    assert issubclass(rate_limit, PureNode)
    assert rate_limit.process_is_async()
    spec = rate_limit.spec
    assert (spec.id, spec.version, spec.category) == ("rate-limit", "1.0.0", "Logic")
    assert [p.name for p in spec.ports.inputs] == ["in"]
    assert [p.name for p in spec.ports.outputs] == ["out"]
    assert rate_limit("r").settings == {"maxPerSecond": 10, "burst": 1}


def test_packets_are_spaced_to_the_rate_in_order(registry: NodeRegistry) -> None:
    result, node = run_limited(registry, 6, {"maxPerSecond": 20})
    assert result.ok
    assert result.outputs[f"{node}.out"] == [0, 1, 2, 3, 4, 5]
    assert all(gap >= 50_000_000 - TOLERANCE_NS for gap in gaps_ns(result, f"{node}.out"))


def test_a_full_bucket_lets_a_burst_through(registry: NodeRegistry) -> None:
    result, node = run_limited(registry, 5, {"maxPerSecond": 5, "burst": 3})
    assert result.outputs[f"{node}.out"] == [0, 1, 2, 3, 4]
    first, second, third, fourth = gaps_ns(result, f"{node}.out")
    assert first + second < 100_000_000  # three tokens: back to back
    assert third >= 200_000_000 - TOLERANCE_NS  # then one token per 1/5 s
    assert fourth >= 200_000_000 - TOLERANCE_NS


def test_it_waits_rather_than_drops_so_the_source_slows_down(registry: NodeRegistry) -> None:
    result, node = run_limited(registry, 10, {"maxPerSecond": 50}, buffer=1)
    assert result.outputs[f"{node}.out"] == list(range(10))  # nothing dropped
    edge = result.stats.edges.iloc[0]
    assert edge["dropped"] == 0
    # The source makes each packet right after the previous one was accepted: with room for
    # one packet on the edge, it made the last only once the node had passed several, at
    # 1/50 s each (unlimited, it makes all ten within a millisecond or so).
    made = result.frame(f"{node}.in")["timestamp"]
    assert (made.iloc[-1] - made.iloc[0]).total_seconds() >= 5 / 50


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"maxPerSecond": 0}, "setting 'maxPerSecond': must be at least 0.001"),
        ({"burst": 0}, "setting 'burst': must be at least 1"),
        ({"burst": 1.5}, "setting 'burst': expects an integer"),
    ],
)
def test_invalid_settings_are_refused(
    rate_limit: type[DataFlowNode], settings: dict[str, float], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        rate_limit("r", settings)
