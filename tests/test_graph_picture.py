"""How a Graph shows in a notebook: its document, an SVG picture and its repr."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.graph import GRAPH_MIME_TYPE

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def registry() -> NodeRegistry:
    return NodeRegistry.default()


def picture(graph: Graph) -> ET.Element:
    return ET.fromstring(graph._repr_mimebundle_()["image/svg+xml"])


def node_boxes(svg: ET.Element) -> dict[str, tuple[float, float]]:
    """Node id -> (x, y) of its box, read back from the picture."""
    boxes = {}
    for group in svg.iter(f"{SVG}g"):
        title, rect = group.find(f"{SVG}title"), group.find(f"{SVG}rect")
        if title is not None and rect is not None and title.text:
            boxes[title.text.split(":")[0]] = (float(rect.get("x", 0)), float(rect.get("y", 0)))
    return boxes


def test_a_graph_shows_as_its_document_a_picture_and_text(registry: NodeRegistry) -> None:
    g = Graph("prices", registry=registry)
    g.add_node("inject", id="src", position=(0, 0))
    g.add_node("filter", id="big", settings={"expression": "value < 3"}, position=(300, 0))
    g.connect("src.out", "big.in", filter="value['a'] < 3 and value['b'] > 1")
    bundle = g._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "image/svg+xml", GRAPH_MIME_TYPE}
    assert bundle["text/plain"] == repr(g)
    assert bundle[GRAPH_MIME_TYPE] == g.to_dict()
    svg = ET.fromstring(bundle["image/svg+xml"])  # well-formed: '<' in text is escaped
    assert node_boxes(svg) == {"src": (0.0, 0.0), "big": (300.0, 0.0)}
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"Inject", "Filter", "src", "big", "in", "out", "error"} <= set(texts)
    assert "value['a'] < 3 and value['b…" in texts  # the edge's filter, clipped
    curves = [p for p in svg.iter(f"{SVG}path") if p.get("fill") == "none"]
    assert len(curves) == 1


def test_nodes_sharing_a_position_are_placed_by_level(registry: NodeRegistry) -> None:
    g = Graph("fan", registry=registry)  # built in Python: every node at (0, 0)
    g.add_node("inject", id="a")
    g.add_node("mapper", id="b", settings={"expression": "value"})
    g.add_node("mapper", id="c", settings={"expression": "value"})
    g.add_node("debug-log", id="d")
    g.connect("a.out", "b.in")
    g.connect("a.out", "c.in")
    g.connect("b.out", "d.in")
    boxes = node_boxes(picture(g))
    assert len(set(boxes.values())) == 4  # nobody on top of anybody
    assert boxes["a"][0] < boxes["b"][0] == boxes["c"][0] < boxes["d"][0]
    assert all(node.position.x == 0 for node in g.nodes)  # the graph is left as it was


def test_an_uninstalled_type_is_drawn_with_the_ports_its_edges_name() -> None:
    document = {
        "id": "foreign",
        "version": "1.0.0",
        "nodes": [
            {
                "id": "x",
                "typeId": "not-installed",
                "version": "9.0.0",
                "position": {"x": 0, "y": 0},
            },
            {"id": "y", "typeId": "nor-this", "version": "1.2.3", "position": {"x": 300, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "source": "x", "sourcePort": "rows", "target": "y", "targetPort": "in"}
        ],
    }
    g = Graph.from_dict(document, registry=NodeRegistry(paths=[]))
    texts = [t.text for t in picture(g).iter(f"{SVG}text")]
    assert {"not-installed 9.0…", "rows", "in"} <= set(texts)


def test_an_empty_graph_says_so(registry: NodeRegistry) -> None:
    texts = [t.text for t in picture(Graph("nothing", registry=registry)).iter(f"{SVG}text")]
    assert texts == ["nothing: an empty graph"]


def test_a_picture_that_fails_leaves_the_text(
    registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object) -> str:
        raise ValueError("no ink")

    monkeypatch.setattr("dataflow_jupyter.graph._graph.graph_svg", broken)
    bundle = Graph("g", registry=registry)._repr_mimebundle_()
    assert set(bundle) == {"text/plain", GRAPH_MIME_TYPE}
    assert "could not draw graph 'g'" in caplog.text


def test_each_node_is_labelled_with_its_key_settings_truncated(registry: NodeRegistry) -> None:
    """Issue 11: the picture showed ports only, not the settings that give the graph meaning."""
    g = Graph("labelled", registry=registry)
    g.add_node("inject", id="src", settings={"value": {"price": 10}, "count": 3}, position=(0, 0))
    long = "value['price'] > 100 and value['currency'] == 'EUR' and value['ok']"
    g.add_node("filter", id="big", settings={"expression": long}, position=(300, 0))
    g.add_node("debug-log", id="log", position=(600, 0))  # defaults only: no settings row
    texts = [t.text or "" for t in picture(g).iter(f"{SVG}text")]
    assert 'value: {"price":10}' in texts
    assert "count: 3" in texts
    shown = [t for t in texts if t.startswith("expression: ")]
    assert len(shown) == 1
    assert shown[0].endswith("…")
    assert len(shown[0]) <= 30
    assert not any(t.startswith("level: ") for t in texts)
