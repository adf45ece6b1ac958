"""Testing helpers: build a node spec in a line, a registry of test nodes, run a node on packets.

For node-pack authors and for this project's own tests and benchmarks: one way to write the
three things every node test needs, on the real runtime (``GraphRuntime``), so a node under
test takes the very firing path it takes in a user's graph.

```python
from dataflow_jupyter import PureNode
from dataflow_jupyter.testing import node_registry, run_node, spec


class Double(PureNode):
    def process(self, inputs, ctx):
        return {"out": inputs["in"].value * 2}


double = (spec("double", ["in"], ["out"]), Double)
assert run_node(double, inputs={"in": [1, 2, 3]}) == {"out": [2, 4, 6]}

registry = node_registry(double)  # or: node_registry(double, include_builtin=True)
assert run_node("double", inputs={"in": [5]}, registry=registry) == {"out": [10]}
```

- ``spec(type_id, inputs, outputs, **fields)`` is a ``NodeSpec`` with ports given by name
  (or as the dicts of ``schema.json``); any other ``schema.json`` field is a keyword
  (``settings=[...]``, ``execution={...}``, ``version="2.0.0"``). ``INLINE`` is the
  ``execution`` block that fires a synchronous node inline (``offload: none``).
- ``node_registry(*nodes)`` is a ``NodeRegistry`` holding exactly the ``(spec, class)`` pairs
  given (no discovery; ``include_builtin=True`` adds the built-in nodes).
- ``run_node(node, inputs=..., settings=...)`` builds the graph ``feed -> node`` (one feeding
  source per input port, each emitting its list, values or ``DataPacket``s, one packet per
  entry and each a new trace), runs it to the end, closes the runtime and returns what the
  node emitted per output port, as lists of payloads. A run with errors raises
  ``NodeRunError`` (its ``errors`` are the ``ErrorPacket``s). It works on a registry of its
  own, so the registry passed in is never changed.

Modelled on bytewax's ``testing`` module: small, documented, built on the real thing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter.graph import Graph
from dataflow_jupyter.node import DataFlowNode, IONode
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.spec import NodeSpec

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from dataflow_jupyter.node import NodeContext
    from dataflow_jupyter.packets import ErrorPacket

__all__ = ["INLINE", "NodeRunError", "node_registry", "run_node", "spec"]

INLINE: Final[Mapping[str, Any]] = {"execution": {"offload": "none"}}
"""Spread into ``spec(...)`` (``spec("x", ["in"], ["out"], **INLINE)``): fire inline."""

NodeDef = tuple[NodeSpec, type[DataFlowNode]]
"""A node type given in code: its spec and its class."""

_NODE_ID: Final = "node"  # the id of the node under test in run_node's graph


class NodeRunError(RuntimeError):
    """``run_node``'s run ended with errors; ``errors`` holds every ``ErrorPacket``."""

    def __init__(self, message: str, errors: Sequence[ErrorPacket]) -> None:
        super().__init__(message)
        self.errors = list(errors)


def spec(
    type_id: str,
    inputs: Iterable[str | Mapping[str, Any]] = (),
    outputs: Iterable[str | Mapping[str, Any]] = (),
    *,
    version: str = "1.0.0",
    category: str = "Test",
    **fields: Any,
) -> NodeSpec:
    """A node spec in a line: ports by name (type ``any``) or as ``schema.json`` dicts.

    ``fields`` are any other ``schema.json`` keys (``settings``, ``execution``, ``name``...);
    the name defaults to the id. Validated like a ``schema.json`` (``NodeSpec``).
    """
    document: dict[str, Any] = {
        "id": type_id,
        "version": version,
        "category": category,
        "name": type_id,
        "ports": {"inputs": _ports(inputs), "outputs": _ports(outputs)},
        **fields,
    }
    return NodeSpec.model_validate(document)


def _ports(ports: Iterable[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": port} if isinstance(port, str) else dict(port) for port in ports]


def node_registry(*nodes: NodeDef, include_builtin: bool = False) -> NodeRegistry:
    """A registry of exactly ``nodes`` (``(spec, class)`` pairs), plus the built-in nodes
    when ``include_builtin``; nothing is discovered from the environment or the disk."""
    registry = NodeRegistry(include_builtin=include_builtin)
    for node_spec, node_class in nodes:
        registry.register(node_spec, node_class)
    return registry


def run_node(
    node: str | NodeDef,
    inputs: Mapping[str, Sequence[Any]] | None = None,
    settings: Mapping[str, Any] | None = None,
    *,
    registry: NodeRegistry | None = None,
    version: str | None = None,
    **options: Any,
) -> dict[str, list[Any]]:
    """Run one node on ``inputs`` (per port, a list of values or ``DataPacket``s) and return
    its outputs per port (lists of payloads, in emission order; ``[]`` for a silent port).

    ``node`` is a ``(spec, class)`` pair, or a type id looked up in ``registry`` (the
    built-in nodes when none), in ``version`` (else the newest). ``settings`` are the node's
    settings; ``options`` go to ``GraphRuntime`` (``state=``, ``data_root=``...). The node
    fires on the real runtime: ports, types, settings and its ``execution`` block apply.
    """
    node_spec, node_class = _resolve(node, registry, version)
    run_registry = node_registry((node_spec, node_class))
    graph = Graph(id="run-node", registry=run_registry)
    graph.add_node(node_spec.id, node_spec.version, settings=settings or {}, id=_NODE_ID)
    for index, (port, items) in enumerate((inputs or {}).items()):
        feed = spec(f"testing-feed-{index}", [], ["out"])
        run_registry.register(feed, _feeder(items))
        source = graph.add_node(feed.id, id=f"feed{index}")
        graph.connect(source, "out", _NODE_ID, port)
    runtime = GraphRuntime(graph, run_registry, **options)
    try:
        result = runtime.run()
    finally:
        runtime.close()
    if result.errors:
        first = result.errors[0]
        msg = (
            f"node {node_spec.id!r} {node_spec.version} failed {len(result.errors)} time(s); "
            f"first: {first.code}: {first.message}. The ErrorPackets are on this "
            "exception's `errors`"
        )
        raise NodeRunError(msg, result.errors)
    outputs = result.outputs
    return {
        port.name: outputs.get(f"{_NODE_ID}.{port.name}", []) for port in node_spec.ports.outputs
    }


def _resolve(node: str | NodeDef, registry: NodeRegistry | None, version: str | None) -> NodeDef:
    """The spec and class of the node under test."""
    if not isinstance(node, str):
        return node
    found = registry or NodeRegistry()
    node_type = found.get(node, version) if version is not None else found.latest(node)
    return node_type.spec, node_type.load()


def _feeder(items: Sequence[Any]) -> type[IONode]:
    """A source class that emits ``items`` in order, each a new trace."""

    class Feed(IONode):
        async def run(self, ctx: NodeContext) -> None:
            for item in items:
                await ctx.emit("out", item)

    return Feed
