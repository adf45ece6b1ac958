from __future__ import annotations

import json
import pickle
from dataclasses import FrozenInstanceError
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from pydantic import ValidationError
from test_graph_support import make_registry

from dataflow_jupyter import Graph, GraphValidationError, UnknownNodeError
from dataflow_jupyter.graph import (
    EdgeBuffer,
    GraphAnalysis,
    GraphConfig,
    GraphMetadata,
    GraphSchema,
    Position,
    graph_json_schema,
)

if TYPE_CHECKING:
    from pathlib import Path

    from dataflow_jupyter import NodeRegistry


@pytest.fixture
def registry() -> NodeRegistry:
    return make_registry()


@pytest.fixture
def prices(registry: NodeRegistry) -> Graph:
    """source -> filter -> sink, the graph of the README."""
    g = Graph(id="prices", registry=registry)
    src = g.add_node("source", "1.0.0", settings={"count": 3}, position=(0, 0))
    flt = g.add_node("filter", settings={"expression": "value > 100"}, position=(200, 0))
    out = g.add_node("sink", position=(400, 0))
    g.connect(src, "out", flt, "in")
    g.connect(f"{flt}.out", f"{out}.in", buffer={"size": 8, "overflow": "drop_oldest"})
    return g


def problems_of(graph: Graph, registry: NodeRegistry) -> list[str]:
    with pytest.raises(GraphValidationError) as info:
        graph.validate(registry)
    assert all(problem in str(info.value) for problem in info.value.problems)
    return info.value.problems


def document(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "doc", "version": "1.0.0", "nodes": nodes, "edges": edges}


def node(id: str, type_id: str = "merge", **settings: Any) -> dict[str, Any]:
    return {"id": id, "typeId": type_id, "version": "1.0.0", "settings": settings}


def edge(id: str, source: str, target: str, sport: str = "out", tport: str = "a") -> dict[str, Any]:
    return {"id": id, "source": source, "sourcePort": sport, "target": target, "targetPort": tport}


# -- building ----------------------------------------------------------------------------------


def test_add_node_and_connect_return_ids(prices: Graph) -> None:
    assert [n.id for n in prices.nodes] == ["n1", "n2", "n3"]
    assert [e.id for e in prices.edges] == ["e1", "e2"]
    assert prices.edge("e2").describe() == "n2.out -> n3.in"
    assert prices.edge("e2").buffer == EdgeBuffer(size=8, overflow="drop_oldest")
    assert prices.node("n2").position == Position(x=200, y=0)


def test_automatic_ids_never_collide_with_given_or_removed_ones(registry: NodeRegistry) -> None:
    g = Graph(registry=registry)
    assert g.add_node("sink", id="n2") == "n2"
    assert g.add_node("sink") == "n1"
    assert g.add_node("sink") == "n3"
    g.remove_node("n3")
    assert g.add_node("sink") == "n4"


def test_without_a_version_the_newest_installed_one_is_locked_in(registry: NodeRegistry) -> None:
    g = Graph()
    src = g.add_node("source", registry=registry)
    old = g.add_node("source", "1.0.0")
    assert g.node(src).version == "2.0.0"
    assert g.node(old).version == "1.0.0"


