"""GraphEditor's Python side: traits, catalog, edits, validation, and what it refuses."""

from __future__ import annotations

import asyncio
import copy
import itertools
from typing import Any

import pytest

import dataflow_jupyter
from dataflow_jupyter import Graph, GraphEditor, GraphValidationError, NodeRegistry, PortType
from dataflow_jupyter.graph import GRAPH_MIME_TYPE
from dataflow_jupyter.ports import PortSchema, connection_problems
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.widget import editor as editor_module


def test_the_editor_is_part_of_the_public_api() -> None:
    assert dataflow_jupyter.GraphEditor is GraphEditor
    assert "GraphEditor" in dataflow_jupyter.__all__


def test_it_displays_as_a_widget(make_canvas: Any, registry: NodeRegistry) -> None:
    editor = make_canvas(registry=registry).editor
    data, _ = editor._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == editor.model_id
    synced = {name for name in editor.keys if not name.startswith("_")}
    assert {"graph", "catalog", "status"} <= synced
    assert {"graph", "catalog", "status"} == synced - {"layout", "tabbable", "tooltip"}


def test_the_catalog_holds_every_spec_of_every_version(
    make_canvas: Any, registry: NodeRegistry
) -> None:
    catalog = make_canvas(registry=registry).editor.catalog
    expected = [
        spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        for spec in registry.catalog()
    ]
    assert catalog["nodes"] == expected
    versions = [n["version"] for n in catalog["nodes"] if n["id"] == "add-one"]
    assert versions == ["1.0.0", "2.0.0"]
    assert {"inject", "filter", "debug-log"} <= {n["id"] for n in catalog["nodes"]}


def test_connection_rules_are_the_kernels(make_canvas: Any, registry: NodeRegistry) -> None:
    rules = make_canvas(registry=registry).editor.catalog["connections"]
    assert set(rules) == {t.value for t in PortType}
    for source in PortType:
        for target in PortType:
            problems = connection_problems(PortSchema(source), PortSchema(target))
            assert rules[source.value][target.value] == ("; ".join(problems) or None)
    assert rules["number"]["any"] is None
    assert rules["string"]["number"] == "a string output cannot feed a number input"


def test_without_a_graph_the_canvas_is_empty(make_canvas: Any, registry: NodeRegistry) -> None:
    editor = make_canvas(registry=registry).editor
    assert (editor.graph["id"], editor.graph["version"]) == ("canvas", "1.0.0")
    assert editor.graph["nodes"] == []
    assert editor.runtime is None
    assert editor.status["run"] == "idle"


def test_a_graph_a_dict_a_file_or_a_runtime(
    make_canvas: Any, chain: Graph, registry: NodeRegistry, tmp_path: Any
) -> None:
    document = chain.to_dict()
    path = chain.save(tmp_path / "chain.dfgraph.json")
    runtime = GraphRuntime(chain, registry)
    from_graph = make_canvas(chain, registry=registry).editor
    from_dict = make_canvas(document, registry=registry).editor
    from_file = make_canvas(str(path), registry=registry).editor
    from_runtime = make_canvas(runtime=runtime).editor
    for editor in (from_graph, from_dict, from_file, from_runtime):
        assert editor.graph == document
    assert from_runtime.runtime is runtime
    assert from_runtime.registry is registry
    assert set(from_runtime.status["nodes"]) == {"src", "inc", "sink"}
    with pytest.raises(TypeError, match=r"takes a Graph, a document dict, a path"):
        GraphEditor(42, registry=registry)  # type: ignore[arg-type]
    with pytest.raises(GraphValidationError):
        GraphEditor({"id": "x", "nodes": "no"}, registry=registry)


