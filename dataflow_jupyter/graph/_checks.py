"""Meaning checks of a graph against a node registry (``Graph.validate``).

The rules are listed in ``dataflow_jupyter.graph``'s docstring. Every check runs and
every problem is collected; nothing here raises on a bad graph.

Where a node runs (``_execution_problems``) is checked on its effective execution: its
type's ``execution`` with the node's own override applied (``NodeSpec.with_execution``).

- ``parallelism`` above 1 needs ``offload: "cluster"`` (in the kernel a node fires one
  firing at a time) and a pure node (``PureNode``): a stateful or I/O node's firings depend
  on the ones before them;
- ``offload: "cluster"`` is refused for an ``IONode`` (sources and I/O nodes run in the
  kernel); an ``async`` ``process`` may go (a worker runs it on its own event loop);
- a ``StatefulNode`` on the cluster needs state the workers can reach: the graph's
  ``config.stateStorage.type`` must be ``redis`` (``memory`` and ``file`` live with the
  kernel).

The node class is loaded only for a node that asks for the cluster or for parallelism, so
other graphs are checked without importing any node code.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from dataflow_jupyter.expressions import ExpressionError, compile_expression
from dataflow_jupyter.graph._analysis import find_cycles
from dataflow_jupyter.graph._document import listing, size_problems
from dataflow_jupyter.node import IONode, PureNode, StatefulNode
from dataflow_jupyter.ports import connection_problems
from dataflow_jupyter.registry import UnknownNodeError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dataflow_jupyter.graph._model import GraphEdge, GraphNode
    from dataflow_jupyter.node import DataFlowNode
    from dataflow_jupyter.registry import NodeRegistry
    from dataflow_jupyter.spec import NodeSpec, PortSpec

__all__ = ["Refusal", "connection_refusal", "expression_problem", "graph_problems", "node_problems"]


def graph_problems(
    nodes: Sequence[GraphNode],
    edges: Sequence[GraphEdge],
    registry: NodeRegistry,
    *,
    state_storage: str | None = None,
) -> list[str]:
    """Every problem of the graph; ``state_storage`` is its ``config.stateStorage.type``
    (``None``: unknown, stateful nodes on the cluster are not checked against it)."""
    problems = size_problems(len(nodes), len(edges))
    if problems:
        return problems
    problems += _duplicate_ids("node", [node.id for node in nodes])
    problems += _duplicate_ids("edge", [edge.id for edge in edges])
    by_id, specs = _check_nodes(nodes, registry, problems, state_storage)
    connected: set[tuple[str, str]] = set()
    links: dict[tuple[str, str, str, str], str] = {}
    for edge in edges:
        problems += _edge_problems(edge, by_id, specs)
        connected.add((edge.target, edge.target_port))
        link = (edge.source, edge.source_port, edge.target, edge.target_port)
        if link in links:
            problems.append(
                f"edge {edge.id!r} repeats edge {links[link]!r}: both connect "
                f"{edge.describe()}; remove one of them"
            )
        links.setdefault(link, edge.id)
    for node_id, spec in specs.items():
        for port in spec.ports.inputs:
            if port.required and (node_id, port.name) not in connected:
                problems.append(
                    f"{by_id[node_id].describe()}: required input {port.name!r} is "
                    f"not connected; connect an edge to '{node_id}.{port.name}'"
                )
    return problems + _cycle_problems(list(by_id), edges)


def node_problems(
    nodes: Sequence[GraphNode], registry: NodeRegistry, *, state_storage: str | None = None
) -> list[str]:
    """The problems each node has on its own (type, version, settings, where it runs).

    For a document whose shape is broken elsewhere: these are reported with the shape
    problems, so one reading shows both.
    """
    problems: list[str] = []
    _check_nodes(nodes, registry, problems, state_storage)
    return problems


def _check_nodes(
    nodes: Sequence[GraphNode],
    registry: NodeRegistry,
    problems: list[str],
    state_storage: str | None,
) -> tuple[dict[str, GraphNode], dict[str, NodeSpec]]:
    """Append each node's problems; return the nodes by id and the specs of known ones."""
    by_id: dict[str, GraphNode] = {}
    specs: dict[str, NodeSpec] = {}
    for node in nodes:
        if node.id in by_id:
            continue
        by_id[node.id] = node
        try:
            spec = registry.spec(node.type_id, node.version)
        except UnknownNodeError as exc:
            problems.append(f"node {node.id!r}: {exc}")
            continue
        specs[node.id] = spec
        try:
            issues = spec.setting_problems(node.settings)
        except (ValueError, RecursionError, MemoryError) as exc:
            issues = [f"the settings could not be checked ({type(exc).__name__})"]
        if not issues:
            issues = _node_problems(node, registry)
        issues += _execution_problems(node, spec, registry, state_storage)
        problems += [f"{node.describe()}: {issue}" for issue in issues]
    return by_id, specs


