"""The widget protocol, kernel side (``docs/design.md`` §5).

``labextension/src/protocol.ts`` is the front-end side; ``tests/widget/test_protocol.py``
checks that both name the same message types with the same fields.

Three traits carry state: ``graph`` (the whole GraphSchema document, written by the canvas
when a drag stops or a structural edit ends, and by Python), ``catalog`` (the registry's node
specs plus the port-type connection rules) and ``status`` (a snapshot of the run, at most
once a second and whenever the run state changes). Custom messages, each ``{"type": ...}``,
carry everything else; binary payloads travel in the message's buffers, never as JSON.

Front end -> kernel: ``deploy-graph``, ``run``, ``stop``, ``step``, ``set-breakpoint``,
``inspect``, ``load-layout-engine``. Kernel -> front end: ``node-status`` (changes only, at
most ~10 a second), ``node-execution-error``, ``inspect-result`` (an Arrow IPC stream in
``buffers[0]``), ``deploy-result``, ``graph-problems`` (each node's own problems, after
every change of the graph: the canvas marks the nodes and its settings form says "Applied"
only for settings the node accepts), ``layout-engine`` (elkjs's worker source in
``buffers[0]``).
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict

__all__ = [
    "FRONTEND_MESSAGES",
    "KERNEL_MESSAGES",
    "DeployGraphMessage",
    "DeployResultMessage",
    "EdgeStatus",
    "GraphProblemsMessage",
    "InspectMessage",
    "InspectResultMessage",
    "LayoutEngineMessage",
    "LoadLayoutEngineMessage",
    "NodeExecutionErrorMessage",
    "NodeState",
    "NodeStatus",
    "NodeStatusMessage",
    "RunMessage",
    "RunState",
    "RunsOn",
    "SetBreakpointMessage",
    "StatusSnapshot",
    "StepMessage",
    "StopMessage",
]

RunState = Literal["idle", "running", "stepping", "done", "stopped", "failed"]
NodeState = Literal["idle", "running", "done", "finished", "error", "breakpoint"]
# Where a node's firings run (``Stats.node(id).runs_on``; "" before a run): the canvas shows
# ``thread`` for worker, ``inline``, and ``cluster`` for a node on the executor's cluster.
RunsOn = Literal["", "inline", "worker", "loop", "cluster"]


# -- shared shapes -------------------------------------------------------------------------------


class NodeStatus(TypedDict):
    status: NodeState
    firings: int
    received: int
    emitted: int
    errors: int
    error: str | None  # the message of the node's last error, shown on the node
    runsOn: RunsOn  # where its firings run
    moves: int  # how often the placement rule moved it


class EdgeStatus(TypedDict):
    queued: int
    delivered: int
    dropped: int


class StatusSnapshot(TypedDict):
    """The ``status`` trait: the whole run as it stands."""

    run: RunState
    message: str | None
    nodes: dict[str, NodeStatus]
    edges: dict[str, EdgeStatus]
    debugAt: str | None  # JSON field name, camelCase as in protocol.ts
    breakpoints: dict[str, str | None]  # node id -> its condition (None: always stop)
    dashboard: str | None  # the Dask dashboard's URL while the executor has a cluster


# -- front end -> kernel -------------------------------------------------------------------------


class DeployGraphMessage(TypedDict):
    type: Literal["deploy-graph"]
    graph: dict[str, Any]


class RunMessage(TypedDict):
    type: Literal["run"]


class StopMessage(TypedDict):
    type: Literal["stop"]


class StepMessage(TypedDict):
    type: Literal["step"]


class SetBreakpointMessage(TypedDict):
    """Set (``enabled``) or clear a breakpoint; ``condition`` is an expression on the input."""

    type: Literal["set-breakpoint"]
    node: str
    enabled: bool
    condition: str | None


class InspectMessage(TypedDict):
    """An output port (``node`` + ``port``) or an edge (read at its target's input port)."""

    type: Literal["inspect"]
    request: int
    node: str | None
    port: str | None
    edge: str | None
    offset: int
    limit: int


class LoadLayoutEngineMessage(TypedDict):
    type: Literal["load-layout-engine"]


# -- kernel -> front end -------------------------------------------------------------------------


class NodeStatusMessage(StatusSnapshot):
    """A snapshot holding only the nodes and edges that changed since the last one."""

    type: Literal["node-status"]


class NodeExecutionErrorMessage(TypedDict):
    type: Literal["node-execution-error"]
    node: str
    error: dict[str, Any]  # ErrorPacket.to_dict()


class InspectResultMessage(TypedDict):
    type: Literal["inspect-result"]
    request: int
    where: str
    offset: int
    total: int
    error: str | None


class DeployResultMessage(TypedDict):
    type: Literal["deploy-result"]
    ok: bool
    problems: list[str]


class GraphProblemsMessage(TypedDict):
    type: Literal["graph-problems"]
    nodes: dict[str, list[str]]


class LayoutEngineMessage(TypedDict):
    type: Literal["layout-engine"]


FRONTEND_MESSAGES: Final[dict[str, type]] = {
    "deploy-graph": DeployGraphMessage,
    "run": RunMessage,
    "stop": StopMessage,
    "step": StepMessage,
    "set-breakpoint": SetBreakpointMessage,
    "inspect": InspectMessage,
    "load-layout-engine": LoadLayoutEngineMessage,
}

KERNEL_MESSAGES: Final[dict[str, type]] = {
    "node-status": NodeStatusMessage,
    "node-execution-error": NodeExecutionErrorMessage,
    "inspect-result": InspectResultMessage,
    "deploy-result": DeployResultMessage,
    "graph-problems": GraphProblemsMessage,
    "layout-engine": LayoutEngineMessage,
}
