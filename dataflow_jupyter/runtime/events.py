"""Runtime events: what a run tells its subscribers, as typed values.

``GraphRuntime.subscribe(callback)`` calls ``callback`` with each event below, in the order
they happen, on the loop's thread. The runtime speaks only of nodes, placements, breakpoints
and steps; how a subscriber shows them is its own business (the canvas widget's
``widget.status.StatusBoard`` turns them into its protocol messages, in one place).

Events (all frozen, slotted dataclasses; ``node_id`` is the graph node's id):

- ``NodeStatusChanged(node_id, status)``: a node's state changed. ``running``: a firing (or
  a batch of them, or an end-of-stream hook) began; ``done``: it ended without an error;
  ``error``: it ended with one (a ``NodeFailed`` came first). Produced by ``runtime._firing``
  (every firing path but the dispatcher's hot batches, which run only while nobody
  subscribes).
- ``NodeFinished(node_id)``: the node reached end of stream: its hooks ran and its outputs
  are closed. Produced by ``runtime._session``.
- ``NodeFailed(node_id, error)``: a firing failed for good (after its retries) with the
  ``ErrorPacket`` ``error``; it then goes to the node's ``error`` output or the dead-letter
  queue. Produced by ``runtime._firing``.
- ``NodeMoved(node_id, runs_on, reason)``: the placement rule moved the node's firings
  (``inline``, ``worker``, ``loop``...; see ``runtime._placement``), for ``reason``. Produced
  by ``runtime._firing``. The canvas reads placements from ``rt.stats`` instead.
- ``DebugStepped(node_id, index, kind)``: the debugger took step ``index`` (1 is the first
  of a debugging session) at ``node_id``; ``kind`` is the ``Step``'s: ``firing``, ``emit``
  (a source's emission), ``finish`` (an end-of-stream hook) or ``breakpoint`` (stopped
  before the node fires). Produced by ``runtime.debugger``.
- ``BreakpointChanged(node_id, enabled, condition)``: a debugger's breakpoint was added
  (``enabled``, with its ``condition`` expression or ``None``: always stop) or removed.
  Produced by ``runtime.debugger``.

- ``RunStateChanged(state, message)``: a run (``run()``, ``run_async()``, ``start()``)
  began (``running``, once every node is set up) or ended: ``done`` (every node finished;
  failed packets are in the dead-letter queue), ``stopped`` (``stop()``) or ``failed`` (the
  run raised: ``message`` says what). Produced by ``runtime.scheduler``. A debugger's steps
  are ``DebugStepped`` events instead.

Cost. Events are made only when somebody subscribed: the producers hold ``publish`` as
``None`` otherwise and check it before building an event, and the dispatcher's hot path
(``Firings.drain_inline``'s batches) runs only while ``publish`` is ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from dataflow_jupyter.packets import ErrorPacket

__all__ = [
    "BreakpointChanged",
    "DebugStepped",
    "NodeFailed",
    "NodeFinished",
    "NodeMoved",
    "NodeStatus",
    "NodeStatusChanged",
    "Publish",
    "RunStateChanged",
    "RunStatus",
    "RuntimeEvent",
    "StepKind",
]

NodeStatus = Literal["running", "done", "error"]
StepKind = Literal["firing", "emit", "finish", "breakpoint"]
RunStatus = Literal["running", "done", "stopped", "failed"]


@dataclass(frozen=True, slots=True)
class NodeStatusChanged:
    """A node's firing began (``running``) or ended (``done``, ``error``)."""

    node_id: str
    status: NodeStatus


@dataclass(frozen=True, slots=True)
class NodeFinished:
    """``node_id`` reached end of stream (its hooks ran, its outputs are closed)."""

    node_id: str


@dataclass(frozen=True, slots=True)
class RunStateChanged:
    """A run began (``running``) or ended (``done``, ``stopped``, ``failed``: ``message``)."""

    state: RunStatus
    message: str | None = None


@dataclass(frozen=True, slots=True)
class NodeFailed:
    """A firing of ``node_id`` failed for good with ``error`` (after its retries)."""

    node_id: str
    error: ErrorPacket


@dataclass(frozen=True, slots=True)
class NodeMoved:
    """The placement rule moved ``node_id``'s firings to ``runs_on`` for ``reason``."""

    node_id: str
    runs_on: str
    reason: str


@dataclass(frozen=True, slots=True)
class DebugStepped:
    """The debugger took step ``index`` (1: a new session) of ``kind`` at ``node_id``."""

    node_id: str
    index: int
    kind: StepKind


@dataclass(frozen=True, slots=True)
class BreakpointChanged:
    """A breakpoint on ``node_id`` was added (``enabled``, with ``condition``) or removed."""

    node_id: str
    enabled: bool
    condition: str | None = None


RuntimeEvent: TypeAlias = (
    NodeStatusChanged
    | NodeFinished
    | NodeFailed
    | NodeMoved
    | DebugStepped
    | BreakpointChanged
    | RunStateChanged
)
Publish: TypeAlias = Callable[[RuntimeEvent], None]
