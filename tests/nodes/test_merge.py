from __future__ import annotations

import pytest
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph
from dataflow_jupyter.graph import GraphValidationError
from dataflow_jupyter.node import DataFlowNode, PureNode
from dataflow_jupyter.registry import NodeRegistry


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def merge(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("merge", "1.0.0").load()


def test_the_spec(merge: type[DataFlowNode]) -> None:
    assert issubclass(merge, PureNode)
    spec = merge.spec
    assert (spec.id, spec.version, spec.category) == ("merge", "1.0.0", "Logic")
    assert [(p.name, p.required) for p in spec.ports.inputs] == [
        ("in1", True),
        ("in2", False),
        ("in3", False),
        ("in4", False),
    ]
    assert [p.name for p in spec.ports.outputs] == ["out"]
    assert (spec.execution.fire, spec.execution.offload) == ("any", "none")
    assert merge("m").settings == {}


def test_every_packet_of_every_input_once_each_input_in_order(registry: NodeRegistry) -> None:
    graph = Graph(id="merge", registry=registry)
    streams = [[1, 2, 3], [10, 20], [100], [1000, 2000, 3000, 4000]]
    sources = [graph.add_node("values-source", settings={"values": v}) for v in streams]
    merged = graph.add_node("merge")
    for index, src in enumerate(sources, 1):
        graph.connect(src, "out", merged, f"in{index}")
    result = run_graph(graph, registry)
    assert result.ok
    out = result.outputs[f"{merged}.out"]
    assert sorted(out) == sorted(v for stream in streams for v in stream)  # none twice
    for stream in streams:
        assert [v for v in out if v in stream] == stream
    stats = result.stats.nodes.loc[merged]
    assert (stats["received"], stats["emitted"]) == (10, 10)


def test_one_input_is_enough(registry: NodeRegistry) -> None:
    graph = Graph(id="merge", registry=registry)
    src = graph.add_node("values-source", settings={"values": ["a", "b", None]})
    merged = graph.add_node("merge")
    graph.connect(src, "out", merged, "in1")
    result = run_graph(graph, registry)
    assert result.outputs[f"{merged}.out"] == ["a", "b", None]


def test_one_stream_on_two_inputs_comes_out_twice(registry: NodeRegistry) -> None:
    graph = Graph(id="merge", registry=registry)
    src = graph.add_node("values-source", settings={"values": [1, 2]})
    merged = graph.add_node("merge")
    graph.connect(src, "out", merged, "in1")
    graph.connect(src, "out", merged, "in3")
    result = run_graph(graph, registry)
    assert sorted(result.outputs[f"{merged}.out"]) == [1, 1, 2, 2]


def test_packets_keep_their_trace(registry: NodeRegistry) -> None:
    graph = Graph(id="merge", registry=registry)
    a = graph.add_node("values-source", settings={"values": [1, 2]})
    b = graph.add_node("values-source", settings={"values": [3]})
    merged = graph.add_node("merge")
    graph.connect(a, "out", merged, "in1")
    graph.connect(b, "out", merged, "in2")
    result = run_graph(graph, registry)
    sent = {
        p.packet_id: p for p in [*result.frames[f"{merged}.in1"], *result.frames[f"{merged}.in2"]]
    }
    out = result.packets[f"{merged}.out"]
    assert len(out) == 3
    for packet in out:
        (parent,) = packet.parents
        assert (packet.trace_id, packet.value) == (sent[parent].trace_id, sent[parent].value)
        assert packet.origin_node == merged


def test_in1_must_be_connected(registry: NodeRegistry) -> None:
    graph = Graph(id="merge", registry=registry)
    src = graph.add_node("values-source", settings={"values": [1]})
    merged = graph.add_node("merge")
    graph.connect(src, "out", merged, "in2")
    with pytest.raises(GraphValidationError, match="required input 'in1'"):
        graph.validate(registry)
