"""The ``Graph`` class: a ``.dfgraph.json`` document you build, read, write, check and show.

A ``Graph`` holds frozen ``GraphNode`` and ``GraphEdge`` values (``_model``) in insertion
order, with the graph's id, version, metadata and config. It is the one place the parts
meet: documents are read and written by ``_document``, checked by ``_checks``, analysed by
``_analysis`` and drawn by ``_picture``, each from plain values handed in here.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from dataflow_jupyter.graph._analysis import GraphAnalysis, analyze
from dataflow_jupyter.graph._checks import connection_refusal, graph_problems, node_problems
from dataflow_jupyter.graph._document import (
    GraphValidationError,
    check_size,
    format_json,
    kind_of,
    listing,
    make_model,
    parse_json,
    read_file,
    shape_problems,
    well_formed_nodes,
    write_file,
)
from dataflow_jupyter.graph._model import (
    EdgeBuffer,
    GraphConfig,
    GraphEdge,
    GraphMetadata,
    GraphNode,
    GraphSchema,
    NodeExecution,
    Position,
)
from dataflow_jupyter.graph._picture import graph_svg
from dataflow_jupyter.registry import NodeRegistry

if TYPE_CHECKING:
    import os

GRAPH_MIME_TYPE = "application/vnd.dataflow.graph+json"
_log = logging.getLogger("dataflow_jupyter.graph")

__all__ = ["GRAPH_MIME_TYPE", "Graph"]


class Graph:
    """A dataflow graph you build in Python, load from and save to ``.dfgraph.json``.

    Node and edge descriptions are frozen values (``GraphNode``, ``GraphEdge``); the graph
    holds them in insertion order and replaces them when you change them.
    """

    def __init__(
        self,
        id: str = "graph",
        *,
        version: str = "1.0.0",
        metadata: GraphMetadata | None = None,
        config: GraphConfig | None = None,
        registry: NodeRegistry | None = None,
    ) -> None:
        if metadata is None:
            now = datetime.now(UTC).replace(microsecond=0).isoformat()
            metadata = GraphMetadata.model_validate({"createdAt": now})
        self.id = id
        self.version = version
        self.metadata = metadata
        self.config = GraphConfig() if config is None else config
        self.registry = registry
        self.schema_uri: str | None = None
        self.source: str | None = None
        # The folder of the file it was loaded from: the default data root of its runs.
        self.folder: Path | None = None
        self._nodes: list[GraphNode] = []
        self._edges: list[GraphEdge] = []
        self._node_ids: Counter[str] = Counter()
        self._edge_ids: Counter[str] = Counter()
        self._counters = {"n": 0, "e": 0}
        self._default_registry: NodeRegistry | None = None
        self.to_schema()  # checks id and version now

    def __repr__(self) -> str:
        size = f"{len(self._nodes)} nodes, {len(self._edges)} edges"
        return f"<Graph {self.id!r} {self.version}: {size}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """How a notebook shows the graph: its document, an SVG picture and ``repr``.

        The picture is what GitHub, nbviewer and a JupyterLab without a kernel show, so a
        shared notebook still shows its graphs (``_picture``).
        """
        bundle: dict[str, Any] = {"text/plain": repr(self), GRAPH_MIME_TYPE: self.to_dict()}
        try:
            bundle["image/svg+xml"] = graph_svg(
                self.id, self.nodes, self.edges, self.analyze().levels, self._registry_for(None)
            )
        except Exception:  # noqa: BLE001 - a picture that fails leaves the text, never an error
            _log.exception("could not draw graph %r", self.id)
        return bundle

    @property
    def nodes(self) -> tuple[GraphNode, ...]:
        """The nodes, in insertion order."""
        return tuple(self._nodes)

    @property
    def edges(self) -> tuple[GraphEdge, ...]:
        """The edges, in insertion order."""
        return tuple(self._edges)

    def node(self, node_id: str) -> GraphNode:
        """The node called ``node_id``; ``KeyError`` if there is none."""
        for node in self._nodes:
            if node.id == node_id:
                return node
        msg = f"graph {self.id!r} has no node {node_id!r}; nodes: {listing(self._node_ids)}"
        raise KeyError(msg)

    def edge(self, edge_id: str) -> GraphEdge:
        """The edge called ``edge_id``; ``KeyError`` if there is none."""
        for edge in self._edges:
            if edge.id == edge_id:
                return edge
        msg = f"graph {self.id!r} has no edge {edge_id!r}; edges: {listing(self._edge_ids)}"
        raise KeyError(msg)

    # -- building -----------------------------------------------------------------------------

    def add_node(
        self,
        type_id: str,
        version: str | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        position: tuple[float, float] | Position | Mapping[str, float] = (0.0, 0.0),
        id: str | None = None,
        registry: NodeRegistry | None = None,
        execution: NodeExecution | Mapping[str, Any] | None = None,
    ) -> str:
        """Add a node and return its id (``n1``, ``n2``, ... unless ``id`` is given).

        Without ``version`` the newest installed version is locked in, looked up in
        ``registry``, else the graph's registry, else ``NodeRegistry.default()``; an unknown
        type then raises ``UnknownNodeError``. Settings and ports are checked by ``validate``.
        ``execution`` overrides the node type's ``offload`` and ``parallelism`` for this
        node (``{"offload": "cluster", "parallelism": 4}``); ``validate`` checks that the
        node may run so.
        """
        if version is None:
            version = self._registry_for(registry).latest(type_id).spec.version
        if id is not None and id in self._node_ids:
            msg = f"add_node: node id {id!r} is already used; pass another id or id=None"
            raise GraphValidationError([msg])
        check_size(len(self._nodes) + 1, len(self._edges))
        if not isinstance(position, Position):
            position = _position(position)
        node = make_model(
            GraphNode,
            {
                "id": self._new_id("n") if id is None else id,
                "typeId": type_id,
                "version": version,
                "settings": {} if settings is None else settings,
                "position": position,
                "execution": execution,
            },
            f"add_node({type_id!r})",
        )
        self._nodes.append(node)
        self._node_ids[node.id] += 1
        return node.id

    def update_node(
        self,
        node_id: str,
        *,
        version: str | None = None,
        settings: Mapping[str, Any] | None = None,
        position: tuple[float, float] | Position | Mapping[str, float] | None = None,
        execution: NodeExecution | Mapping[str, Any] | None = None,
    ) -> GraphNode:
        """Replace a node's version, settings (all of them), position or execution override
        (all of it: ``execution={}`` removes the override); return the new value."""
        old = self.node(node_id)
        data = old.model_dump(by_alias=True)
        if execution is not None:
            data["execution"] = execution
        if version is not None:
            data["version"] = version
        if settings is not None:
            data["settings"] = settings
        if position is not None:
            data["position"] = position if isinstance(position, Position) else _position(position)
        new = make_model(GraphNode, data, f"update_node({node_id!r})")
        self._nodes = [new if node is old else node for node in self._nodes]
        return new

    def connect(
        self,
        source: str,
        source_port: str,
        target: str | None = None,
        target_port: str | None = None,
        *,
        transform: str | None = None,
        filter: str | None = None,
        buffer: EdgeBuffer | Mapping[str, Any] | int | None = None,
        id: str | None = None,
        force: bool = False,
    ) -> str:
        """Connect an output to an input and return the edge id (``e1``, ``e2``, ...).

        ``connect("n1", "response", "n2", "in")`` or ``connect("n1.response", "n2.in")``.
        ``buffer`` is an ``EdgeBuffer``, a dict, or just a size.

        The connection is checked at once, as the canvas checks one, against the graph's
        registry (without one, ``NodeRegistry.default()``, the registry ``add_node`` locks
        versions from): a port the node type does not have, port types that may not connect,
        a node feeding itself, a repeated edge, or a node whose type the registry does not
        know raise ``GraphValidationError`` whose message starts with the canvas's words
        (``Cannot connect Inject.out (any) → Debug Log.nope (?): node n2 has no input port
        nope``) and ends with a hint. ``force=True`` records the edge anyway, for a graph you
        mean to repair: ``validate`` reports it until then, and the canvas draws it as invalid.
        """
        if target is None and target_port is None:
            (source, source_port), (target, target_port) = _end(source), _end(source_port)
        elif target is None or target_port is None:
            msg = "connect takes (source, source_port, target, target_port) or ('a.out', 'b.in')"
            raise TypeError(msg)
        missing = [n for n in (source, target) if n not in self._node_ids]
        if missing:
            msg = (
                f"connect: no node {missing[0]!r} in graph {self.id!r}; nodes: "
                f"{listing(self._node_ids)}. Add it first with add_node(...)"
            )
            raise GraphValidationError([msg])
        if id is not None and id in self._edge_ids:
            msg = f"connect: edge id {id!r} is already used; pass another id or id=None"
            raise GraphValidationError([msg])
        if not force:
            link = (source, source_port, target, target_port)
            refusal = connection_refusal(self._nodes, self._edges, self._registry_for(None), link)
            if refusal is not None:
                msg = (
                    f"{refusal.message}. {refusal.hint}; or pass force=True to record the edge "
                    "anyway (validate() reports it until it is repaired)"
                )
                raise GraphValidationError([msg])
        check_size(len(self._nodes), len(self._edges) + 1)
        if isinstance(buffer, int):
            buffer = {"size": buffer}
        edge = make_model(
            GraphEdge,
            {
                "id": self._new_id("e") if id is None else id,
                "source": source,
                "sourcePort": source_port,
                "target": target,
                "targetPort": target_port,
                "transform": transform,
                "filter": filter,
                "buffer": buffer,
            },
            f"connect({source!r}, {source_port!r}, {target!r}, {target_port!r})",
        )
        self._edges.append(edge)
        self._edge_ids[edge.id] += 1
        return edge.id

    def remove_node(self, node_id: str) -> list[str]:
        """Remove a node and every edge touching it; return the removed edges' ids."""
        self.node(node_id)
        removed = [e.id for e in self._edges if node_id in (e.source, e.target)]
        self._nodes = [node for node in self._nodes if node.id != node_id]
        self._edges = [edge for edge in self._edges if node_id not in (edge.source, edge.target)]
        del self._node_ids[node_id]
        self._edge_ids.subtract(removed)
        self._edge_ids = +self._edge_ids
        return removed

    def remove_edge(self, edge_id: str) -> None:
        """Remove an edge."""
        self.edge(edge_id)
        self._edges = [edge for edge in self._edges if edge.id != edge_id]
        del self._edge_ids[edge_id]

    def _new_id(self, prefix: Literal["n", "e"]) -> str:
        used = self._node_ids if prefix == "n" else self._edge_ids
        while True:
            self._counters[prefix] += 1
            candidate = f"{prefix}{self._counters[prefix]}"
            if candidate not in used:
                return candidate

    def _registry_for(self, registry: NodeRegistry | None) -> NodeRegistry:
        if registry is not None:
            return registry
        if self.registry is not None:
            return self.registry
        if self._default_registry is None:
            self._default_registry = NodeRegistry.default()
        return self._default_registry

    # -- documents ----------------------------------------------------------------------------

    def to_schema(self) -> GraphSchema:
        """The graph as a ``GraphSchema`` value (raises ``GraphValidationError`` on bad shape)."""
        data = {
            "$schema": self.schema_uri,
            "id": self.id,
            "version": self.version,
            "metadata": self.metadata,
            "config": self.config,
            "nodes": tuple(self._nodes),
            "edges": tuple(self._edges),
        }
        return make_model(GraphSchema, data)

    @classmethod
    def from_schema(cls, schema: GraphSchema, *, registry: NodeRegistry | None = None) -> Graph:
        """A graph holding the nodes and edges of ``schema``."""
        graph = cls(
            schema.id,
            version=schema.version,
            metadata=schema.metadata,
            config=schema.config,
            registry=registry,
        )
        graph.schema_uri = schema.schema_uri
        graph._nodes = list(schema.nodes)
        graph._edges = list(schema.edges)
        graph._node_ids = Counter(node.id for node in schema.nodes)
        graph._edge_ids = Counter(edge.id for edge in schema.edges)
        return graph

    def to_dict(self) -> dict[str, Any]:
        """The ``.dfgraph.json`` document as a dict (camelCase keys, unset options left out)."""
        return self.to_schema().model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_dict(
        cls, data: Any, *, registry: NodeRegistry | None = None, source: str | None = None
    ) -> Graph:
        """Read a document; any malformed input raises ``GraphValidationError``."""
        if not isinstance(data, Mapping):
            msg = (
                f"a graph document is a JSON object with 'id', 'version', 'nodes' and "
                f"'edges'; got {kind_of(data)}"
            )
            raise GraphValidationError([msg], source=source)
        nodes, edges = data.get("nodes"), data.get("edges")
        check_size(
            len(nodes) if isinstance(nodes, list | tuple) else 0,
            len(edges) if isinstance(edges, list | tuple) else 0,
            source,
        )
        try:
            schema = GraphSchema.model_validate(dict(data))
        except ValidationError as exc:
            problems = shape_problems(exc, data)
            if registry is not None:  # the nodes that are well formed are checked all the same
                problems += node_problems(well_formed_nodes(nodes), registry)  # config unread
            raise GraphValidationError(problems, source=source) from None
        except (RecursionError, MemoryError):
            msg = "the document is nested too deeply to read"
            raise GraphValidationError([msg], source=source) from None
        graph = cls.from_schema(schema, registry=registry)
        graph.source = source
        return graph

    def to_json(self) -> str:
        """The document as pretty-printed JSON text (what ``save`` writes)."""
        return format_json(self.to_dict())

    @classmethod
    def from_json(
        cls, text: str | bytes, *, registry: NodeRegistry | None = None, source: str | None = None
    ) -> Graph:
        """Read a document from JSON text or UTF-8 bytes."""
        return cls.from_dict(parse_json(text, source), registry=registry, source=source)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the document to ``path`` (UTF-8, atomically replaced); return the path."""
        return write_file(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, registry: NodeRegistry | None = None) -> Graph:
        """Read a ``.dfgraph.json`` file; any problem raises ``GraphValidationError``.

        Only a regular file is read (a FIFO or device is refused before it is opened), and at
        most ``MAX_FILE_BYTES``. The graph's ``folder`` becomes its runs' default data root.
        """
        graph = cls.from_json(read_file(path), registry=registry, source=str(path))
        graph.folder = Path(path).absolute().parent
        return graph

    # -- checking -----------------------------------------------------------------------------

    def node_problems(self, registry: NodeRegistry | None = None) -> dict[str, list[str]]:
        """Each node's own problems (an unknown type or version, settings its spec or its
        class refuses), by node id, each without the node's name in front; nodes without any
        are left out. The canvas marks nodes with these while settings are edited."""
        known = self._registry_for(registry)
        found: dict[str, list[str]] = {}
        for node in self._nodes:
            prefix = f"{node.describe()}: "  # the node is the key: its name is said once
            found_here = node_problems([node], known, state_storage=self._state_storage)
            problems = [p.removeprefix(prefix) for p in found_here]
            if problems:
                found[node.id] = problems
        return found

    def problems(self, registry: NodeRegistry | None = None) -> list[str]:
        """Every problem ``validate`` would report, as a list (empty when the graph is valid)."""
        try:
            self.to_schema()
        except GraphValidationError as exc:
            return exc.problems
        return graph_problems(
            self._nodes,
            self._edges,
            self._registry_for(registry),
            state_storage=self._state_storage,
        )

    @property
    def _state_storage(self) -> str:
        return self.config.state_storage.type

    def validate(self, registry: NodeRegistry | None = None) -> None:
        """Raise ``GraphValidationError`` listing every problem; see the module docstring."""
        problems = self.problems(registry)
        if problems:
            where = repr(self.id) + (f" ({self.source})" if self.source else "")
            raise GraphValidationError(problems, source=where)

    def analyze(self) -> GraphAnalysis:
        """Order, levels, components, branches and cycle; never raises (see GraphAnalysis)."""
        ids = list(dict.fromkeys(node.id for node in self._nodes))
        return analyze(ids, [(e.source, e.target) for e in self._edges])


def _position(value: Any) -> Any:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, tuple | list) and len(value) == 2:
        return {"x": value[0], "y": value[1]}
    msg = f"position is (x, y) or {{'x': ..., 'y': ...}}; got {kind_of(value)}"
    raise GraphValidationError([msg])


def _end(text: str) -> tuple[str, str]:
    node, dot, port = text.partition(".") if isinstance(text, str) else ("", "", "")
    if not (node and dot and port):
        msg = f"{text!r:.80} is not 'node.port' (such as 'n1.out')"
        raise GraphValidationError([msg])
    return node, port
