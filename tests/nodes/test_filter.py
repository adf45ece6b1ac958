from __future__ import annotations

from typing import Any

import pytest

from dataflow_jupyter import Graph
from dataflow_jupyter.expressions import EvaluationError, ExpressionError
from dataflow_jupyter.node import DataFlowNode, NodeContext, PureNode
from dataflow_jupyter.packets import DataPacket
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.spec import SettingsError


@pytest.fixture
def registry() -> NodeRegistry:
    registry = NodeRegistry(
        paths=[],
        include_builtin=True,
        include_env=False,
        include_cwd=False,
        include_entry_points=False,
    )
    assert registry.problems == []
    return registry


@pytest.fixture
def filter_node(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("filter", "1.0.0").load()


def drive(node: Any, values: list[DataPacket]) -> list[tuple[str, DataPacket]]:
    """Source -> node -> sink: feed each packet, collect what the node returns."""
    out: list[tuple[str, DataPacket]] = []

    async def emit(port: str, value: Any) -> None:  # pragma: no cover - filter never emits
        out.append((port, value))

    ctx = NodeContext(node.node_id, emit)
    for packet in values:
        result = node.process({"in": packet}, ctx)
        if result is not None:
            out.extend(result.items())
    return out


def test_the_spec(filter_node: type[DataFlowNode]) -> None:
    assert issubclass(filter_node, PureNode)
    assert not filter_node.process_is_async()
    spec = filter_node.spec
    assert (spec.id, spec.version, spec.category) == ("filter", "1.0.0", "Logic")
    assert [p.name for p in spec.ports.inputs] == ["in"]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "any"),
        ("error", "error_packet"),
    ]
    assert (spec.execution.recoverable, spec.execution.offload) == (False, "none")


def test_passes_the_packets_for_which_the_expression_is_true(
    filter_node: type[DataFlowNode],
) -> None:
    packets = [DataPacket({"price": p}) for p in (50, 101, 100, 250.5)]
    out = drive(filter_node("flt", {"expression": "value['price'] > 100"}), packets)
    assert out == [("out", packets[1]), ("out", packets[3])]
    assert out[0][1] is packets[1]  # unchanged: the same packet, not a copy


def test_truthiness_decides_and_the_packet_metadata_is_visible(
    filter_node: type[DataFlowNode],
) -> None:
    packets = [DataPacket(v, origin_node=o) for v, o in [([1], "a"), ([], "a"), ([2], "b")]]
    out = drive(filter_node("flt", {"expression": "value"}), packets)
    assert out == [("out", packets[0]), ("out", packets[2])]
    by_origin = filter_node("flt", {"expression": "packet.origin_node == 'a'"})
    assert drive(by_origin, packets) == [("out", packets[0]), ("out", packets[1])]


def test_a_refused_expression_fails_at_construction(filter_node: type[DataFlowNode]) -> None:
    with pytest.raises(ExpressionError) as info:
        filter_node("flt", {"expression": "value.__class__"})
    assert str(info.value) == (
        "expression 'value.__class__' uses attribute '__class__': names starting with '_' are "
        "not allowed"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "setting 'expression' is required"),
        ({"expression": "value >"}, "setting 'expression': expression 'value >' is not valid"),
        ({"expression": 3}, "setting 'expression': expects a string"),
    ],
)
def test_invalid_settings_are_refused(
    filter_node: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        filter_node("flt", settings)


def test_an_evaluation_error_raises(filter_node: type[DataFlowNode]) -> None:
    node = filter_node("flt", {"expression": "value['price'] > 100"})
    with pytest.raises(EvaluationError, match="failed: KeyError: 'price'") as info:
        drive(node, [DataPacket({"prize": 1})])
    assert isinstance(info.value.__cause__, KeyError)


@pytest.mark.parametrize(("price", "passed"), [(120, 2), (50, 0)])
def test_inject_filter_debug_log(registry: NodeRegistry, price: int, passed: int) -> None:
    graph = Graph(id="filter", registry=registry)
    src = graph.add_node("inject", settings={"value": {"price": price}, "count": 2})
    flt = graph.add_node("filter", settings={"expression": "value['price'] > 100"})
    log = graph.add_node("debug-log")
    graph.connect(src, "out", flt, "in")
    graph.connect(flt, "out", log, "in")
    result = GraphRuntime(graph, registry).run()
    assert result.ok
    assert result.outputs.get(f"{log}.out", []) == [{"price": price}] * passed
    received = result.frame(f"{log}.in")
    assert len(received) == passed
    assert list(received.get("price", [])) == [price] * passed