def test_python_edits_set_a_new_graph_document(make_canvas: Any, registry: NodeRegistry) -> None:
    editor = make_canvas(registry=registry).editor
    documents: list[dict[str, Any]] = []
    editor.observe(lambda change: documents.append(change["new"]), names="graph")

    src = editor.add_node("numbers", settings={"count": 2})
    inc = editor.add_node("add-one", version="1.0.0")
    sink = editor.add_node("debug-log", id="out", position=(100, 300))
    e1 = editor.connect(src, "out", inc, "in")
    e2 = editor.connect(f"{inc}.out", f"{sink}.in", buffer=8)
    assert (src, inc, sink, e1, e2) == ("n1", "n2", "out", "e1", "e2")
    assert len(documents) == 5
    assert all(a is not b for a, b in itertools.pairwise(documents))

    positions = {n["id"]: n["position"] for n in editor.graph["nodes"]}
    assert positions["n1"] == {"x": 0.0, "y": 0.0}
    assert positions["n2"]["x"] > positions["n1"]["x"]  # right of the rightmost
    assert positions["out"] == {"x": 100.0, "y": 300.0}
    assert editor.graph["edges"][1]["buffer"]["size"] == 8
    assert editor.problems() == []

    node = editor.update_node(inc, version="2.0.0")
    assert node.version == "2.0.0"
    assert editor.graph["nodes"][1]["version"] == "2.0.0"
    editor.remove_edge(e2)
    assert [e["id"] for e in editor.graph["edges"]] == ["e1"]
    assert editor.remove_node(inc) == ["e1"]
    assert [n["id"] for n in editor.graph["nodes"]] == ["n1", "out"]


def test_ids_survive_a_round_trip_through_the_canvas(
    make_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    editor = make_canvas(chain, registry=registry).editor
    document = copy.deepcopy(editor.graph)
    document["nodes"][1]["id"] = "plus_one"  # the canvas renamed a node and its edges
    document["edges"][0]["target"] = "plus_one"
    document["edges"][1]["source"] = "plus_one"
    document["edges"][1]["id"] = "wire-7"
    editor.graph = document
    added = editor.add_node("add-one", version="1.0.0")
    editor.connect("sink.out", f"{added}.in")
    assert [n["id"] for n in editor.graph["nodes"]] == ["src", "plus_one", "sink", added]
    assert [e["id"] for e in editor.graph["edges"]] == ["e1", "wire-7", "e2"]  # e2 was free
    graph = editor.to_graph()
    assert [n.id for n in graph.nodes] == ["src", "plus_one", "sink", added]
    assert Graph.from_dict(editor.graph).to_dict() == editor.graph


def test_to_graph_and_problems(make_canvas: Any, chain: Graph, registry: NodeRegistry) -> None:
    editor = make_canvas(chain, registry=registry).editor
    graph = editor.to_graph()
    assert isinstance(graph, Graph)
    assert graph.to_dict() == chain.to_dict()

    editor.remove_edge("e1")  # inc's required input is now unconnected: a draft
    problems = editor.problems()
    assert problems
    assert any("inc" in p for p in problems)
    with pytest.raises(GraphValidationError) as caught:
        editor.to_graph()
    assert caught.value.problems == problems

    editor.graph = {"id": "broken", "nodes": 3}  # the canvas may write anything
    assert editor.problems()
    with pytest.raises(GraphValidationError):
        editor.to_graph()


def test_a_missing_bundle_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, registry: NodeRegistry, tmp_path: Any
) -> None:
    monkeypatch.setattr(editor_module, "_ESM_FILE", tmp_path / "canvas.js")
    with pytest.raises(FileNotFoundError, match=r"npm run build.*labextension"):
        GraphEditor(registry=registry)


def test_runs_and_steps_need_the_kernels_loop(make_canvas: Any, chain: Graph) -> None:
    editor = make_canvas(chain, registry=chain.registry).editor
    with pytest.raises(RuntimeError, match=r"no loop runs here"):
        editor.run()
    with pytest.raises(RuntimeError, match=r"no loop runs here"):
        editor.step()
    editor.stop()  # nothing to stop: fine


