"""Projection pushdown's plan (``runtime._pushdown.plan``): pure, on ids, ports and links.

Each node here declares its needs as the table nodes do: ``select`` needs its own columns,
``filter`` its expression's columns plus what follows, ``agg`` its own columns, and ``opaque``
does not say (every column). Answers on real files are in ``tests/oracle/test_oracle_pushdown``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataflow_jupyter.runtime._pushdown import Link, plan

if TYPE_CHECKING:
    from collections.abc import Mapping

Columns = frozenset[str] | None

# node -> (kind, its own columns)
NODES: dict[str, tuple[str, frozenset[str]]] = {}


def needs(node: str, port: str, downstream: Mapping[str, Columns]) -> Columns:
    kind, own = NODES[node]
    if kind in ("select", "agg"):
        return own
    if kind == "filter":
        after = downstream.get("out")
        return None if after is None else after | own
    return None  # opaque: does not declare


def planned(nodes: dict[str, tuple[str, set[str]]], links: list[Link]) -> dict[str, Columns]:
    """What each node's ``out`` is told (missing: nothing, i.e. every column)."""
    NODES.clear()
    NODES.update({n: (kind, frozenset(own)) for n, (kind, own) in nodes.items()})
    order = ["read", *nodes]
    NODES["read"] = ("source", frozenset())
    outputs = {n: ["out", "error"] for n in order}
    result = plan(order, outputs, links, needs)
    assert all(port == "out" for _, port in result)
    return {node: columns for (node, _), columns in result.items()}


def link(source: str, target: str, *, opaque: bool = False) -> Link:
    return Link(source, "out", target, "in", opaque)


def test_a_chain_reads_what_the_filter_and_the_select_use() -> None:
    nodes = {"filter": ("filter", {"y"}), "select": ("select", {"key", "x"})}
    nodes["agg"] = ("agg", {"key", "x"})
    got = planned(nodes, [link("read", "filter"), link("filter", "select"), link("select", "agg")])
    # y is needed by the filter although the select drops it afterwards
    assert got["read"] == {"key", "x", "y"}
    assert got["filter"] == {"key", "x"}
    assert got["select"] == {"key", "x"}
    assert "agg" not in got  # its out is the run's output: whole


def test_an_unconnected_output_keeps_every_column() -> None:
    got = planned({"filter": ("filter", {"y"})}, [link("read", "filter")])
    assert got == {}  # filter's out is the answer: read must give it every column


def test_branches_with_different_needs_get_the_union() -> None:
    nodes = {"a": ("agg", {"key", "x"}), "b": ("select", {"ts"})}
    got = planned(nodes, [link("read", "a"), link("read", "b")])
    assert got["read"] == {"key", "x", "ts"}


def test_one_consumer_that_does_not_declare_takes_every_column() -> None:
    nodes = {"a": ("agg", {"key"}), "log": ("opaque", set())}
    assert "read" not in planned(nodes, [link("read", "a"), link("read", "log")])


def test_a_node_after_an_undeclared_one_does_not_project_past_it() -> None:
    nodes = {"log": ("opaque", set()), "agg": ("agg", {"key"})}
    got = planned(nodes, [link("read", "log"), link("log", "agg")])
    assert got == {"log": {"key"}}  # log may drop columns for agg; read gives log all


def test_an_edge_expression_sees_whole_packets() -> None:
    got = planned({"agg": ("agg", {"key"})}, [link("read", "agg", opaque=True)])
    assert got == {}


def test_filters_in_a_row_add_up_their_columns() -> None:
    nodes = {"f1": ("filter", {"a"}), "f2": ("filter", {"b"}), "agg": ("agg", {"c"})}
    got = planned(nodes, [link("read", "f1"), link("f1", "f2"), link("f2", "agg")])
    assert got["read"] == {"a", "b", "c"}
    assert got["f1"] == {"b", "c"}


def test_a_whole_input_count_needs_no_column() -> None:
    got = planned({"count": ("agg", set())}, [link("read", "count")])
    assert got["read"] == frozenset()
