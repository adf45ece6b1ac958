from __future__ import annotations

import re
from typing import Any

import pytest
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph
from dataflow_jupyter.expressions import ExpressionError
from dataflow_jupyter.node import DataFlowNode, PureNode
from dataflow_jupyter.registry import NodeRegistry

PRICES = [{"p": 150}, {"p": 50}, {"p": 5}, {"p": 120}, {"p": 11}]


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def switch(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("switch", "1.0.0").load()


def run_switch(
    registry: NodeRegistry, values: list[Any], rules: list[str], *, errors_to_log: bool = False
) -> tuple[Any, str, str | None]:
    """values-source -> switch (every output a sink) [-> debug-log on 'error']."""
    graph = Graph(id="switch", registry=registry)
    src = graph.add_node("values-source", settings={"values": values})
    sw = graph.add_node("switch", settings={"rules": rules})
    graph.connect(src, "out", sw, "in")
    log = None
    if errors_to_log:
        log = graph.add_node("debug-log")
        graph.connect(sw, "error", log, "in")
    return run_graph(graph, registry), sw, log


def test_the_spec(switch: type[DataFlowNode]) -> None:
    assert issubclass(switch, PureNode)
    spec = switch.spec
    assert (spec.id, spec.version, spec.category) == ("switch", "1.0.0", "Logic")
    assert [p.name for p in spec.ports.inputs] == ["in"]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out1", "any"),
        ("out2", "any"),
        ("out3", "any"),
        ("out4", "any"),
        ("otherwise", "any"),
        ("error", "error_packet"),
    ]
    assert (spec.execution.fire, spec.execution.offload) == ("all", "none")
    assert (spec.ui.color, spec.ui.icon) == ("#8b5cf6", "git-branch")
    assert switch("sw").settings == {"rules": []}


def test_the_first_true_rule_decides(registry: NodeRegistry) -> None:
    rules = ["value['p'] > 100", "value['p'] > 10", "value['p'] > 0"]
    result, sw, _ = run_switch(registry, PRICES, rules)
    assert result.ok
    assert result.outputs == {
        f"{sw}.out1": [{"p": 150}, {"p": 120}],
        f"{sw}.out2": [{"p": 50}, {"p": 11}],
        f"{sw}.out3": [{"p": 5}],
    }


def test_no_rule_true_goes_to_otherwise(registry: NodeRegistry) -> None:
    result, sw, _ = run_switch(registry, PRICES, ["value['p'] > 100"])
    assert result.outputs == {
        f"{sw}.out1": [{"p": 150}, {"p": 120}],
        f"{sw}.otherwise": [{"p": 50}, {"p": 5}, {"p": 11}],
    }
    result, sw, _ = run_switch(registry, [1, "a", None], [])
    assert result.outputs == {f"{sw}.otherwise": [1, "a", None]}


def test_four_rules_and_the_packet_metadata(registry: NodeRegistry) -> None:
    rules = ["value == 1", "value == 2", "value == 3", "packet.origin_node == 'n1'"]
    result, sw, _ = run_switch(registry, [1, 2, 3, 4], rules)
    assert result.outputs == {
        f"{sw}.out1": [1],
        f"{sw}.out2": [2],
        f"{sw}.out3": [3],
        f"{sw}.out4": [4],
    }


def test_packets_pass_unchanged_in_their_trace(registry: NodeRegistry) -> None:
    result, sw, _ = run_switch(registry, PRICES, ["value['p'] > 100"])
    received = {p.packet_id: p for p in result.frames[f"{sw}.in"]}
    for sent in result.packets[f"{sw}.out1"] + result.packets[f"{sw}.otherwise"]:
        (parent,) = sent.parents
        assert sent.trace_id == received[parent].trace_id
        assert sent.value is received[parent].value


def test_a_failing_rule_sends_the_packet_to_error(registry: NodeRegistry) -> None:
    values = [{"p": 150}, {"q": 1}, {"p": 5}]
    result, sw, log = run_switch(registry, values, ["value['p'] > 100"], errors_to_log=True)
    assert result.outputs[f"{sw}.out1"] == [{"p": 150}]
    assert result.outputs[f"{sw}.otherwise"] == [{"p": 5}]
    (error,) = result.outputs[f"{log}.out"]
    assert error.node_id == sw
    assert error.message == "expression \"value['p'] > 100\" failed: KeyError: 'p'"
    assert error.packet.value == {"q": 1}
    assert [e.message for e in result.errors] == [error.message]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("value > 1", "'rules' must be a list of expression strings"),
        ([1], "'rules' must be a list of expression strings"),
        (["1"] * 5, "'rules' has 5 expressions, but a switch has 4 rule outputs (out1..out4)"),
    ],
)
def test_invalid_rules_are_refused(switch: type[DataFlowNode], rules: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        switch("sw", {"rules": rules})
    assert str(info.value).startswith("settings of switch 1.0.0 (node 'sw'): ")


def test_a_refused_rule_fails_at_construction(switch: type[DataFlowNode]) -> None:
    with pytest.raises(ExpressionError) as info:
        switch("sw", {"rules": ["value > 1", "open('x')"]})
    assert str(info.value) == (
        "expression \"open('x')\" calls 'open', which is not a safe function; the safe "
        "functions are abs, all, any, bool, dict, enumerate, float, int, len, list, max, min, "
        "range, reversed, round, set, sorted, str, sum, tuple, zip"
    )
