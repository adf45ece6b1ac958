from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pytest
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph
from dataflow_jupyter.expressions import EvaluationError, ExpressionError
from dataflow_jupyter.node import DataFlowNode, NodeContext, PureNode
from dataflow_jupyter.packets import DataPacket, ErrorCode
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
def mapper(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("mapper", "1.0.0").load()


def drive(node: Any, values: list[DataPacket]) -> list[tuple[str, Any]]:
    """Source -> node -> sink: feed each packet, collect what the node returns."""
    out: list[tuple[str, Any]] = []

    async def emit(port: str, value: Any) -> None:  # pragma: no cover - mapper never emits
        out.append((port, value))

    ctx = NodeContext(node.node_id, emit)
    for packet in values:
        out.extend(node.process({"in": packet}, ctx).items())
    return out


def test_the_spec(mapper: type[DataFlowNode]) -> None:
    assert issubclass(mapper, PureNode)
    assert not mapper.process_is_async()
    spec = mapper.spec
    assert (spec.id, spec.version, spec.category) == ("mapper", "1.0.0", "Logic")
    assert [p.name for p in spec.ports.inputs] == ["in"]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "any"),
        ("error", "error_packet"),
    ]
    assert (spec.execution.recoverable, spec.execution.offload) == (False, "none")


def test_the_value_becomes_the_expression_value(mapper: type[DataFlowNode]) -> None:
    node = mapper(
        "map", {"expression": "{'sym': value['sym'].upper(), 'total': value['p'] * value['q']}"}
    )
    packets = [DataPacket({"sym": "a", "p": 2.5, "q": 4}), DataPacket({"sym": "b", "p": 1, "q": 0})]
    assert drive(node, packets) == [
        ("out", {"sym": "A", "total": 10.0}),
        ("out", {"sym": "B", "total": 0}),
    ]


def test_scalars_lists_and_metadata(mapper: type[DataFlowNode]) -> None:
    packets = [DataPacket(3, origin_node="src"), DataPacket(-1, origin_node="src")]
    assert drive(mapper("m", {"expression": "value * 2"}), packets) == [("out", 6), ("out", -2)]
    tagged = mapper("m", {"expression": "[value, packet.origin_node]"})
    assert drive(tagged, packets) == [("out", [3, "src"]), ("out", [-1, "src"])]
    assert drive(mapper("m", {"expression": "None"}), packets[:1]) == [("out", None)]


def test_a_refused_expression_fails_at_construction(mapper: type[DataFlowNode]) -> None:
    with pytest.raises(ExpressionError) as info:
        mapper("map", {"expression": "__import__('os').getcwd()"})
    assert str(info.value) == (
        "expression \"__import__('os').getcwd()\" uses name '__import__': names starting with "
        "'_' are not allowed"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "setting 'expression' is required"),
        ({"expression": "value["}, "setting 'expression': expression 'value[' is not valid"),
        ({"expression": None}, "setting 'expression' is required"),
    ],
)
def test_invalid_settings_are_refused(
    mapper: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        mapper("map", settings)


def test_an_evaluation_error_raises(mapper: type[DataFlowNode]) -> None:
    node = mapper("map", {"expression": "value['p'] / value['q']"})
    assert drive(node, [DataPacket({"p": 1, "q": 4})]) == [("out", 0.25)]
    with pytest.raises(EvaluationError, match="failed: ZeroDivisionError") as info:
        drive(node, [DataPacket({"p": 1, "q": 0})])
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    with pytest.raises(EvaluationError, match="was stopped: 10,000,000,000 repetitions"):
        drive(mapper("map", {"expression": "value * 10**10"}), [DataPacket("a")])


def test_inject_mapper_debug_log(registry: NodeRegistry) -> None:
    graph = Graph(id="mapper", registry=registry)
    src = graph.add_node("inject", settings={"value": {"price": 20, "qty": 3}, "count": 2})
    expression = "{'total': value['price'] * value['qty']}"
    mapped = graph.add_node("mapper", settings={"expression": expression})
    log = graph.add_node("debug-log")
    graph.connect(src, "out", mapped, "in")
    graph.connect(mapped, "out", log, "in")
    result = GraphRuntime(graph, registry).run()
    assert result.ok
    assert result.outputs[f"{log}.out"] == [{"total": 60}] * 2
    assert list(result.frame(f"{log}.in")["total"]) == [60, 60]
    sent, received = result.packets[f"{log}.out"][0], result.frame(f"{mapped}.in")
    assert sent.trace_id in set(received["trace_id"])  # derived: same trace as the input


def test_an_arrow_payload_is_kept(mapper: type[DataFlowNode]) -> None:
    table = pa.table({"x": [1, 2]})
    packet = DataPacket({"rows": 2}, binary_value=table)
    assert drive(mapper("m", {"expression": "value['rows'] + 1"}), [packet]) == [("out", 3)]


# --- in a graph: the error packet says it was the budget ----------------------------------------


def test_a_mapper_stopped_by_the_budget_sends_an_expression_budget_error() -> None:
    registry = node_registry()  # with values-source
    graph = Graph(id="budget", registry=registry)
    src = graph.add_node("values-source", settings={"values": [1, 2]})
    mapper = graph.add_node("mapper", settings={"expression": "len({*range(10**6)}) + value"})
    log = graph.add_node("debug-log")
    graph.connect(src, "out", mapper, "in")
    graph.connect(mapper, "error", log, "in")
    errors = run_graph(graph, registry).outputs[f"{log}.out"]
    assert [error.code for error in errors] == [ErrorCode.EXPRESSION_BUDGET] * 2
    assert "was stopped: range() of 1,000,000 numbers" in errors[0].message


def test_an_edge_transform_stopped_by_the_budget_says_so() -> None:
    registry = node_registry()
    graph = Graph(id="budget", registry=registry)
    src = graph.add_node("values-source", settings={"values": [1]})
    log = graph.add_node("debug-log")
    graph.connect(src, "out", log, "in", transform="sorted(range(200_000), key=str)")
    (error,) = run_graph(graph, registry).errors
    assert error.code is ErrorCode.EXPRESSION_BUDGET
    assert error.message.startswith("edge 'e1': expression 'sorted(range(200_000), key=str)'")
