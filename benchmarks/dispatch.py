"""dispatch: one packet through a chain of 1,000 add-one nodes, vs plain calls, ryvencore
0.5 and ``dask.delayed`` (synchronous scheduler).

The per-firing cost of the runtime: our figure is ``rt.run()`` over the number of nodes.
ryvencore pushes data by recursion, ``dask.delayed`` builds a task graph and runs it on the
synchronous scheduler. Goal: at most 2 us per node, and ahead of both peers.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Any

from bench_nodes import chain_graph, registry
from harness import Result, Side, best_of, peer_side

from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from collections.abc import Iterator

    from harness import Prepared


def add_one(x: int) -> int:
    return x + 1


@contextlib.contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def ryven_chain(rc: Any, n: int) -> tuple[Any, Any]:
    """A ryvencore flow ``source -> add-one x n -> sink`` (data-flow mode, the default)."""

    class Source(rc.Node):
        title = "source"
        init_outputs = [rc.NodeOutputType()]
        value = 0

        def update_event(self, inp: int = -1) -> None:
            self.set_output_val(0, rc.Data(self.value))

    class Add(rc.Node):
        title = "add one"
        init_inputs = [rc.NodeInputType()]
        init_outputs = [rc.NodeOutputType()]

        def update_event(self, inp: int = -1) -> None:
            self.set_output_val(0, rc.Data(self.input(0).payload + 1))

    class End(rc.Node):
        title = "sink"
        init_inputs = [rc.NodeInputType()]
        result: Any = None

        def update_event(self, inp: int = -1) -> None:
            self.result = self.input(0).payload

    session = rc.Session()
    session.register_node_types([Source, Add, End])
    flow = session.create_flow("bench")
    source = flow.create_node(Source)
    prev = source
    for _ in range(n):
        node = flow.create_node(Add)
        flow.connect_nodes(prev.outputs[0], node.inputs[0], silent=True)
        prev = node
    end = flow.create_node(End)
    flow.connect_nodes(prev.outputs[0], end.inputs[0], silent=True)
    return source, end


def bench_dispatch(nodes: int = 1_000, repeat: int = 3, peers: bool = True) -> Result:
    """One packet through a chain of ``nodes`` add-one nodes; time per node."""

    def ours() -> Prepared:
        graph, last = chain_graph(registry(0), ("one-shot", {}), "add-one", nodes, sink=False)
        rt = GraphRuntime(graph)  # validates the graph: outside the timing

        def check(result: Any) -> None:
            assert result.ok, result.errors[:1]
            assert result.outputs[f"{last}.out"] == [nodes], result.outputs

        return rt.run, check

    per_node = 1e6 / nodes
    ours_us = best_of(ours, repeat) * per_node

    def plain() -> Prepared:
        def run() -> int:
            x = 0
            for _ in range(nodes):
                x = add_one(x)
            return x

        def check(out: Any) -> None:
            assert out == nodes

        return run, check

    sides = [Side("plain calls", best_of(plain, repeat) * per_node, "us")]

    def measure_ryven(rc: Any) -> float:
        # ryvencore pushes data by recursion (a few frames per node): a 1,000-node chain
        # needs a higher recursion limit, else the error is swallowed and nothing arrives.
        with recursion_limit(20 * nodes + 1_000):

            def prepare() -> Prepared:
                source, end = ryven_chain(rc, nodes)

                def check(_: Any) -> None:
                    if end.result != nodes:
                        msg = f"the chain's end received {end.result!r}, expected {nodes}"
                        raise RuntimeError(msg)

                return source.update, check

            return best_of(prepare, repeat)

    def measure_dask(dask: Any) -> float:
        def prepare() -> Prepared:
            value: Any = 0
            for _ in range(nodes):
                value = dask.delayed(add_one)(value)

            def check(out: Any) -> None:
                assert out == nodes, out

            return lambda: value.compute(scheduler="synchronous"), check

        return best_of(prepare, repeat)

    ratios: dict[str, float | None] = {}
    for name, module, measure in (
        ("ryvencore", "ryvencore", measure_ryven),
        ("dask.delayed", "dask", measure_dask),
    ):
        side, seconds = peer_side(name, module, "us", measure, peers)
        if seconds is not None:
            side.value = seconds * per_node
        sides.append(side)
        ratios[f"{name}/ours"] = side.value / ours_us if side.value else None
    ahead = list(ratios.values())
    if ours_us > 2.0 or any(r is not None and r <= 1.0 for r in ahead):
        met: bool | None = False
    elif any(r is None for r in ahead):
        met = None  # a peer is missing: the "ahead of both" half is unknown
    else:
        met = True
    return Result(
        "dispatch",
        Side("ours", ours_us, "us"),
        sides,
        ratios,
        "<= 2 us/node, ahead of both",
        met,
        {"nodes": nodes, "unit": "microseconds per node"},
        ours_suffix="/node",
    )
