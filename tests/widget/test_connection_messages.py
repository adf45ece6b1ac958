"""Python refuses a connection at once, in the canvas's words.

``Graph.connect`` (and so ``GraphEditor.connect``) checks a connection as the canvas does
before it draws an edge (``connectionProblem`` in ``labextension/src/canvas/connections.ts``).
This runs that TypeScript (bundled by esbuild, in node) on the same graph and catalog and
checks that every refusal Python raises starts with the canvas's message, and that both
allow the same connections.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dataflow_jupyter import Graph, GraphValidationError, NodeRegistry
from dataflow_jupyter.widget.catalog import build_catalog

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
SCRIPT = LABEXTENSION / "scripts" / "connection-messages.mjs"

# (source, source port, target, target port): the cases and each kind of refusal.
CASES = [
    ("rf", "error", "sc", "in"),  # an error_packet output cannot feed a table input
    ("rf", "out", "sc", "in"),  # allowed
    ("rf", "rows", "sc", "in"),  # no such output
    ("src", "out", "log", "nope"),  # no such input
    ("src", "out", "log", "in"),  # already connected
    ("log", "out", "log", "in"),  # a node feeding itself
    ("src", "out", "ghost", "in"),  # a node whose type is not installed
    ("src", "out", "sc", "in"),  # any -> table: allowed, checked at run time
    ("poll", "response", "agg", "in"),  # object -> table
    ("flt", "error", "log", "in"),  # error_packet -> any: allowed
]


@pytest.fixture
def registry() -> NodeRegistry:
    return NodeRegistry(paths=[])


@pytest.fixture
def graph(registry: NodeRegistry) -> Graph:
    g = Graph("messages", registry=registry)
    for type_id, node_id in [
        ("read-file", "rf"),
        ("select-columns", "sc"),
        ("inject", "src"),
        ("debug-log", "log"),
        ("http-poller", "poll"),
        ("aggregate", "agg"),
        ("filter", "flt"),
    ]:
        g.add_node(type_id, id=node_id)
    g.connect("src.out", "log.in")
    document = g.to_dict()
    document["nodes"].append({**document["nodes"][0], "id": "ghost", "typeId": "not-installed"})
    return Graph.from_dict(document, registry=registry)


def canvas_messages(
    registry: NodeRegistry, graph: Graph, cases: list[tuple[str, str, str, str]]
) -> list[str | None]:
    node = shutil.which("node")
    assert node is not None, "node is not installed: the canvas needs Node 20+"
    if not (LABEXTENSION / "node_modules" / "esbuild").is_dir():
        pytest.fail("labextension/node_modules is missing: run `npm ci` in labextension/")
    keys = ("source", "sourcePort", "target", "targetPort")
    payload = {
        "catalog": build_catalog(registry),
        "graph": graph.to_dict(),
        "cases": [dict(zip(keys, case, strict=True)) for case in cases],
    }
    answer = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    messages: list[str | None] = json.loads(answer.stdout)
    return messages


def python_message(graph: Graph, case: tuple[str, str, str, str]) -> str | None:
    trial = Graph.from_dict(graph.to_dict(), registry=graph.registry)
    try:
        trial.connect(*case)
    except GraphValidationError as exc:
        [problem] = exc.problems
        return problem
    return None


def test_python_refuses_what_the_canvas_refuses_in_its_words(
    registry: NodeRegistry, graph: Graph
) -> None:
    canvas = canvas_messages(registry, graph, CASES)
    for case, seen in zip(CASES, canvas, strict=True):
        raised = python_message(graph, case)
        if seen is None:
            assert raised is None, (case, raised)
        else:
            assert raised is not None, (case, seen)
            assert raised.startswith(f"{seen}. "), (case, seen, raised)
    refused = dict(zip(CASES, canvas, strict=True))
    assert refused[("rf", "error", "sc", "in")] == (
        "Cannot connect Read File.error (error_packet) → Select Columns.in (table): "
        "an error_packet output cannot feed a table input"
    )
    assert refused[("src", "out", "log", "nope")] == (
        "Cannot connect Inject.out (any) → Debug Log.nope (?): node log has no input port nope"
    )
    assert sum(message is None for message in canvas) == 3


def message_of(error: pytest.ExceptionInfo[GraphValidationError]) -> str:
    [problem] = error.value.problems
    return problem


def test_a_refusal_ends_with_a_hint(graph: Graph) -> None:
    with pytest.raises(GraphValidationError) as missing:
        graph.connect("src.out", "log.nope")
    assert message_of(missing).endswith(
        "node log has no input port nope. Its inputs: in; or pass force=True to record the "
        "edge anyway (validate() reports it until it is repaired)"
    )
    with pytest.raises(GraphValidationError) as wrong_type:
        graph.connect("rf.error", "sc.in")
    assert "Connect ports whose types agree" in message_of(wrong_type)


def test_force_records_the_edge_for_repair(graph: Graph, registry: NodeRegistry) -> None:
    edge_id = graph.connect("rf.error", "sc.in", force=True)
    assert graph.edge(edge_id).describe() == "rf.error -> sc.in"
    problems = graph.problems(registry)
    assert any(
        f"edge {edge_id!r} (rf.error -> sc.in): incompatible port types" in p for p in problems
    )
    graph.remove_edge(edge_id)
    graph.connect("rf.error", "sc.in", force=True)  # the same again, after a repair


def test_without_a_registry_the_default_one_checks() -> None:
    g = Graph("plain")  # no registry: NodeRegistry.default(), as add_node uses
    g.add_node("inject", id="src")
    g.add_node("debug-log", id="log")
    with pytest.raises(GraphValidationError, match="node log has no input port in2"):
        g.connect("src.out", "log.in2")
    assert g.connect("src.out", "log.in") == "e1"


def test_a_type_the_registry_does_not_know_is_refused_unless_forced(
    graph: Graph,
) -> None:
    with pytest.raises(GraphValidationError) as unknown:
        graph.connect("src.out", "ghost.in")
    assert "the type of node ghost is not in the catalog" in message_of(unknown)
    assert "Install not-installed " in message_of(unknown)
    assert graph.connect("src.out", "ghost.in", force=True).startswith("e")


def test_the_editor_refuses_as_graph_connect_does(make_canvas: Any, graph: Graph) -> None:
    editor = make_canvas(graph, registry=graph.registry).editor
    before = copy.deepcopy(editor.graph)
    with pytest.raises(GraphValidationError) as wrong_type:
        editor.connect("rf.error", "sc.in")
    assert message_of(wrong_type).startswith(
        "Cannot connect Read File.error (error_packet) → Select Columns.in (table): "
        "an error_packet output cannot feed a table input. "
    )
    with pytest.raises(GraphValidationError, match="node log has no input port nope"):
        editor.connect("src", "out", "log", "nope")
    assert editor.graph == before  # nothing recorded
    edge_id = editor.connect("rf.error", "sc.in", force=True)
    assert [e["id"] for e in editor.graph["edges"]][-1] == edge_id
    assert any("incompatible port types" in p for p in editor.problems())


def test_a_breakpoint_on_an_unknown_node_names_the_known_ones(
    make_canvas: Any, graph: Graph
) -> None:
    editor = make_canvas(graph, registry=graph.registry).editor
    with pytest.raises(ValueError, match=r"no node 'zzz' in the canvas's graph.*nodes: agg, .*log"):
        editor.set_breakpoint("zzz")
    assert "zzz" not in editor._control.board.breakpoints
    editor.set_breakpoint("log")
    assert "log" in editor._control.board.breakpoints