def _execution_problems(
    node: GraphNode, spec: NodeSpec, registry: NodeRegistry, state_storage: str | None
) -> list[str]:
    """Where the node asks to run, against what its class is (see the module docstring)."""
    execution = spec.with_execution(node.execution).execution
    on_cluster = execution.offload == "cluster"
    if not on_cluster and execution.parallelism == 1:
        return []
    problems = []
    if not on_cluster:
        problems.append(
            f"execution.parallelism is {execution.parallelism}, but it runs in the kernel "
            f"(execution.offload: {execution.offload}), where a node fires one firing at a "
            "time; set execution.offload to cluster (and run with a cluster executor such as "
            "DaskExecutor), or parallelism to 1"
        )
    node_class = _loaded_class(node, registry)
    if node_class is None:  # a spec alone, or a class that cannot load (reported already)
        return problems
    kind = _kind(node_class)
    if execution.parallelism > 1 and not issubclass(node_class, PureNode):
        problems.append(
            f"execution.parallelism is {execution.parallelism}, but {node.type_id} is "
            f"{kind}: each firing depends on the ones before it, so they run one at a time. "
            "Set parallelism to 1; only pure nodes fire in parallel"
        )
    if not on_cluster:
        return problems
    if issubclass(node_class, IONode):
        problems.append(
            f"it runs on the cluster (execution.offload: cluster), but {node.type_id} is "
            f"{kind}: sources and I/O nodes run in the kernel. Set execution.offload to auto"
        )
    if issubclass(node_class, StatefulNode) and state_storage not in (None, "redis"):
        problems.append(
            "it runs on the cluster (execution.offload: cluster) and keeps state: set the "
            f'graph\'s state storage to redis (config.stateStorage: {{"type": "redis", '
            f'"url": ...}}) so the workers can reach it; {state_storage} state stays in '
            "the kernel"
        )
    return problems


def _loaded_class(node: GraphNode, registry: NodeRegistry) -> type[DataFlowNode] | None:
    node_type = registry.get(node.type_id, node.version)
    if not node_type.has_class:
        return None
    try:
        return node_type.load()
    except Exception:  # noqa: BLE001 - reported by _node_problems with the settings checks
        return None


def _kind(node_class: type[DataFlowNode]) -> str:
    if issubclass(node_class, IONode):
        return "a source" if node_class.is_source() else "an I/O node"
    if issubclass(node_class, StatefulNode):
        return "a stateful node"
    return "a pure node" if issubclass(node_class, PureNode) else "a node"


def _node_problems(node: GraphNode, registry: NodeRegistry) -> list[str]:
    """What the node's own class refuses in its settings (``DataFlowNode.settings_problems``):
    the very checks its constructor makes when the graph runs."""
    node_type = registry.get(node.type_id, node.version)
    if not node_type.has_class:  # a spec registered alone: its documents are checked by spec
        return []
    try:
        node_class = node_type.load()
    except Exception as exc:  # noqa: BLE001 - a broken node pack is a problem of this node
        return [f"its node class cannot be loaded: {exc}"]
    prefix = f"settings of {node.type_id} {node.version} (node {node.id!r}): "
    return [
        problem.removeprefix(prefix)
        for problem in node_class.settings_problems(node.id, node.settings)
    ]


def _duplicate_ids(kind: str, ids: list[str]) -> list[str]:
    return [
        f"duplicate {kind} id {name!r}: used {count} times; {kind} ids must be unique"
        for name, count in Counter(ids).items()
        if count > 1
    ]


def _edge_problems(
    edge: GraphEdge, by_id: Mapping[str, GraphNode], specs: Mapping[str, NodeSpec]
) -> list[str]:
    where = f"edge {edge.id!r} ({edge.describe()})"
    problems = [
        f"{where}: {end} node {node_id!r} does not exist; nodes: {listing(list(by_id))}. "
        "Connect existing nodes or remove the edge"
        for end, node_id in (("source", edge.source), ("target", edge.target))
        if node_id not in by_id
    ]
    for name in ("filter", "transform"):
        text = getattr(edge, name)
        if text is not None and (problem := expression_problem(text)):
            problems.append(f"{where}: {name} {problem}")
    context = _EdgeContext(where, by_id, specs)
    output = _port(edge.source, edge.source_port, "output", context, problems)
    input_ = _port(edge.target, edge.target_port, "input", context, problems)
    if output is not None and input_ is not None:
        have, wanted = output.port_schema(), input_.port_schema()
        problems += [
            f"{where}: incompatible port types: output is {have.describe()}, input "
            f"expects {wanted.describe()}: {reason}"
            for reason in connection_problems(have, wanted)
        ]
    return problems


@dataclass(frozen=True, slots=True)
class _EdgeContext:
    where: str
    by_id: Mapping[str, GraphNode]
    specs: Mapping[str, NodeSpec]