def test_an_unknown_type_without_a_version_cannot_be_added(registry: NodeRegistry) -> None:
    with pytest.raises(UnknownNodeError, match="did you mean 'filter'"):
        Graph(registry=registry).add_node("fliter")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"id": "my node"}, "'my node' is not a valid id"),
        ({"version": "1.0"}, "'1.0' is not a semantic version"),
        ({"settings": {"x": float("nan")}}, "must hold JSON values only"),
        ({"position": (1, "left")}, "'position.y': Input should be a valid number"),
        ({"position": 3}, "position is (x, y)"),
    ],
)
def test_add_node_refuses_bad_values(
    registry: NodeRegistry, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(GraphValidationError) as info:
        Graph(registry=registry).add_node("sink", **{"version": "1.0.0", **kwargs})
    assert fragment in str(info.value)
    assert "add_node('sink')" in str(info.value) or "position" in str(info.value)


def test_add_node_refuses_a_used_id(prices: Graph) -> None:
    with pytest.raises(GraphValidationError, match="node id 'n1' is already used"):
        prices.add_node("sink", id="n1")


def test_settings_are_copied_and_descriptions_are_frozen(registry: NodeRegistry) -> None:
    settings = {"expression": "value > 1"}
    g = Graph(registry=registry)
    flt = g.add_node("filter", settings=settings)
    settings["expression"] = "changed"
    assert g.node(flt).settings == {"expression": "value > 1"}
    with pytest.raises(ValidationError, match="frozen"):
        g.node(flt).version = "2.0.0"  # type: ignore[misc]


def test_connect_refuses_missing_nodes_and_bad_ends(prices: Graph) -> None:
    with pytest.raises(GraphValidationError, match="no node 'n9'"):
        prices.connect("n1.out", "n9.in")
    with pytest.raises(GraphValidationError, match=r"is not 'node\.port'"):
        prices.connect("n1out", "n2.in")
    with pytest.raises(TypeError, match="takes"):
        prices.connect("n1", "out", "n2")
    with pytest.raises(GraphValidationError, match="edge id 'e1' is already used"):
        prices.connect("n1.out", "n3.in", id="e1")


@pytest.mark.parametrize(
    ("buffer", "fragment"),
    [
        ({"size": 0}, "'buffer.size': Input should be greater than or equal to 1"),
        ({"overflow": "drop_all"}, "'buffer.overflow': Input should be 'block'"),
        ({"size": 4, "policy": "x"}, "unknown key 'policy'; allowed keys: size, overflow"),
    ],
)
def test_connect_refuses_a_bad_buffer(prices: Graph, buffer: dict[str, Any], fragment: str) -> None:
    with pytest.raises(GraphValidationError) as info:
        prices.connect("n1.out", "n3.in", buffer=buffer)
    assert fragment in str(info.value)


def test_a_buffer_may_be_given_as_its_size(prices: Graph) -> None:
    edge_id = prices.connect("n1.out", "n3.in", buffer=16)
    assert prices.edge(edge_id).buffer == EdgeBuffer(size=16, overflow="block")


def test_remove_node_removes_its_edges(prices: Graph) -> None:
    assert prices.remove_node("n2") == ["e1", "e2"]
    assert [n.id for n in prices.nodes] == ["n1", "n3"]
    assert prices.edges == ()
    with pytest.raises(KeyError, match="no node 'n2'"):
        prices.remove_node("n2")


def test_remove_edge(prices: Graph) -> None:
    prices.remove_edge("e1")
    assert [e.id for e in prices.edges] == ["e2"]
    with pytest.raises(KeyError, match="no edge 'e1'"):
        prices.remove_edge("e1")
    assert prices.connect("n1.out", "n2.in") == "e3"


def test_update_node_replaces_the_value(prices: Graph) -> None:
    before = prices.node("n2")
    after = prices.update_node("n2", position=(10, 20), settings={"expression": "True"})
    assert after.position == Position(x=10, y=20)
    assert after.settings == {"expression": "True"}
    assert before.position == Position(x=200, y=0)
    assert prices.node("n2") is after


def test_a_graph_needs_a_valid_id_and_semver() -> None:
    with pytest.raises(GraphValidationError, match="'bad id' is not a valid id"):
        Graph(id="bad id")
    with pytest.raises(GraphValidationError, match="'v1' is not a semantic version"):
        Graph(id="ok", version="v1")


# -- documents ---------------------------------------------------------------------------------


def test_to_dict_has_the_documented_shape(prices: Graph) -> None:
    doc = prices.to_dict()
    assert list(doc) == ["id", "version", "metadata", "config", "nodes", "edges"]
    assert list(doc["metadata"]) == ["author", "createdAt", "description", "tags"]
    assert doc["config"] == {"maxConcurrency": 16, "stateStorage": {"type": "memory"}}
    assert doc["nodes"][1] == {
        "id": "n2",
        "typeId": "filter",
        "version": "1.0.0",
        "settings": {"expression": "value > 100"},
        "position": {"x": 200.0, "y": 0.0},
    }
    assert doc["edges"][0] == {
        "id": "e1",
        "source": "n1",
        "sourcePort": "out",
        "target": "n2",
        "targetPort": "in",
    }
    assert doc["edges"][1]["buffer"] == {"size": 8, "overflow": "drop_oldest"}


def test_from_dict_round_trips_and_keeps_ids(prices: Graph, registry: NodeRegistry) -> None:
    again = Graph.from_dict(prices.to_dict(), registry=registry)
    assert again.to_dict() == prices.to_dict()
    assert [n.id for n in again.nodes] == ["n1", "n2", "n3"]
    assert again.add_node("sink") == "n4"
    assert again.connect("n1.out", "n4.in") == "e3"
    again.remove_node("n4")
    assert isinstance(again.to_schema(), GraphSchema)


def test_save_and_load_round_trip(prices: Graph, tmp_path: Path, registry: NodeRegistry) -> None:
    prices.metadata = GraphMetadata(author="Zoë", description="prices over 100", tags=("demo",))
    path = prices.save(tmp_path / "prices.dfgraph.json")
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n  "id": "prices",\n  "version": "1.0.0",')
    assert text.endswith("}\n")
    assert '"author": "Zoë"' in text
    loaded = Graph.load(path, registry=registry)
    assert loaded.to_dict() == prices.to_dict()
    loaded.validate()
    loaded.save(tmp_path / "again.dfgraph.json")
    assert (tmp_path / "again.dfgraph.json").read_bytes() == path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "again.dfgraph.json",
        "prices.dfgraph.json",
    ]


