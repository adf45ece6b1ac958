"""Graph analysis: pure functions over node ids and ``(source, target)`` pairs.

No model, no registry: ``Graph`` (``_graph``) hands in the node ids in insertion order and
the edges whose two ends exist, and gets back plain tuples. Everything is deterministic:
ties are broken by node insertion order, then by edge insertion order.

Glossary (the definitions ``GraphAnalysis`` documents for users):

- *source*: a node with no incoming edge; *sink*: a node with no outgoing edge.
- *level*: the longest distance (in edges) from any source; sources are level 0.
- *component*: a weakly connected component (edge direction ignored).
- *branch*: one source and every node reachable from it.
- *cycle*: a node path that returns to its start, such as ``(a, b, c, a)``; a self-loop is
  ``(a, a)``. ``find_cycles`` reports one cycle per strongly connected component that has
  one, and every self-loop.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Branch", "GraphAnalysis", "analyze", "find_cycles"]

_Adjacency = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Branch:
    """One source and every node reachable from it (itself first, then in graph order)."""

    source: str
    nodes: tuple[str, ...]

    def independent_of(self, other: Branch) -> bool:
        """Whether the two branches share no node (so they may run fully concurrently)."""
        return not set(self.nodes).intersection(other.nodes)


@dataclass(frozen=True, slots=True)
class GraphAnalysis:
    """The shape of a graph, as ``Graph.analyze()`` sees it. Never raises on a bad graph.

    - ``order``: a topological order, ties broken by node insertion order; ``None`` when the
      graph has a cycle.
    - ``levels``: nodes grouped by level, the longest distance from a source (sources are
      level 0); nodes of one level never depend on each other. ``None`` with a cycle.
    - ``components``: weakly connected components, each in insertion order.
    - ``branches``: one ``Branch`` per source: the source and everything reachable from it,
      i.e. all the work a packet from that source can trigger. Two branches are
      *independent* when they share no node; a scheduler may run them fully concurrently
      with no synchronisation. Nodes on a cycle that no source reaches belong to no branch.
    - ``branch_groups``: the sources grouped so that branches in different groups are
      independent and branches in one group meet (transitively) at some node, such as a
      merge or join, where they must be synchronised.
    - ``sources`` / ``sinks``: nodes without incoming / outgoing edges.
    - ``cycle``: the first cycle as a node path (``("a", "b", "a")``), or ``None``.

    Edges whose source or target node does not exist are ignored here (``validate`` reports
    them).
    """

    order: tuple[str, ...] | None
    levels: tuple[tuple[str, ...], ...] | None
    components: tuple[tuple[str, ...], ...]
    branches: tuple[Branch, ...]
    branch_groups: tuple[tuple[str, ...], ...]
    sources: tuple[str, ...]
    sinks: tuple[str, ...]
    cycle: tuple[str, ...] | None

    @property
    def is_acyclic(self) -> bool:
        """Whether the graph has no cycle (so ``order`` and ``levels`` are set)."""
        return self.cycle is None


def _adjacency(
    nodes: Sequence[str], pairs: Sequence[tuple[str, str]]
) -> tuple[_Adjacency, _Adjacency]:
    succ: _Adjacency = {node: [] for node in nodes}
    pred: _Adjacency = {node: [] for node in nodes}
    seen: set[tuple[str, str]] = set()
    for source, target in pairs:
        if source in succ and target in succ and (source, target) not in seen:
            seen.add((source, target))
            succ[source].append(target)
            pred[target].append(source)
    return succ, pred


def analyze(nodes: Sequence[str], pairs: Sequence[tuple[str, str]]) -> GraphAnalysis:
    """Analyse the graph of unique ``nodes`` (insertion order) and edge ``pairs``."""
    succ, pred = _adjacency(nodes, pairs)
    position = {node: index for index, node in enumerate(nodes)}
    cycles = find_cycles(nodes, pairs)
    order = None if cycles else _topological_order(nodes, succ, pred, position)
    levels = None if order is None else _levels(order, pred)
    rank = position if order is None else {node: i for i, node in enumerate(order)}
    sources = tuple(node for node in nodes if not pred[node])
    branches = tuple(
        Branch(source, tuple(sorted(_reachable(source, succ), key=rank.__getitem__)))
        for source in sources
    )
    return GraphAnalysis(
        order=order,
        levels=levels,
        components=_components(nodes, succ, pred, position),
        branches=branches,
        branch_groups=_branch_groups(branches, position),
        sources=sources,
        sinks=tuple(node for node in nodes if not succ[node]),
        cycle=cycles[0] if cycles else None,
    )


def _topological_order(
    nodes: Sequence[str], succ: _Adjacency, pred: _Adjacency, position: dict[str, int]
) -> tuple[str, ...] | None:
    waiting = {node: len(pred[node]) for node in nodes}
    ready = [(position[node], node) for node in nodes if waiting[node] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for child in succ[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (position[child], child))
    return tuple(order) if len(order) == len(nodes) else None


def _levels(order: tuple[str, ...], pred: _Adjacency) -> tuple[tuple[str, ...], ...]:
    level: dict[str, int] = {}
    for node in order:
        level[node] = max((level[parent] + 1 for parent in pred[node]), default=0)
    grouped: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for node in order:
        grouped[level[node]].append(node)
    return tuple(tuple(group) for group in grouped)


def _reachable(start: str, succ: _Adjacency) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for child in succ[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _components(
    nodes: Sequence[str], succ: _Adjacency, pred: _Adjacency, position: dict[str, int]
) -> tuple[tuple[str, ...], ...]:
    seen: set[str] = set()
    components = []
    for start in nodes:
        if start in seen:
            continue
        seen.add(start)
        members = [start]
        todo = [start]
        while todo:
            node = todo.pop()
            for other in (*succ[node], *pred[node]):
                if other not in seen:
                    seen.add(other)
                    members.append(other)
                    todo.append(other)
        components.append(tuple(sorted(members, key=position.__getitem__)))
    return tuple(components)


def _branch_groups(
    branches: tuple[Branch, ...], position: dict[str, int]
) -> tuple[tuple[str, ...], ...]:
    parent = {branch.source: branch.source for branch in branches}

    def root(source: str) -> str:
        while parent[source] != source:
            parent[source] = parent[parent[source]]
            source = parent[source]
        return source

    owner: dict[str, str] = {}
    for branch in branches:
        for node in branch.nodes:
            first = owner.setdefault(node, branch.source)
            a, b = root(first), root(branch.source)
            if a != b:
                parent[max(a, b, key=position.__getitem__)] = min(a, b, key=position.__getitem__)
    groups: dict[str, list[str]] = {}
    for branch in branches:
        groups.setdefault(root(branch.source), []).append(branch.source)
    return tuple(tuple(group) for group in groups.values())


def find_cycles(nodes: Sequence[str], pairs: Sequence[tuple[str, str]]) -> list[tuple[str, ...]]:
    """Every self-loop and one cycle per strongly connected component, as node paths.

    Each path starts and ends at the component's earliest node (insertion order) and is a
    shortest cycle through it; the list is ordered by that node.
    """
    succ, _ = _adjacency(nodes, pairs)
    position = {node: index for index, node in enumerate(nodes)}
    cycles: list[tuple[str, ...]] = [(node, node) for node in nodes if node in succ[node]]
    for component in _strongly_connected(nodes, succ):
        if len(component) > 1:
            start = min(component, key=position.__getitem__)
            cycles.append(_cycle_through(start, set(component), succ))
    return sorted(cycles, key=lambda cycle: (position[cycle[0]], len(cycle)))


def _cycle_through(start: str, members: set[str], succ: _Adjacency) -> tuple[str, ...]:
    parent: dict[str, str] = {}
    queue = [start]
    for node in queue:  # breadth first: the first way back to start is a shortest cycle
        for child in succ[node]:
            if child == start and node != start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return (*reversed(path), start)
            if child in members and child != start and child not in parent:
                parent[child] = node
                queue.append(child)
    msg = f"internal error: no cycle through {start!r} in its strongly connected component"
    raise AssertionError(msg)


def _strongly_connected(nodes: Sequence[str], succ: _Adjacency) -> list[list[str]]:
    """Tarjan's algorithm, iterative (graphs may be deeper than Python's recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in nodes:
        if root in index:
            continue
        visit(root)
        work = [(root, 0)]
        while work:
            node, next_child = work[-1]
            children = succ[node]
            if next_child < len(children):
                work[-1] = (node, next_child + 1)
                child = children[next_child]
                if child not in index:
                    visit(child)
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found