def _port(
    node_id: str,
    name: str,
    side: Literal["input", "output"],
    context: _EdgeContext,
    problems: list[str],
) -> PortSpec | None:
    """The port; ``None`` when missing (a problem is added) or the node type is unknown."""
    spec = context.specs.get(node_id)
    if spec is None:  # unknown node or type: reported already
        return None
    found = spec.output(name) if side == "output" else spec.input(name)
    if found is None:
        ports = spec.ports.outputs if side == "output" else spec.ports.inputs
        names = ", ".join(p.name for p in ports) or "none"
        other = spec.input(name) if side == "output" else spec.output(name)
        hint = (
            f"; {name!r} is an {'input' if side == 'output' else 'output'}: edges run from an "
            "output to an input"
            if other is not None
            else ""
        )
        problems.append(
            f"{context.where}: {context.by_id[node_id].describe()} has no {side} port {name!r}; "
            f"its {side}s: {names}{hint}"
        )
    return found


def expression_problem(text: str) -> str | None:
    """Why the safe evaluator refuses ``text`` (the very check the runtime makes), or ``None``.

    Compiling parses and checks only; nothing is evaluated.
    """
    try:
        compile_expression(text)
    except ExpressionError as exc:
        return str(exc)
    return None


def _cycle_problems(node_ids: list[str], edges: Sequence[GraphEdge]) -> list[str]:
    pairs = [(edge.source, edge.target) for edge in edges]
    edge_of: dict[tuple[str, str], str] = {}
    for edge in edges:
        edge_of.setdefault((edge.source, edge.target), edge.id)
    problems = []
    for cycle in find_cycles(node_ids, pairs):
        via = ", ".join(edge_of[pair] for pair in itertools.pairwise(cycle))
        problems.append(
            f"cycle: {' -> '.join(cycle)} (edges {via}); a dataflow graph must be "
            "acyclic: remove one of these edges"
        )
    return problems


# -- one connection, as the canvas checks it ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a connection is refused: the canvas's own words, and what to do about it."""

    message: str
    hint: str


def connection_refusal(
    nodes: Sequence[GraphNode],
    edges: Sequence[GraphEdge],
    registry: NodeRegistry,
    link: tuple[str, str, str, str],
) -> Refusal | None:
    """Why the canvas would refuse to draw ``link`` (source, port, target, port), or ``None``.

    ``message`` is word for word what the canvas says (``connectionProblem`` in
    ``labextension/src/canvas/connections.ts``, its words in ``messages.ts``), checked in the
    same order: missing node, self-loop, unknown type, unknown port, repeated edge, then the
    port types (``types.connection_problems``, its first reason).
    ``tests/widget/test_connection_messages.py`` runs the TypeScript to hold the two equal.
    """
    source, source_port, target, target_port = link
    source_node = _find(nodes, source)
    target_node = _find(nodes, target)
    source_spec = _spec_of(source_node, registry)
    target_spec = _spec_of(target_node, registry)
    output = source_spec.output(source_port) if source_spec else None
    input_ = target_spec.input(target_port) if target_spec else None
    start = _endpoint(source_spec, source, source_port, output)
    end = _endpoint(target_spec, target, target_port, input_)

    def refuse(reason: str, hint: str) -> Refusal:
        return Refusal(f"Cannot connect {start} \u2192 {end}: {reason}", hint)

    if source_node is None or target_node is None:
        missing = source if source_node is None else target
        known = listing(list(dict.fromkeys(node.id for node in nodes)))
        return refuse(f"node {missing} is not in the graph", f"Nodes: {known}")
    if source == target:
        return refuse("a node cannot feed itself", "A dataflow graph must be acyclic")
    if source_spec is None or target_spec is None:
        node_id, node = (source, source_node) if source_spec is None else (target, target_node)
        return refuse(
            f"the type of node {node_id} is not in the catalog, so its ports are unknown",
            f"Install {node.type_id} {node.version}, or give the graph a registry that has it",
        )
    if output is None:
        return refuse(
            f"node {source} has no output port {source_port}",
            f"Its outputs: {_names(source_spec.ports.outputs)}",
        )
    if input_ is None:
        return refuse(
            f"node {target} has no input port {target_port}",
            f"Its inputs: {_names(target_spec.ports.inputs)}",
        )
    for edge in edges:
        if (edge.source, edge.source_port, edge.target, edge.target_port) == link:
            return refuse(
                "these two ports are already connected", f"Edge {edge.id!r} connects them"
            )
    reasons = connection_problems(output.port_schema(), input_.port_schema())
    if reasons:
        return refuse(
            reasons[0], "Connect ports whose types agree, or convert the value between them"
        )
    return None


def _find(nodes: Sequence[GraphNode], node_id: str) -> GraphNode | None:
    # Newest first: a graph being built connects the nodes it has just added.
    return next((node for node in reversed(nodes) if node.id == node_id), None)


def _spec_of(node: GraphNode | None, registry: NodeRegistry) -> NodeSpec | None:
    if node is None or not registry.has(node.type_id, node.version):
        return None
    return registry.spec(node.type_id, node.version)


def _endpoint(spec: NodeSpec | None, node_id: str, port: str, found: PortSpec | None) -> str:
    name = (spec.name or spec.id) if spec is not None else node_id
    return f"{name}.{port} ({found.type.value if found is not None else '?'})"


def _names(ports: Sequence[PortSpec]) -> str:
    return ", ".join(port.name for port in ports) or "none"
