"""Projection pushdown: tell each node which columns of its output tables the graph uses.

Before a run (when a session is made) the runtime walks the graph from its ends backwards
and asks every node, per input port, which columns of the tables arriving there it and
everything after it use (``DataFlowNode.columns_needed(port, downstream)``). An output port
whose every consumer says is told the union (``DataFlowNode.project(port, columns)``), and a
node may then leave the other columns out (``read-file`` reads only those from the file;
``filter-rows`` copies only those into its output), so
``read-file -> filter-rows(y < 0.5) -> select-columns([key, x]) -> aggregate`` decodes
``key``, ``x`` and ``y`` and nothing else.

The rule keeps answers the same, so it is conservative. An output port's consumers use
*every* column (``None``) when:

- the port has no edge: what it sends is the run's output (``RunResult.outputs``), the user's;
- an edge from it has a ``filter`` or ``transform`` expression (it sees the whole packet);
- a consumer does not declare its columns (the default of ``columns_needed``), or raises
  when asked.

A node that declares columns answers from ``downstream``: ``select-columns`` needs its
``columns`` whatever follows; ``filter-rows`` the expression's columns plus what ``out``'s
consumers need (``None`` if they need everything); ``head`` what ``out``'s consumers need;
``aggregate`` its keys and aggregated columns. Nodes that stack tables (``sort``,
``collect``, ``concat``, ``join``) do not declare: projecting their inputs could turn a
schema conflict in a column nobody uses from an error into an answer. A column a consumer
needs that the table lacks is not an error here: the consumer reports it when it fires, as
without pushdown (its message then lists the projected columns).

What a user sees changes only where the graph does not look: the frames, the debugger's
steps and the dead-letter queue of the projected ports show the columns that travelled.
``GraphRuntime(..., pushdown=False)`` turns the pass off.

``plan`` is pure (node ids, ports and links in, ``{(node, port): columns}`` out); ``push_down``
applies it to a session's node instances.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from dataflow_jupyter.graph import Graph
    from dataflow_jupyter.node import DataFlowNode

__all__ = ["Link", "plan", "push_down"]

Columns = frozenset[str] | None
_log = logging.getLogger("dataflow_jupyter.runtime")


@dataclass(frozen=True, slots=True)
class Link:
    """An edge as the pass sees it; ``opaque`` when an expression on it sees whole packets."""

    source: str
    source_port: str
    target: str
    target_port: str
    opaque: bool = False


def plan(
    order: Sequence[str],
    outputs: Mapping[str, Sequence[str]],
    links: Sequence[Link],
    needs: Callable[[str, str, Mapping[str, Columns]], Columns],
) -> dict[tuple[str, str], frozenset[str]]:
    """Per output ``(node, port)`` whose consumers all declare their columns: their union.

    ``order`` is a topological order; ``outputs`` each node's output ports; ``needs(node,
    port, downstream)`` a node's answer for its input ``port`` (see the module docstring).
    """
    by_source: dict[tuple[str, str], list[Link]] = {}
    for link in links:
        by_source.setdefault((link.source, link.source_port), []).append(link)
    inputs_need: dict[tuple[str, str], Columns] = {}
    asked: dict[str, set[str]] = {}
    for link in links:
        asked.setdefault(link.target, set()).add(link.target_port)
    projected: dict[tuple[str, str], frozenset[str]] = {}
    for node in reversed(order):
        downstream: dict[str, Columns] = {}
        for port in outputs.get(node, ()):
            used = _used(by_source.get((node, port), []), inputs_need)
            downstream[port] = used
            if used is not None:
                projected[node, port] = used
        for port in sorted(asked.get(node, ())):
            inputs_need[node, port] = needs(node, port, downstream)
    return projected


def _used(links: list[Link], inputs_need: Mapping[tuple[str, str], Columns]) -> Columns:
    """What the consumers over ``links`` use together; ``None`` (all) if any uses all."""
    if not links:
        return None  # an unconnected output is the run's output: the user sees all of it
    used: set[str] = set()
    for link in links:
        need = None if link.opaque else inputs_need.get((link.target, link.target_port))
        if need is None:
            return None
        used |= need
    return frozenset(used)


def push_down(graph: Graph, order: Sequence[str], instances: Mapping[str, DataFlowNode]) -> None:
    """Run ``plan`` over ``graph`` and call ``project`` on the nodes it concerns."""
    links = [
        Link(
            edge.source,
            edge.source_port,
            edge.target,
            edge.target_port,
            opaque=edge.filter is not None or edge.transform is not None,
        )
        for edge in graph.edges
    ]
    outputs = {
        node_id: [port.name for port in instance.spec.ports.outputs]
        for node_id, instance in instances.items()
    }

    def needs(node_id: str, port: str, downstream: Mapping[str, Columns]) -> Columns:
        try:
            need = instances[node_id].columns_needed(port, downstream)
        except Exception:  # noqa: BLE001 - a node that cannot say gets every column
            _log.warning("node %r: columns_needed(%r) raised", node_id, port, exc_info=True)
            return None
        return None if need is None else frozenset(need)

    for (node_id, port), columns in plan(order, outputs, links, needs).items():
        instances[node_id].project(port, columns)
