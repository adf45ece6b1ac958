"""Settings are checked when they are set: every change of the graph, from the canvas or from
Python, is answered with each node's own problems (``graph-problems``), which the canvas
shows on the node and in its settings form."""

from __future__ import annotations

from typing import Any

from dataflow_jupyter import Graph, NodeRegistry


def settings_graph(expression: str) -> dict[str, Any]:
    g = Graph(id="checked")
    g.add_node("inject", id="src", settings={"value": {"x": 1}})
    g.add_node("filter-rows", id="rows", settings={"expression": expression})
    g.connect("src.out", "rows.in")
    return g.to_dict()


def test_a_setting_the_node_refuses_is_named_on_its_node(make_canvas: Any) -> None:
    canvas = make_canvas(registry=NodeRegistry.default())
    canvas.editor.set_state({"graph": settings_graph("is_nul(x)")})  # as the front end writes
    (message,) = canvas.of_type("graph-problems")[-1:]
    assert list(message["nodes"]) == ["rows"]
    (problem,) = message["nodes"]["rows"]
    assert "is_nul" in problem

    canvas.editor.set_state({"graph": settings_graph("x > 1")})  # fixed
    assert canvas.last("graph-problems")[0] == {"type": "graph-problems", "nodes": {}}


def test_python_edits_are_checked_too(make_canvas: Any) -> None:
    canvas = make_canvas(registry=NodeRegistry.default())
    canvas.editor.add_node("aggregate", id="agg", settings={"keys": "sym", "aggregations": []})
    nodes = canvas.last("graph-problems")[0]["nodes"]
    assert "'keys' must be a list" in " ".join(nodes["agg"])
