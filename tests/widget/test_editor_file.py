"""A GraphEditor opened from a file saves back to it, in ``Graph.save``'s format, and reloads it."""

from __future__ import annotations

from typing import Any

import pytest

from dataflow_jupyter import Graph, NodeRegistry


def test_save_writes_the_canvas_back_to_its_file_as_graph_save_does(
    make_canvas: Any, chain: Graph, registry: NodeRegistry, tmp_path: Any
) -> None:
    path = chain.save(tmp_path / "chain.dfgraph.json")
    before = path.read_bytes()
    editor = make_canvas(str(path), registry=registry).editor
    assert editor.path == path
    assert editor.save() == path
    assert path.read_bytes() == before  # nothing changed: the same bytes

    editor.update_node("src", settings={"count": 5})  # as the canvas would
    editor.save()
    expected = Graph.from_dict(editor.graph, registry=registry)
    assert path.read_text(encoding="utf-8") == expected.to_json()
    assert Graph.load(path, registry=registry).node("src").settings == {"count": 5}


def test_reload_reads_the_file_edited_elsewhere(
    make_canvas: Any, chain: Graph, registry: NodeRegistry, tmp_path: Any
) -> None:
    path = chain.save(tmp_path / "chain.dfgraph.json")
    editor = make_canvas(str(path), registry=registry).editor
    chain.remove_node("sink")  # edited in the document editor and saved
    chain.save(path)
    editor.reload()
    assert editor.graph == chain.to_dict()


def test_an_editor_without_a_file_needs_a_path_to_save(
    make_canvas: Any, chain: Graph, registry: NodeRegistry, tmp_path: Any
) -> None:
    editor = make_canvas(chain, registry=registry).editor
    with pytest.raises(ValueError, match=r"save\(\) needs a path"):
        editor.save()
    with pytest.raises(ValueError, match="no file to reload"):
        editor.reload()
    target = editor.save(tmp_path / "new.dfgraph.json")
    assert target.read_text(encoding="utf-8") == chain.to_json()
    editor.reload()
    assert editor.graph == chain.to_dict()