def test_optional_fields_are_read_and_written(registry: NodeRegistry) -> None:
    doc = document(
        [node("s", "source"), node("k", "sink")],
        [{**edge("e1", "s", "k", tport="in"), "transform": "value * 2", "filter": "value > 0"}],
    )
    doc["$schema"] = "https://example.org/dfgraph.schema.json"
    doc["config"] = {"maxConcurrency": 2, "stateStorage": "redis"}
    g = Graph.from_dict(doc, registry=registry)
    assert g.config == GraphConfig(max_concurrency=2, state_storage={"type": "redis"})  # type: ignore[arg-type]
    out = g.to_dict()
    assert out["$schema"] == doc["$schema"]
    assert out["config"]["stateStorage"] == {"type": "redis"}
    assert out["edges"][0]["transform"] == "value * 2"
    assert "createdAt" not in out["metadata"]
    assert "buffer" not in out["edges"][0]
    g.validate()


def test_a_utf8_bom_is_accepted(prices: Graph, tmp_path: Path, registry: NodeRegistry) -> None:
    path = tmp_path / "bom.dfgraph.json"
    path.write_bytes(b"\xef\xbb\xbf" + prices.to_json().encode())
    assert Graph.load(path, registry=registry).to_dict() == prices.to_dict()


@pytest.mark.parametrize(
    "data", [None, [], "graph", 3, b"{}", {"id": "x", "version": "1.0.0", "nodes": 5}]
)
def test_from_dict_refuses_anything_but_a_graph_object(data: Any) -> None:
    with pytest.raises(GraphValidationError):
        Graph.from_dict(data)


def test_the_json_schema_accepts_saved_documents(prices: Graph) -> None:
    schema = graph_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"id", "version", "nodes", "edges"} <= set(schema["properties"])
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(prices.to_dict())) == []
    bad = prices.to_dict()
    bad["edges"][1]["buffer"]["overflow"] = "drop_all"
    bad["nodes"][0]["id"] = "a b"
    assert len(list(validator.iter_errors(bad))) == 2
    json.dumps(schema)


def test_the_error_lists_every_problem_and_pickles(prices: Graph, registry: NodeRegistry) -> None:
    prices.update_node("n1", settings={"count": -1})
    prices.update_node("n2", settings={})
    problems = problems_of(prices, registry)
    assert len(problems) == 2
    error = GraphValidationError(problems, source="x.dfgraph.json")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problems, copy.source, str(copy)) == (problems, "x.dfgraph.json", str(error))
    assert str(error).startswith("invalid graph x.dfgraph.json: 2 problems\n  - node 'n1'")


# -- validation --------------------------------------------------------------------------------


def test_a_good_graph_validates(prices: Graph, registry: NodeRegistry) -> None:
    prices.validate(registry)
    prices.validate()  # the graph's own registry
    assert prices.problems() == []


def test_optional_inputs_need_no_edge(registry: NodeRegistry) -> None:
    g = Graph(registry=registry)
    g.connect(g.add_node("source"), "out", g.add_node("merge"), "a")
    g.validate()