def test_inspect_before_a_run_and_for_unknown_ports(
    make_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    editor = make_canvas(chain, registry=registry).editor
    with pytest.raises(RuntimeError, match=r"run the graph first"):
        editor.inspect("inc.out")
    dbg = editor.debugger()  # a script steps through the sync API
    assert [dbg.step().node_id for _ in range(2)] == ["src", "inc"]
    assert editor.inspect("inc.out")["value"].tolist() == [1]
    assert editor.inspect("e1")["value"].tolist() == [0]  # an edge: its target's input
    with pytest.raises(KeyError, match=r"no port 'inc.nope'.*ports: .*inc.in"):
        editor.inspect("inc.nope")
    with pytest.raises(KeyError, match=r"neither 'node.port' nor an edge.*edges: e1, e2"):
        editor.inspect("e9")


def test_a_script_steps_with_the_editors_debugger(
    make_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    editor = make_canvas(chain, registry=registry).editor
    editor.set_breakpoint("sink")
    dbg = editor.debugger()
    assert dbg is editor.debugger()  # one debugger until it is done or stopped
    assert dbg.breakpoints == ["sink"]
    step = dbg.resume()
    assert (step.kind, step.node_id) == ("breakpoint", "sink")
    assert editor._control.board.states["sink"] == "breakpoint"
    editor.stop()
    assert editor.status["run"] == "stopped"
    assert editor.debugger() is not dbg


def test_an_edit_reads_the_document_once(
    make_canvas: Any, chain: Graph, registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit, the node problems the canvas hears and a check after it share one reading."""
    editor = make_canvas(chain, registry=registry).editor
    reads = itertools.count()
    real = Graph.from_dict.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Graph], *args: Any, **kwargs: Any) -> Graph:
        next(reads)
        return real(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(Graph, "from_dict", classmethod(counted))
    editor.add_node("debug-log", id="late")
    assert "required input 'in' is not connected" in editor.problems()[0]
    assert next(reads) == 1


async def test_on_the_kernels_loop_a_burst_of_edits_redraws_the_snapshot_twice(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    monkeypatch.setattr(editor_module, "_SNAPSHOT_DELAY", 0.05)
    editor = amake_canvas(chain, registry=registry).editor
    with capture_output() as shown:
        editor._ipython_display_()
        editor.add_node("debug-log", id="first")
        assert len(shown.outputs) == 3  # the canvas, its snapshot, redrawn at once
        for x in range(5):  # a drag: the document changes again and again
            editor.update_node("inc", position=(float(x), 0.0))
        editor.add_node("debug-log", id="late")
        assert len(shown.outputs) == 3  # within the window: not redrawn yet
        await asyncio.sleep(0.2)
    _, snapshot, first, last = shown.outputs  # then once more, the last document
    assert first.transient == last.transient == snapshot.transient
    assert ">first<" in first.data["image/svg+xml"]
    assert ">late<" not in first.data["image/svg+xml"]
    assert ">late<" in last.data["image/svg+xml"]
    assert last.data[GRAPH_MIME_TYPE] == editor.graph


def test_the_canvas_is_followed_by_a_snapshot_kept_up_to_date(
    make_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    editor = make_canvas(chain, registry=registry).editor
    with capture_output() as shown:
        editor._ipython_display_()
        editor.add_node("debug-log", id="late")
    widget, snapshot, update = shown.outputs
    assert "application/vnd.jupyter.widget-view+json" in widget.data
    assert snapshot.data[GRAPH_MIME_TYPE] == chain.to_dict()
    assert ">inc<" in snapshot.data["image/svg+xml"]  # the node ids as text in the picture
    assert ">late<" not in snapshot.data["image/svg+xml"]
    assert update.transient == snapshot.transient  # the same display, updated in place
    assert ">late<" in update.data["image/svg+xml"]
    assert update.data["text/plain"].endswith("(a snapshot of the canvas above)")
    # issue 11: never the object's repr (nbconvert printed `<...GraphEditor object at 0x...>`)
    assert widget.data["text/plain"] == ""
    html = snapshot.data["text/html"]
    assert html.startswith('<div class="dfj-snapshot"><style>')
    assert ":not(:has(.dfj-canvas))" in html  # hides the widget view's error, never a live one
    assert 'alt="graph chain: 3 nodes, 2 edges"' in html
    assert "data:image/svg+xml;base64," in html
