"""Graph: the ``.dfgraph.json`` artifact, its build API, validation and analysis.

The document (camelCase on disk, pretty-printed UTF-8, keys in the order below)::

    {"$schema": "...optional, for editors...",
     "id": "prices", "version": "1.0.0",
     "metadata": {"author": "", "createdAt": "2026-11-25T12:00:00+00:00",
                  "description": "", "tags": []},
     "config": {"maxConcurrency": 16, "stateStorage": {"type": "memory"}},
     "nodes": [{"id": "n1", "typeId": "http-poller", "version": "1.0.0",
                "settings": {"url": "..."}, "position": {"x": 0.0, "y": 0.0},
                "execution": {"offload": "cluster", "parallelism": 4}}],
     "edges": [{"id": "e1", "source": "n1", "sourcePort": "response",
                "target": "n2", "targetPort": "in",
                "transform": "value['price']", "filter": "value > 0",
                "buffer": {"size": 64, "overflow": "block"}}]}

``transform``, ``filter``, ``buffer``, ``createdAt``, ``$schema`` and a node's
``execution`` are optional and left out when unset. A node's ``execution`` overrides its
type's ``offload`` (``auto`` | ``thread`` | ``none`` | ``cluster``) and ``parallelism``
(1 to 1024) for this node only. ``stateStorage`` is ``{"type": "memory" | "file" | "redis", "path"?,
"url"?, "prefix"?}``; the string ``"memory"`` is read as ``{"type": "memory"}``. Ids of the
graph, its nodes and its edges match ``ID_PATTERN`` (a letter or ``_``, then letters,
digits, ``_`` or ``-``; at most 64). The graph's ``version`` is semver; a node's
``version`` is the exact installed version it was built against (versions are locked).

Two levels of checks, both raising ``GraphValidationError`` (a ``ValueError`` whose
``problems`` lists every problem, each naming the node, edge or field):

1. *shape*, on ``from_dict`` / ``load`` / the build API: JSON syntax (line and column),
   UTF-8, the types and keys above (unknown keys are refused), semver strings, ids,
   settings that are JSON values, a buffer ``size`` of at least 1 and an ``overflow``
   policy, and at most ``MAX_NODES`` nodes and ``MAX_EDGES`` edges.
2. *meaning*, on ``validate(registry)`` (``problems(registry)`` returns the list instead):
   unique node and edge ids; installed ``(typeId, version)`` (the message lists the
   installed versions); settings that fit the spec; edges whose nodes exist, whose ports
   exist (the message lists the node's ports) and whose port types may connect
   (``types.connection_problems``); no repeated edge between the same two ports; every
   required input connected; no cycle, self-loops included (``cycle: a -> b -> a``); edge
   ``filter`` / ``transform`` expressions that parse as Python expressions (parsed, never
   evaluated). When the shape is broken, the nodes that are well formed still get their
   type, version and settings checked (with a registry), so one reading lists both.

``analyze()`` never raises; it returns a frozen ``GraphAnalysis`` (topological order,
levels, weakly connected components, branches per source and the groups of independent
ones, the first cycle); its docstring defines each term.

The package's parts (private modules; import from ``dataflow_jupyter.graph``):

- ``_model``: the document as frozen pydantic models, its limits and id pattern.
- ``_document``: JSON text and files in and out, ``GraphValidationError`` and the problem
  lines that name the node, edge or key.
- ``_checks``: the meaning checks against a registry (level 2 above), collecting problems.
- ``_analysis``: pure functions over node ids and edge pairs (``GraphAnalysis``).
- ``_picture``: the static SVG a notebook shows, drawn from plain values.
- ``_graph``: the ``Graph`` class, the one place these meet; nothing else imports it.
"""

from dataflow_jupyter.graph._analysis import Branch, GraphAnalysis
from dataflow_jupyter.graph._document import (
    MAX_FILE_BYTES,
    GraphValidationError,
    graph_json_schema,
)
from dataflow_jupyter.graph._graph import GRAPH_MIME_TYPE, Graph
from dataflow_jupyter.graph._model import (
    EXTENSION,
    ID_PATTERN,
    MAX_EDGES,
    MAX_NODES,
    EdgeBuffer,
    GraphConfig,
    GraphEdge,
    GraphMetadata,
    GraphNode,
    GraphSchema,
    NodeExecution,
    Position,
    StateStorage,
)

__all__ = [
    "EXTENSION",
    "GRAPH_MIME_TYPE",
    "ID_PATTERN",
    "MAX_EDGES",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "Branch",
    "EdgeBuffer",
    "Graph",
    "GraphAnalysis",
    "GraphConfig",
    "GraphEdge",
    "GraphMetadata",
    "GraphNode",
    "GraphSchema",
    "GraphValidationError",
    "NodeExecution",
    "Position",
    "StateStorage",
    "graph_json_schema",
]