@pytest.mark.parametrize(
    ("nodes", "edges", "expected"),
    [
        pytest.param(
            [node("a", "nope")], [], "node 'a': unknown node type 'nope'", id="unknown type"
        ),
        pytest.param(
            [{**node("a", "source"), "version": "3.0.0"}],
            [],
            "node 'a': node type 'source' is not installed in version '3.0.0'; "
            "installed: 1.0.0, 2.0.0",
            id="unknown version",
        ),
        pytest.param(
            [node("a", "source", count="x", colour=1)],
            [],
            "node 'a' (source 1.0.0): unknown setting 'colour'; source 1.0.0 has count",
            id="bad settings",
        ),
        pytest.param(
            [node("a", "filter")],
            [],
            "node 'a' (filter 1.0.0): setting 'expression' is required",
            id="missing setting",
        ),
        pytest.param(
            [node("a", "source")],
            [edge("e1", "a", "ghost")],
            "edge 'e1' (a.out -> ghost.a): target node 'ghost' does not exist; nodes: a",
            id="dangling edge",
        ),
        pytest.param(
            [node("a", "source"), node("b")],
            [edge("e1", "a", "b"), edge("e2", "a", "b")],
            "edge 'e2' repeats edge 'e1': both connect a.out -> b.a",
            id="duplicate edge",
        ),
        pytest.param(
            [node("a", "source"), node("a", "source")],
            [],
            "duplicate node id 'a': used 2 times",
            id="duplicate node id",
        ),
        pytest.param(
            [node("a", "source"), node("b"), node("c")],
            [edge("e1", "a", "b"), edge("e1", "a", "c")],
            "duplicate edge id 'e1': used 2 times",
            id="duplicate edge id",
        ),
        pytest.param(
            [node("a", "source"), node("b")],
            [edge("e1", "a", "b", tport="c")],
            "edge 'e1' (a.out -> b.c): node 'b' (merge 1.0.0) has no input port 'c'; "
            "its inputs: a, b",
            id="unknown input port",
        ),
        pytest.param(
            [node("a", "source"), node("b")],
            [edge("e1", "a", "b", sport="a")],
            "node 'a' (source 1.0.0) has no output port 'a'; its outputs: out",
            id="unknown output port",
        ),
        pytest.param(
            [node("a"), node("b"), node("s", "source")],
            [edge("e0", "s", "a"), edge("e1", "b", "a", sport="a", tport="b")],
            "'a' is an input: edges run from an output to an input",
            id="input used as output",
        ),
        pytest.param(
            [node("a", "source"), node("b", "label")],
            [edge("e1", "a", "b", tport="in")],
            "edge 'e1' (a.out -> b.in): incompatible port types: output is number, input "
            "expects string: a number output cannot feed a string input",
            id="incompatible types",
        ),
        pytest.param(
            [node("t", "table-source"), node("k", "table-sink")],
            [edge("e1", "t", "k", sport="rows", tport="rows")],
            "the input needs column 'volume' (int64), which the output lacks",
            id="incompatible columns",
        ),
        pytest.param(
            [node("k", "sink")],
            [],
            "node 'k' (sink 1.0.0): required input 'in' is not connected; "
            "connect an edge to 'k.in'",
            id="required input",
        ),
        pytest.param(
            [node("s", "source"), node("a"), node("b"), node("c")],
            [
                edge("e0", "s", "a"),
                edge("e1", "a", "b"),
                edge("e2", "b", "c"),
                edge("e3", "c", "a", tport="b"),
            ],
            "cycle: a -> b -> c -> a (edges e1, e2, e3); a dataflow graph must be acyclic",
            id="cycle",
        ),
        pytest.param(
            [node("s", "source"), node("a")],
            [edge("e0", "s", "a"), edge("e1", "a", "a", tport="b")],
            "cycle: a -> a (edges e1)",
            id="self-loop",
        ),
        pytest.param(
            [node("s", "source"), node("k", "sink")],
            [{**edge("e1", "s", "k", tport="in"), "filter": "value >"}],
            "edge 'e1' (s.out -> k.in): filter expression 'value >' is not a valid expression",
            id="bad filter",
        ),
        pytest.param(
            [node("s", "source"), node("k", "sink")],
            [{**edge("e1", "s", "k", tport="in"), "transform": "import os"}],
            "edge 'e1' (s.out -> k.in): transform expression 'import os' is not a valid expression",
            id="bad transform",
        ),
        pytest.param(
            [node("s", "source"), node("k", "sink")],
            [{**edge("e1", "s", "k", tport="in"), "transform": "-" * 9_000 + "1"}],
            "is not a valid expression: too deeply nested",
            id="expression too deep",
        ),
    ],
)
def test_each_rule(
    registry: NodeRegistry, nodes: list[dict[str, Any]], edges: list[dict[str, Any]], expected: str
) -> None:
    graph = Graph.from_dict(document(nodes, edges))
    problems = problems_of(graph, registry)
    assert any(expected in problem for problem in problems), problems


