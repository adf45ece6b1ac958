"""Any document, well-formed or not, either loads and validates or raises GraphValidationError."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_graph_support import make_registry

from dataflow_jupyter import Graph, GraphValidationError

if TYPE_CHECKING:
    from collections.abc import Callable


REGISTRY = make_registry()
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

short_text = st.text(max_size=8)
short_text = st.text(max_size=8)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats()
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(short_text, inner, max_size=4),
    max_leaves=20,
)


class Pools:
    """Values to draw fields from: ``clean`` ones pass the shape checks, ``sloppy`` ones may not."""

    def __init__(self, *, sloppy: bool) -> None:
        bad: list[str] = ["bad id", "", "9z", "^1.0.0", "1.0", "not a port"] if sloppy else []
        self.sloppy = sloppy
        self.ids = st.sampled_from(["a", "b", "c", "d", *bad[:3]])
        self.versions = st.sampled_from(["1.0.0", "2.0.0", "1.5.0", *bad[3:5]])
        self.ports = st.sampled_from(["in", "out", "a", "b", "rows", "x", *bad[5:]])

    def field(self, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        """Clean: the value. Sloppy: the value, absent (``...``) or any JSON value."""
        if not self.sloppy:
            return strategy
        return st.one_of(strategy, strategy, strategy, st.just(...), json_values)


type_ids = st.sampled_from(
    ["source", "filter", "sink", "merge", "label", "table-source", "table-sink", "nope"]
)
expressions = st.sampled_from(
    ["value > 0", "value['p']", "value >", "import os", "\x00", "(" * 300]
)
setting_values = st.dictionaries(
    st.sampled_from(["count", "expression", "other"]),
    st.sampled_from([1, -1, "value > 0", "x", None, 2.5, True, [1]]),
    max_size=2,
)
buffers = st.fixed_dictionaries(
    {
        "size": st.integers(min_value=-2, max_value=100),
        "overflow": st.sampled_from(["block", "drop_oldest", "drop_newest", "drop_all"]),
    }
)
optional = st.just(...)


def drop_absent(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not ...}


def node(draw: st.DrawFn, pools: Pools) -> dict[str, Any]:
    position = st.fixed_dictionaries({"x": st.floats(), "y": st.integers()})
    return drop_absent(
        {
            "id": draw(pools.field(pools.ids)),
            "typeId": draw(pools.field(type_ids)),
            "version": draw(pools.field(pools.versions)),
            "settings": draw(pools.field(setting_values)),
            "position": draw(optional | pools.field(position)),
        }
    )


def edge(draw: st.DrawFn, pools: Pools, index: int) -> dict[str, Any]:
    return drop_absent(
        {
            "id": draw(pools.field(st.just(f"e{index}") | pools.ids)),
            "source": draw(pools.field(pools.ids)),
            "sourcePort": draw(pools.field(pools.ports)),
            "target": draw(pools.field(pools.ids)),
            "targetPort": draw(pools.field(pools.ports)),
            "filter": draw(optional | expressions),
            "transform": draw(optional | optional | expressions),
            "buffer": draw(optional | optional | buffers),
        }
    )


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    pools = Pools(sloppy=draw(st.booleans()))
    nodes = [node(draw, pools) for _ in range(draw(st.integers(0, 5)))]
    edges = [edge(draw, pools, i) for i in range(draw(st.integers(0, 6)))]
    config = st.fixed_dictionaries(
        {
            "maxConcurrency": st.integers(min_value=-1, max_value=20),
            "stateStorage": st.sampled_from(["memory", "disk", {"type": "file"}]),
        }
    )
    document = drop_absent(
        {
            "id": draw(pools.field(pools.ids)),
            "version": draw(pools.field(pools.versions)),
            "metadata": draw(optional | st.fixed_dictionaries({"tags": st.lists(short_text)})),
            "config": draw(optional | config),
            "nodes": draw(pools.field(st.just(nodes))),
            "edges": draw(pools.field(st.just(edges))),
        }
    )
    if pools.sloppy and draw(st.booleans()):
        document[draw(short_text)] = draw(json_values)
    return document


def outcome(action: Callable[[], Graph | None]) -> Graph | list[str] | None:
    """What ``action`` returned, or the problems of the GraphValidationError it raised."""
    try:
        return action()
    except GraphValidationError as exc:
        return exc.problems


def load_and_check(data: Any) -> str:
    """Load, round-trip, analyse and validate ``data``; say how far it got."""
    graph = outcome(lambda: Graph.from_dict(data, registry=REGISTRY))
    if not isinstance(graph, Graph):
        assert graph, "a GraphValidationError always names its problems"
        return "refused"
    again = Graph.from_dict(graph.to_dict(), registry=REGISTRY)
    assert again.to_dict() == graph.to_dict()
    analysis = graph.analyze()
    problems = outcome(graph.validate)
    if problems:
        return "invalid"
    assert analysis.order is not None
    assert len(analysis.order) == len(graph.nodes)
    return "valid"


@FAST
@given(documents())
def test_graph_shaped_documents_load_or_fail_cleanly(document: dict[str, Any]) -> None:
    event(load_and_check(document))


@FAST
@given(json_values)
def test_any_json_value_loads_or_fails_cleanly(value: Any) -> None:
    event(load_and_check(value))


@FAST
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_load_or_fail_cleanly(data: bytes) -> None:
    assert outcome(lambda: Graph.from_json(data, registry=REGISTRY)) != []


@FAST
@given(documents())
def test_a_valid_document_survives_json(document: dict[str, Any]) -> None:
    try:
        graph = Graph.from_dict(document, registry=REGISTRY)
    except GraphValidationError:
        return
    assert Graph.from_json(graph.to_json(), registry=REGISTRY).to_dict() == graph.to_dict()


@st.composite
def wirings(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]]]:
    names = [f"n{i}" for i in range(draw(st.integers(0, 8)))]
    if not names:
        return names, []
    pairs = st.tuples(st.sampled_from(names), st.sampled_from(names))
    return names, draw(st.lists(pairs, max_size=12))


@FAST
@given(wirings())
def test_the_analysis_is_consistent(wiring: tuple[list[str], list[tuple[str, str]]]) -> None:
    names, pairs = wiring
    graph = Graph(registry=REGISTRY)
    for name in names:
        graph.add_node("merge", "1.0.0", id=name)
    for source, target in pairs:
        graph.connect(source, "out", target, "a", force=True)  # cycles and repeats too
    result = graph.analyze()
    assert sorted(n for component in result.components for n in component) == sorted(names)
    if result.cycle is not None:
        assert result.order is None
        assert result.cycle[0] == result.cycle[-1]
        assert all(pair in pairs for pair in zip(result.cycle, result.cycle[1:], strict=False))
        assert any(problem.startswith("cycle: ") for problem in graph.problems())
        return
    assert result.order is not None
    assert result.levels is not None
    position = {name: i for i, name in enumerate(result.order)}
    level = {name: i for i, group in enumerate(result.levels) for name in group}
    assert sorted(position) == sorted(names)
    for source, target in pairs:
        assert position[source] < position[target]
        assert level[source] < level[target]
    for first in result.branches:
        for second in result.branches:
            if first.independent_of(second):
                assert not set(first.nodes) & set(second.nodes)
    grouped = [source for group in result.branch_groups for source in group]
    assert sorted(grouped) == sorted(result.sources)
