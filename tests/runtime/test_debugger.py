from __future__ import annotations

import pytest

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime


def small_graph(graph: Graph) -> tuple[str, str, str]:
    src = graph.add_node("numbers", settings={"count": 3})
    inc = graph.add_node("add-one")
    log = graph.add_node("debug-log")
    graph.connect(src, "out", inc, "in")
    graph.connect(inc, "out", log, "in")
    return src, inc, log


def test_step_executes_one_firing_at_a_time(graph: Graph, registry: NodeRegistry) -> None:
    src, inc, log = small_graph(graph)
    dbg = GraphRuntime(graph, registry).debugger()
    first = dbg.step()
    assert (first.kind, first.node_id, first.outputs[0][1].value) == ("emit", src, 0)
    second = dbg.step()
    assert (second.kind, second.node_id) == ("firing", inc)
    assert second.inputs["in"].value == 0
    assert second.outputs[0][1].value == 1
    assert dbg.current == inc
    third = dbg.step()
    assert (third.node_id, third.outputs[0][1].value) == (log, 1)
    assert "<table" in third._repr_html_()
    dbg.close()


def test_stepping_the_same_graph_twice_gives_the_same_steps(
    graph: Graph, registry: NodeRegistry
) -> None:
    a = graph.add_node("numbers", settings={"count": 3})
    b = graph.add_node("numbers", settings={"count": 2})
    z = graph.add_node("any-of")
    graph.connect(a, "out", z, "a")
    graph.connect(b, "out", z, "b")

    def steps() -> list[tuple[object, ...]]:
        dbg = GraphRuntime(graph, registry).debugger()
        out = []
        while (step := dbg.step()) is not None:
            out.append(step.signature())
        assert dbg.done
        return out

    first, second = steps(), steps()
    assert first == second
    assert len(first) == 10  # 5 emissions and 5 firings


def test_step_n_and_the_end(graph: Graph, registry: NodeRegistry) -> None:
    small_graph(graph)
    dbg = GraphRuntime(graph, registry).debugger()
    assert len(dbg.step(4)) == 4
    assert not dbg.done
    rest = dbg.step(100)
    assert len(rest) == 5  # 9 steps in all: 3 emissions, 3 + 3 firings
    assert dbg.step() is None
    assert dbg.done


def test_breakpoints_and_resume(graph: Graph, registry: NodeRegistry) -> None:
    src, inc, log = small_graph(graph)
    dbg = GraphRuntime(graph, registry).debugger()
    dbg.add_breakpoint(log, condition="value >= 2")
    hit = dbg.resume()
    assert hit is not None
    assert (hit.kind, hit.node_id, hit.inputs["in"].value) == ("breakpoint", log, 2)
    pending = dbg.pending
    assert pending["value"].tolist() == [2]
    executed = dbg.step()
    assert (executed.kind, executed.node_id, executed.outputs[0][1].value) == ("firing", log, 2)
    hit = dbg.resume()
    assert hit is not None
    assert hit.inputs["in"].value == 3
    assert dbg.resume() is None
    assert dbg.done


def test_a_breakpoint_on_an_unknown_node_is_refused(graph: Graph, registry: NodeRegistry) -> None:
    small_graph(graph)
    dbg = GraphRuntime(graph, registry).debugger()
    with pytest.raises(KeyError, match="no node 'nope'"):
        dbg.add_breakpoint("nope")


def test_a_firing_may_emit_more_than_an_edge_holds(graph: Graph, registry: NodeRegistry) -> None:
    src = graph.add_node("inject", settings={"value": [1, 2, 3]})
    em = graph.add_node("emitter")
    log = graph.add_node("debug-log")
    graph.connect(src, "out", em, "in")
    graph.connect(em, "out", log, "in", buffer={"size": 1})
    dbg = GraphRuntime(graph, registry).debugger()
    steps = dbg.step(10)
    assert [(s.node_id, s.kind) for s in steps] == [
        (src, "emit"), (em, "firing"), (log, "firing"), (log, "firing"), (log, "firing"),
    ]  # fmt: skip
    assert [s.outputs[0][1].value for s in steps[2:]] == [1, 2, 3]
    assert dbg.done