def test_expressions_are_parsed_never_evaluated(registry: NodeRegistry, tmp_path: Path) -> None:
    marker = tmp_path / "evaluated"
    g = Graph(registry=registry)
    g.connect(
        g.add_node("source"),
        "out",
        g.add_node("sink"),
        "in",
        filter=f"__import__('pathlib').Path({str(marker)!r}).touch()",
    )
    with pytest.raises(GraphValidationError, match="names starting with '_' are not allowed"):
        g.validate()  # refused by the safe evaluator's checks: compiled, never evaluated
    assert not marker.exists()


def test_the_size_guard_applies_to_built_graphs(
    registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dataflow_jupyter.graph._document.MAX_NODES", 2)
    g = Graph(registry=registry)
    g.add_node("source")
    g.add_node("source")
    with pytest.raises(GraphValidationError, match="the graph has 3 nodes; the limit is 2"):
        g.add_node("source")


# -- analysis ----------------------------------------------------------------------------------


def analyze(pairs: str, nodes: str = "") -> GraphAnalysis:
    """``analyze("a>b b>c", nodes="a b c")``: nodes in insertion order, then edges."""
    names = nodes.split() or list(dict.fromkeys(n for p in pairs.split() for n in p.split(">")))
    links = [p.split(">") for p in pairs.split()]
    doc = document(
        [node(n) for n in names],
        [edge(f"e{i}", s, t) for i, (s, t) in enumerate(links)],
    )
    return Graph.from_dict(doc).analyze()


def test_a_chain() -> None:
    result = analyze("a>b b>c")
    assert result.order == ("a", "b", "c")
    assert result.levels == (("a",), ("b",), ("c",))
    assert result.components == (("a", "b", "c"),)
    assert [b.nodes for b in result.branches] == [("a", "b", "c")]
    assert (result.sources, result.sinks, result.cycle) == (("a",), ("c",), None)
    assert result.is_acyclic


def test_a_diamond() -> None:
    result = analyze("a>b a>c b>d c>d")
    assert result.order == ("a", "b", "c", "d")
    assert result.levels == (("a",), ("b", "c"), ("d",))
    assert result.branch_groups == (("a",),)


def test_ties_follow_insertion_order_and_levels_are_longest_paths() -> None:
    result = analyze("z>x y>x z>w w>x", nodes="z y x w")
    assert result.order == ("z", "y", "w", "x")
    assert result.levels == (("z", "y"), ("w",), ("x",))


def test_two_independent_branches() -> None:
    result = analyze("s1>f1 f1>k1 s2>f2 f2>k2")
    first, second = result.branches
    assert (first.source, first.nodes) == ("s1", ("s1", "f1", "k1"))
    assert (second.source, second.nodes) == ("s2", ("s2", "f2", "k2"))
    assert first.independent_of(second)
    assert result.branch_groups == (("s1",), ("s2",))
    assert result.components == (("s1", "f1", "k1"), ("s2", "f2", "k2"))


def test_branches_that_meet_are_one_group() -> None:
    result = analyze("s1>m s2>m m>k")
    assert not result.branches[0].independent_of(result.branches[1])
    assert result.branch_groups == (("s1", "s2"),)


def test_a_disconnected_graph() -> None:
    result = analyze("a>b c>d", nodes="a lonely b c d")
    assert result.components == (("a", "b"), ("lonely",), ("c", "d"))
    assert result.levels == (("a", "lonely", "c"), ("b", "d"))
    assert result.sources == ("a", "lonely", "c")


def test_a_cycle_is_reported_not_raised() -> None:
    result = analyze("s>a a>b b>c c>a")
    assert result.cycle == ("a", "b", "c", "a")
    assert (result.order, result.levels) == (None, None)
    assert not result.is_acyclic
    assert result.branches[0].nodes == ("s", "a", "b", "c")
    assert result.components == (("s", "a", "b", "c"),)


def test_a_self_loop_is_a_cycle() -> None:
    assert analyze("a>b b>b").cycle == ("b", "b")


def test_dangling_edges_and_an_empty_graph_are_analysed() -> None:
    doc = document([node("a")], [edge("e1", "a", "ghost"), edge("e2", "ghost", "a")])
    assert Graph.from_dict(doc).analyze().order == ("a",)
    empty = Graph().analyze()
    assert (empty.order, empty.levels, empty.components, empty.branches) == ((), (), (), ())


def test_the_analysis_is_frozen() -> None:
    result = analyze("a>b")
    with pytest.raises(FrozenInstanceError):
        result.order = ()  # type: ignore[misc]
