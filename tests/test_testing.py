"""dataflow_jupyter.testing: a spec in a line, a registry of test nodes, a node run on packets."""

from __future__ import annotations

from typing import Any

import pytest

from dataflow_jupyter import DataPacket, ErrorPacket, PureNode
from dataflow_jupyter.testing import INLINE, NodeRunError, node_registry, run_node, spec


class Double(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": inputs["in"].value * 2}


class Pair(PureNode):
    """Zips ``a`` and ``b``; emits the trace ids equal or not on ``same``."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        a, b = inputs["a"], inputs["b"]
        return {"out": [a.value, b.value], "same": a.trace_id == b.trace_id}


class Scale(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": inputs["in"].value * self.settings["factor"]}


DOUBLE = (spec("double", ["in"], ["out"], **INLINE), Double)
FACTOR = [{"name": "factor", "type": "number", "default": 1}]


def test_spec_takes_ports_by_name_or_as_dicts_and_any_other_field() -> None:
    made = spec(
        "x",
        ["in", {"name": "opt", "type": "number", "required": False}],
        ["out", {"name": "error", "type": "error_packet"}],
        version="2.1.0",
        settings=FACTOR,
        **INLINE,
    )
    assert made.key == ("x", "2.1.0")
    assert (made.name, made.category) == ("x", "Test")
    assert [p.name for p in made.ports.inputs] == ["in", "opt"]
    assert made.input("opt").required is False  # type: ignore[union-attr]
    assert made.output("error").type == "error_packet"  # type: ignore[union-attr]
    assert made.execution.offload == "none"
    assert [s.name for s in made.settings] == ["factor"]


def test_node_registry_holds_exactly_the_nodes_given() -> None:
    registry = node_registry(DOUBLE)
    assert registry.ids() == ["double"]
    assert registry.get("double", "1.0.0").load() is Double
    assert "mapper" in node_registry(DOUBLE, include_builtin=True).ids()


def test_run_node_returns_the_outputs_per_port_in_order() -> None:
    assert run_node(DOUBLE, inputs={"in": [1, 2, 3]}) == {"out": [2, 4, 6]}


def test_run_node_takes_packets_as_well_as_values() -> None:
    assert run_node(DOUBLE, inputs={"in": [DataPacket(4), 5]}) == {"out": [8, 10]}


def test_run_node_zips_the_input_ports_each_packet_a_new_trace() -> None:
    pair = (spec("pair", ["a", "b"], ["out", "same"]), Pair)
    got = run_node(pair, inputs={"a": [1, 2], "b": ["x", "y"]})
    assert got == {"out": [[1, "x"], [2, "y"]], "same": [False, False]}


def test_run_node_applies_settings_and_finds_a_type_id_in_a_registry() -> None:
    scale = (spec("scale", ["in"], ["out"], settings=FACTOR), Scale)
    registry = node_registry(scale)
    assert run_node("scale", {"in": [1, 2]}, {"factor": 10}, registry=registry) == {"out": [10, 20]}
    assert registry.ids() == ["scale"]  # run_node works on a registry of its own


def test_run_node_runs_a_built_in_node_by_id_and_version() -> None:
    got = run_node("filter", inputs={"in": [1, 5, 2, 7]}, settings={"expression": "value > 2"})
    assert got["out"] == [5, 7]
    version = node_registry(include_builtin=True).latest("filter").spec.version
    assert run_node("filter", {"in": [3]}, {"expression": "True"}, version=version)["out"] == [3]


def test_a_silent_port_gives_an_empty_list() -> None:
    assert run_node(DOUBLE, inputs={"in": []}) == {"out": []}


def test_errors_raise_with_every_error_packet() -> None:
    with pytest.raises(NodeRunError, match=r"node 'double' 1\.0\.0 failed 1 time") as caught:
        run_node(DOUBLE, inputs={"in": [1, None]})
    (error,) = caught.value.errors
    assert isinstance(error, ErrorPacket)
    assert error.node_id == "node"


def test_the_module_docstring_example_runs() -> None:
    from dataflow_jupyter import testing

    doc = testing.__doc__ or ""
    example = doc.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(example, "dataflow_jupyter/testing.py docstring", "exec"), {})
