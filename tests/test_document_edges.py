"""Edges of the document formats (issue: smaller findings): each once wrong, now held here.

- a semantic version with a trailing newline is not one;
- a UTF-8 byte order mark is accepted by graphs and by ``schema.json`` alike;
- settings nested deeper than ``MAX_SETTINGS_DEPTH`` are refused when checked, since they
  could be checked but never saved nor shown;
- ``createdAt`` may be a number (epoch milliseconds, as the seed's GraphSchema types it) and
  is written back as ISO 8601 text;
- a broken shape does not hide the meaning problems of the nodes that are well formed.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from dataflow_jupyter import Graph, GraphValidationError, NodeRegistry, NodeSpec
from dataflow_jupyter.graph._model import MAX_SETTINGS_DEPTH
from dataflow_jupyter.ports import parse_semver

if TYPE_CHECKING:
    from pathlib import Path


def document(**fields: Any) -> dict[str, Any]:
    return {"id": "g", "version": "1.0.0", "nodes": [], "edges": [], **fields}


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize("text", ["1.0.0\n", "1.0.0\r\n", "1.0.0 ", "\n1.0.0", "1.0.0-rc.1\n"])
def test_a_version_with_surrounding_whitespace_is_not_semver(text: str) -> None:
    with pytest.raises(ValueError, match="is not a semantic version"):
        parse_semver(text)
    with pytest.raises(GraphValidationError, match="is not a semantic version"):
        Graph.from_dict(document(version=text))
    node = {"id": "a", "typeId": "inject", "version": text}
    with pytest.raises(GraphValidationError, match="is not a semantic version"):
        Graph.from_dict(document(nodes=[node]))
    spec = {"id": "x", "version": text, "category": "T", "name": "x"}
    with pytest.raises(ValueError, match="is not a semantic version"):
        NodeSpec.model_validate(spec)


def test_a_byte_order_mark_is_accepted_by_graphs_and_schema_json_alike(tmp_path: Path) -> None:
    graph_file = tmp_path / "g.dfgraph.json"
    graph_file.write_bytes(b"\xef\xbb\xbf" + json.dumps(document()).encode())
    assert Graph.load(graph_file).id == "g"
    folder = tmp_path / "pack" / "Bom"
    folder.mkdir(parents=True)
    spec = {"id": "bom-node", "version": "1.0.0", "category": "T", "name": "BOM"}
    (folder / "schema.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(spec).encode())
    (folder / "node.py").write_text(
        "from dataflow_jupyter.node import PureNode\n\n"
        "class Bom(PureNode):\n    def process(self, inputs, ctx):\n        return None\n"
    )
    registry = NodeRegistry(paths=[tmp_path / "pack"], include_builtin=False)
    assert registry.problems == []
    assert registry.ids() == ["bom-node"]


def test_settings_nested_past_the_limit_are_refused_at_once() -> None:
    registry = NodeRegistry()
    graph = Graph(id="deep", registry=registry)
    with pytest.raises(GraphValidationError, match="at most 100 levels deep") as caught:
        graph.add_node("inject", settings={"value": nested(260)}, id="a")
    assert "add_node('inject') 'settings': nest lists" in str(caught.value)
    deep = {"id": "a", "typeId": "inject", "version": "1.0.0", "settings": {"v": nested(260)}}
    with pytest.raises(GraphValidationError, match=f"at most {MAX_SETTINGS_DEPTH} levels") as read:
        Graph.from_dict(document(nodes=[deep]))
    assert "node 'a' (nodes[0]) 'settings': nest lists" in str(read.value)


def test_settings_at_the_limit_validate_save_and_show(tmp_path: Path) -> None:
    registry = NodeRegistry()
    graph = Graph(id="deep", registry=registry)
    # the settings object itself is the first level
    graph.add_node("inject", settings={"value": nested(MAX_SETTINGS_DEPTH - 1)}, id="a")
    graph.validate(registry)
    again = Graph.load(graph.save(tmp_path / "deep.dfgraph.json"), registry=registry)
    assert again.to_dict() == graph.to_dict()
    bundle = graph._repr_mimebundle_()
    assert "image/svg+xml" in bundle


def test_created_at_may_be_epoch_milliseconds_and_is_written_back_as_iso_text() -> None:
    graph = Graph.from_dict(document(metadata={"createdAt": 1_764_504_000_123}))
    assert graph.to_dict()["metadata"]["createdAt"] == "2025-11-30T12:00:00.123+00:00"
    assert Graph.from_dict(document(metadata={"createdAt": 0})).metadata.created_at == (
        "1970-01-01T00:00:00.000+00:00"
    )
    for bad, why in ((True, "valid string"), (1e300, "not a time in milliseconds")):
        with pytest.raises(GraphValidationError, match=why):
            Graph.from_dict(document(metadata={"createdAt": bad}))


def test_a_broken_shape_still_reports_the_nodes_meaning_problems(tmp_path: Path) -> None:
    registry = NodeRegistry()
    data = document(
        nodes=[
            {"id": "a", "typeId": "inject", "version": "1.0.0"},
            {"id": "b", "typeId": "no-such-type", "version": "1.0.0"},
            {"id": "c", "typeId": "inject", "version": "1.0.0", "settings": {"count": "x"}},
        ],
        edges=[{"id": "e1", "source": "a", "sourcePort": "out", "targetPort": "in"}],
    )
    with pytest.raises(GraphValidationError) as caught:
        Graph.from_dict(data, registry=registry)
    problems = caught.value.problems
    assert "edge 'e1' (edges[0]): required key 'target' is missing" in problems
    assert any(p.startswith("node 'b': unknown node type 'no-such-type'") for p in problems)
    assert any(p.startswith("node 'c' (inject 1.0.0): ") and "count" in p for p in problems)
    assert len(problems) == 3
    path = tmp_path / "broken.dfgraph.json"
    path.write_text(json.dumps(data))
    with pytest.raises(GraphValidationError) as loaded:
        Graph.load(path, registry=registry)
    assert loaded.value.problems == problems
