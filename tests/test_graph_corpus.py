"""Malformed graph documents: each one fails with a GraphValidationError, never anything else.

``corpus/graphs/expected.json`` maps each file to the message fragment(s) it must produce.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_graph_support import make_registry

from dataflow_jupyter import Graph, GraphValidationError

if TYPE_CHECKING:
    from dataflow_jupyter import NodeRegistry

CORPUS = Path(__file__).parent / "corpus" / "graphs"
EXPECTED: dict[str, str | list[str]] = json.loads(
    (CORPUS / "expected.json").read_text(encoding="utf-8")
)


@pytest.fixture(scope="module")
def registry() -> NodeRegistry:
    return make_registry()


def load_and_validate(path: Path, registry: NodeRegistry) -> None:
    Graph.load(path, registry=registry).validate()


def test_the_manifest_names_every_file_and_only_existing_ones() -> None:
    on_disk = {p.name for p in CORPUS.glob("*.dfgraph.json")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_malformed_document_is_refused_with_a_precise_message(
    name: str, registry: NodeRegistry
) -> None:
    fragments = EXPECTED[name]
    with pytest.raises(GraphValidationError) as info:
        load_and_validate(CORPUS / name, registry)
    message = str(info.value)
    for fragment in [fragments] if isinstance(fragments, str) else fragments:
        assert fragment in message
    assert info.value.problems
    assert str(CORPUS / name) in message  # every message names the file


def huge_document(nodes: int, edges: int) -> dict[str, object]:
    return {
        "id": "huge",
        "version": "1.0.0",
        "nodes": [{"id": f"n{i}", "typeId": "source", "version": "1.0.0"} for i in range(nodes)],
        "edges": [
            {"id": f"e{i}", "source": "n0", "sourcePort": "out", "target": "n1", "targetPort": "x"}
            for i in range(edges)
        ],
    }


@pytest.mark.parametrize(
    ("nodes", "edges", "fragment"),
    [
        (10_001, 0, "the graph has 10001 nodes; the limit is 10000"),
        (2, 50_001, "the graph has 50001 edges; the limit is 50000"),
    ],
)
def test_a_huge_document_is_refused_before_it_is_read(
    tmp_path: Path, nodes: int, edges: int, fragment: str, registry: NodeRegistry
) -> None:
    path = tmp_path / "huge.dfgraph.json"
    path.write_text(json.dumps(huge_document(nodes, edges)), encoding="utf-8")
    with pytest.raises(GraphValidationError, match=fragment):
        load_and_validate(path, registry)


def test_a_graph_at_the_size_limit_still_loads(registry: NodeRegistry) -> None:
    graph = Graph.from_dict(huge_document(10_000, 0), registry=registry)
    assert len(graph.nodes) == 10_000
    graph.validate()


def test_a_missing_file_is_a_graph_validation_error(tmp_path: Path) -> None:
    with pytest.raises(GraphValidationError, match="cannot read the graph file"):
        Graph.load(tmp_path / "nowhere.dfgraph.json")
