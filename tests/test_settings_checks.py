"""Settings are checked when they are set, not when the graph runs: ``Graph.validate`` (and
so ``problems()``, ``dataflow validate`` and the canvas) refuses what a node's constructor
would refuse, with the node's own message."""

from __future__ import annotations

from typing import Any

import pytest

from dataflow_jupyter import DataPacket, Graph, GraphValidationError, NodeRegistry, PureNode
from dataflow_jupyter.testing import spec


class Picky(PureNode):
    """A node pack's own check, written once in ``__init__``."""

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        if self.settings["threshold"] % 2:
            got = self.settings["threshold"]
            msg = f"picky (node {node_id!r}): 'threshold' must be even; got {got}"
            raise ValueError(msg)

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        return None


@pytest.fixture
def registry() -> NodeRegistry:
    reg = NodeRegistry()  # the built-in nodes
    threshold = [{"name": "threshold", "type": "integer", "default": 2}]
    reg.register(spec("picky", ["in"], ["out"], settings=threshold), Picky)
    return reg


def chain(registry: NodeRegistry, type_id: str, settings: dict[str, Any]) -> Graph:
    g = Graph(id="checks", registry=registry)
    src = g.add_node("inject", settings={"value": {"a": 1}})
    node = g.add_node(type_id, settings=settings)
    g.connect(src, "out", node, "in")
    return g


CASES = [
    ("filter-rows", {"expression": "is_nul(value['a'])"}, "is_nul"),
    ("filter", {"expression": "value['a'] >"}, "expression"),
    ("mapper", {"expression": "value.__class__"}, "__class__"),
    (
        "aggregate",
        {"keys": "sym", "aggregations": [{"column": "a", "op": "sum"}]},
        "'keys' must be a list",
    ),
    ("aggregate", {"keys": [], "aggregations": [{"column": "a", "op": "median!"}]}, "op 'median!'"),
    ("select-columns", {"columns": "a"}, "columns"),
    ("picky", {"threshold": 3}, "'threshold' must be even; got 3"),
]


@pytest.mark.parametrize(("type_id", "settings", "fragment"), CASES)
def test_validate_refuses_what_the_constructor_refuses(
    registry: NodeRegistry, type_id: str, settings: dict[str, Any], fragment: str
) -> None:
    g = chain(registry, type_id, settings)
    problems = g.problems()
    assert len(problems) == 1, problems
    assert problems[0].startswith("node 'n2' (")
    assert fragment in problems[0]
    with pytest.raises(GraphValidationError, match="1 problem"):
        g.validate()


def test_a_valid_setting_passes_and_the_check_message_is_not_doubled(
    registry: NodeRegistry,
) -> None:
    assert chain(registry, "picky", {"threshold": 4}).problems() == []
    (problem,) = chain(registry, "picky", {"threshold": 5}).problems()
    assert problem.count("picky") == 2  # "node 'n2' (picky 1.0.0): picky (node 'n2'): ..."


def test_a_node_class_that_cannot_be_loaded_is_a_problem_of_its_node(tmp_path: Any) -> None:
    folder = tmp_path / "Test" / "Broken"
    folder.mkdir(parents=True)
    (folder / "schema.json").write_text(
        '{"id": "broken", "version": "1.0.0", "category": "Test", "name": "Broken",'
        ' "ports": {"inputs": [{"name": "in"}], "outputs": []}}',
        encoding="utf-8",
    )
    (folder / "node.py").write_text("raise ImportError('no such thing')\n", encoding="utf-8")
    reg = NodeRegistry(paths=[tmp_path])
    g = Graph(id="checks", registry=reg)
    src = g.add_node("inject")
    node = g.add_node("broken")
    g.connect(src, "out", node, "in")
    (problem,) = g.problems()
    assert "node 'n2' (broken 1.0.0): its node class cannot be loaded" in problem
