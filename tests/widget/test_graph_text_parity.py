"""The JupyterLab document editor writes a graph file exactly as ``Graph.save`` does.

``labextension/src/lab/graphText.ts`` serialises the document the canvas edits; this runs it
(bundled by esbuild, in node) on documents from Python, including ones the canvas changed
(keys in another order, integer positions, optional keys set to null), and compares its
text with ``Graph.to_json`` byte for byte. An empty graph the editor creates loads, and is
saved back by Python unchanged.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dataflow_jupyter import Graph

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
SCRIPT = LABEXTENSION / "scripts" / "graph-text.mjs"


def editor_texts(docs: list[Any]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node is not installed: the canvas needs Node 20+"
    if not (LABEXTENSION / "node_modules" / "esbuild").is_dir():
        pytest.fail("labextension/node_modules is missing: run `npm ci` in labextension/")
    answer = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(answer.stdout)
    return result


def sample_graphs() -> list[Graph]:
    plain = Graph("plain")
    plain.add_node("inject", settings={"value": {"price": 3.5, "name": "ünï"}, "count": 2})
    plain.add_node("filter", settings={"expression": "value > 0.0001"}, position=(240, -80))
    plain.add_node("debug-log", position=(1e-7, 123456789.25))
    plain.connect("n1.out", "n2.in")
    plain.connect("n2.out", "n3.in", transform="value", filter="value != None", buffer=64)
    plain.add_node("mapper", execution={"parallelism": 4, "offload": "cluster"})
    plain.add_node("mapper", execution={"offload": "thread"})
    empty = Graph("empty")
    empty.schema_uri = "https://example.org/graph.schema.json"
    return [plain, empty]


def scrambled(doc: Any) -> Any:
    """The document as the canvas may hold it: keys reordered, nulls for unset options.
    Settings keep their order: they are the node's own JSON, in the order the user wrote."""
    if isinstance(doc, dict):
        keys = reversed(list(doc))
        out = {key: doc[key] if key == "settings" else scrambled(doc[key]) for key in keys}
        if "sourcePort" in doc:
            out.setdefault("transform", None)
        if "typeId" in doc:
            out.setdefault("execution", None)
        if "offload" in doc:
            out.setdefault("parallelism", None)
        return out
    if isinstance(doc, list):
        return [scrambled(item) for item in doc]
    return doc


def test_the_editor_writes_what_graph_save_writes() -> None:
    graphs = sample_graphs()
    docs = [graph.to_dict() for graph in graphs]
    answer = editor_texts(docs + [scrambled(doc) for doc in docs])
    expected = [graph.to_json() for graph in graphs] * 2
    assert answer["texts"] == expected


def test_an_empty_graph_from_the_editor_loads_and_saves_unchanged(tmp_path: Path) -> None:
    text = editor_texts([])["empty"]
    path = tmp_path / "fresh.dfgraph.json"
    path.write_text(text, encoding="utf-8")
    graph = Graph.load(path)
    assert (graph.id, graph.nodes, graph.edges) == ("fresh", (), ())
    assert graph.to_json() == text
