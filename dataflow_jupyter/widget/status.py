"""StatusBoard: the run as the canvas sees it, from the runtime's events, coalesced.

The board subscribes to a ``GraphRuntime`` and keeps plain named data: the run state
(``idle``, ``running``, ``stepping``, ``done``, ``stopped``, ``failed``) and its message,
each node's state (``idle``, ``running``, ``done``, ``finished``, ``error``, ``breakpoint``)
and last error text, the node of the last debugger step (``debugAt``) and the breakpoints
with their conditions (``{node: condition or None}``). Counters are not copied from events:
a flush reads them from ``rt.stats`` (firings, received, emitted, errors = failures sent to
an ``error`` output or to the DLQ; per edge queued, delivered, dropped).

Failures are said as failures. A run that ends while a node is in ``error`` (or counted
errors) ends ``failed``, with a message naming those nodes, never ``done``; a run that
cannot start because of one node (``exc.node_id``, as the runtime's start errors carry)
marks that node ``error`` with the whole message, so the node shows it, not only the pill.
A run refused because the graph has problems (``refuse``) marks each node a problem names.
A source never fires, so no event says it runs: while a run goes on, a node still ``idle``
whose counters show packets emitted reads ``running``.

Runtime events (typed, ``runtime.events``) only change that data and ask for a flush, in
O(1); ``on_event`` is the one place where they are read, and ``error_message`` the one place
where a failure becomes a protocol message:

- ``NodeStatusChanged`` sets the node's state, ``NodeFinished`` sets it ``finished`` (the
  node reached end of stream); ``error`` is sticky until the next run, so one failure among
  100k packets stays visible on the node;
- ``NodeFailed`` sets the state and the error text, and sends ``node-execution-error`` at
  once, at most ``errors_per_second`` in any second (the others show in the node's
  ``errors`` counter only);
- ``DebugStepped`` moves ``debugAt``; kind ``breakpoint`` (the debugger stopped before a
  node with a breakpoint) sets that node's state, kind ``emit`` marks the source ``done``;
  index 1 means a new debugging session (one a cell opened with ``rt.debugger()`` too): node
  states start again from ``idle`` and the run state becomes ``stepping``;
- ``BreakpointChanged`` adds (with its condition) or removes a breakpoint (a cell's
  debugger may set them as well);
- ``RunStateChanged``: a run that begins while the board shows none (a cell's ``run()`` or
  ``start()``; the canvas's own Run has begun already) starts the board again from
  ``idle`` nodes; a run that ends while the board shows it ``running`` sets the run state
  (the editor's ``RunControl`` says the same once it has waited for the run, which then
  changes nothing);
- ``NodeMoved`` changes nothing: where a node runs is read from ``rt.stats`` at each flush
  (``cluster`` for a node whose firings run on the executor's cluster).

The Dask dashboard's link (``dashboard``) is read at each flush from the attached runtime's
executor (its ``dashboard_link``, set once a ``DaskExecutor`` has started its cluster;
``None`` for an executor without one), so the canvas links it as soon as the cluster is up.

Coalescing rule. A flush compares every node's and edge's status with what was last sent
and sends ONE ``node-status`` message holding only the entries that changed (plus ``run``,
``message``, ``debugAt``, ``breakpoints`` and ``dashboard``), nothing when nothing changed.
Flushes are at least ``interval`` (0.1 s) apart: a request that comes earlier is served by one
``loop.call_later`` timer, so however many packets flow there are at most ~10 messages a
second. The ``status`` trait (the full ``StatusSnapshot``) is set at most once per
``snapshot_interval`` (1 s), and at once on every run-state change and at the end of a run.
Without a running loop (a plain script) nothing is scheduled: the next request after the
interval flushes, by time check.

The clock and the loop are injected (``clock``, ``loop``), so the tests drive the rule with
a fake clock and a fake loop; the board never touches a widget, it calls its ``StatusSink``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol, cast

from dataflow_jupyter._aio import running_loop
from dataflow_jupyter.runtime.events import (
    BreakpointChanged,
    DebugStepped,
    NodeFailed,
    NodeFinished,
    NodeStatusChanged,
    RunStateChanged,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from dataflow_jupyter.runtime import GraphRuntime, Stats
    from dataflow_jupyter.runtime.events import RuntimeEvent
    from dataflow_jupyter.widget.protocol import (
        EdgeStatus,
        NodeExecutionErrorMessage,
        NodeState,
        NodeStatus,
        NodeStatusMessage,
        RunsOn,
        RunState,
        StatusSnapshot,
    )

__all__ = ["StatusBoard", "StatusSink", "TimerLoop", "error_message"]

_log = logging.getLogger("dataflow_jupyter.widget")
_ENDED: frozenset[RunState] = frozenset({"done", "stopped", "failed"})
_NAMED_NODE = re.compile(r"node '([^']+)'")


class StatusSink(Protocol):
    """Where the board's output goes (the editor: custom messages and the ``status`` trait)."""

    def send_status(self, message: NodeStatusMessage) -> None: ...

    def send_error(self, message: NodeExecutionErrorMessage) -> None: ...

    def set_snapshot(self, snapshot: StatusSnapshot) -> None: ...


class _Handle(Protocol):
    def cancel(self) -> None: ...


class TimerLoop(Protocol):
    """The part of an event loop the board uses."""

    def call_later(self, delay: float, callback: Callable[[], None], /) -> _Handle: ...


class StatusBoard:
    """Per-node and per-edge status of one editor's runs (see the module docstring)."""

    def __init__(
        self,
        sink: StatusSink,
        *,
        clock: Callable[[], float] = time.monotonic,
        loop: Callable[[], TimerLoop | None] = running_loop,
        interval: float = 0.1,
        snapshot_interval: float = 1.0,
        errors_per_second: int = 10,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._loop = loop
        self.interval = interval
        self.snapshot_interval = snapshot_interval
        self.errors_per_second = errors_per_second
        self.run: RunState = "idle"
        self.message: str | None = None
        self.debug_at: str | None = None
        self.breakpoints: dict[str, str | None] = {}
        self.states: dict[str, NodeState] = {}
        self.error_text: dict[str, str | None] = {}
        self.edge_ids: list[str] = []
        self.suppressed_errors = 0  # node-execution-error messages not sent (rate limit)
        self._runtime: GraphRuntime | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._sent_nodes: dict[str, NodeStatus] = {}
        self._sent_edges: dict[str, EdgeStatus] = {}
        self._sent_meta: tuple[Any, ...] | None = None
        self._snapshot: StatusSnapshot | None = None
        self._last_flush = -math.inf
        self._last_snapshot = -math.inf
        self._flush_timer: _Handle | None = None
        self._snapshot_timer: _Handle | None = None
        self._error_times: deque[float] = deque()

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, runtime: GraphRuntime) -> None:
        """Follow ``runtime``'s events from now on (and stop following the previous one)."""
        if runtime is self._runtime:
            return
        self.detach()
        self._runtime = runtime
        self._unsubscribe = runtime.subscribe(self.on_event)
        self.states = dict.fromkeys((node.id for node in runtime.graph.nodes), "idle")
        self.error_text = dict.fromkeys(self.states)
        self.edge_ids = [edge.id for edge in runtime.graph.edges]
        self.debug_at = None
        self.request_flush()

    def detach(self) -> None:
        """Stop following the runtime and cancel the timers."""
        if self._unsubscribe is not None:
            try:
                self._unsubscribe()
            except ValueError:  # already removed
                _log.debug("status board was not subscribed any more")
        self._unsubscribe = None
        self._runtime = None
        for timer in (self._flush_timer, self._snapshot_timer):
            if timer is not None:
                timer.cancel()
        self._flush_timer = self._snapshot_timer = None

    # -- run state -----------------------------------------------------------------------------

    def begin(self, run: RunState) -> None:
        """A new run or debugging session: every node starts again from ``idle``."""
        self._reset_nodes()
        self.message = None
        self.debug_at = None
        self.set_run(run)

    def set_run(self, run: RunState, message: str | None = None) -> None:
        """Change the run state (and its message); flushes at once, snapshot included."""
        if run == "done":
            failed = self.failed_nodes()
            if failed:
                run, message = "failed", _failed_message(failed)
        self.run = run
        self.message = message
        if run in _ENDED:
            self.debug_at = None  # nothing is paused any more
            emitted = {k: v["emitted"] for k, v in self.node_statuses().items()}
            for node_id, state in self.states.items():
                ran = run == "done" or emitted.get(node_id, 0) > 0
                if state in ("running", "breakpoint") or (state == "idle" and ran):
                    self.states[node_id] = "done"
        self.flush(snapshot=True)

    def fail(self, exc: BaseException) -> None:
        """End the run ``failed`` on ``exc``; the node it names (``exc.node_id``) shows it too."""
        text = f"{type(exc).__name__}: {exc}"
        node_id = getattr(exc, "node_id", None)
        if isinstance(node_id, str):  # a node the runtime could not even be made with, too
            self.states[node_id] = "error"
            self.error_text[node_id] = str(exc)
        self.set_run("failed", text)

    def refuse(self, problems: list[str]) -> None:
        """A run or step refused for ``problems``: each node a problem names shows it (the
        message ``node 'x' (type version): ...`` of ``Graph.problems``); the run state stays."""
        for problem in problems:
            named = _NAMED_NODE.match(problem)
            if named is not None:
                self.states[named.group(1)] = "error"
                self.error_text[named.group(1)] = problem
        count = len(problems)
        self.message = f"not run: {count} problem{'' if count == 1 else 's'}, listed on the canvas"
        self.flush(snapshot=True)

    def failed_nodes(self) -> dict[str, int]:
        """The nodes in ``error`` or with errors counted, and how many errors each had."""
        failed: dict[str, int] = {}
        for node_id, status in self.node_statuses().items():
            if status["status"] == "error" or status["errors"]:
                failed[node_id] = status["errors"]
        return failed

    def set_message(self, message: str | None) -> None:
        """Show ``message`` next to the run state (a hint such as "stop the run first")."""
        self.message = message
        self.request_flush()

    def set_breakpoint(self, node_id: str, *, enabled: bool, condition: str | None = None) -> None:
        """Add (with its ``condition``) or remove a breakpoint (shown in ``breakpoints``)."""
        if enabled:
            self.breakpoints[node_id] = condition or None
        else:
            self.breakpoints.pop(node_id, None)
        self.request_flush()

    def resend(self) -> None:
        """Send the run state and breakpoints again (a view showed a change the kernel refused)."""
        self._sent_meta = None
        self.request_flush()

    # -- events --------------------------------------------------------------------------------

    def on_event(self, event: RuntimeEvent) -> None:
        """Take one runtime event (the ``GraphRuntime.subscribe`` callback).

        The one place where the runtime's events become the canvas's state and messages.
        """
        match event:
            case NodeStatusChanged(node_id=node_id, status=status):
                if self.states.get(node_id) != "error":
                    self.states[node_id] = status
            case NodeFinished(node_id=node_id):
                if self.states.get(node_id) != "error":
                    self.states[node_id] = "finished"
            case RunStateChanged(state="running"):
                if self.run != "running":
                    self.begin("running")
                return
            case RunStateChanged(state=state, message=message):
                if self.run == "running":
                    self.set_run(state, message)
                return
            case NodeFailed(node_id=node_id, error=error):
                self.states[node_id] = "error"
                self.error_text[node_id] = error.message or None
                self._send_error(event)
            case DebugStepped(node_id=node_id, index=index, kind=kind):
                new_session = index == 1 and self.run != "stepping"
                if index == 1:
                    self._reset_nodes()
                self.debug_at = node_id
                if kind == "breakpoint":
                    self.states[node_id] = "breakpoint"
                elif kind == "emit" and self.states.get(node_id) != "error":
                    self.states[node_id] = "done"
                if new_session:  # a cell opened a debugger: a run-state change, said at once
                    self.set_run("stepping")
                    return
            case BreakpointChanged(node_id=node_id, enabled=enabled, condition=condition):
                self.set_breakpoint(node_id, enabled=enabled, condition=condition)
                return
            case _:  # NodeMoved: placements are read from rt.stats at each flush
                return
        self.request_flush()

    def _send_error(self, event: NodeFailed) -> None:
        now = self._clock()
        while self._error_times and now - self._error_times[0] >= 1.0:
            self._error_times.popleft()
        if len(self._error_times) >= self.errors_per_second:
            self.suppressed_errors += 1
            return
        self._error_times.append(now)
        self._sink.send_error(error_message(event))

    # -- flushing ------------------------------------------------------------------------------

    def request_flush(self) -> None:
        """Flush now if the last flush is ``interval`` old, else once the interval is over."""
        if self._flush_timer is not None:
            return  # one is on its way
        wait = self._last_flush + self.interval - self._clock()
        if wait <= 0:
            self.flush()
            return
        loop = self._loop()
        if loop is not None:
            self._flush_timer = loop.call_later(wait, self._flush_from_timer)

    def _flush_from_timer(self) -> None:
        self._flush_timer = None
        self.flush()

    def flush(self, *, snapshot: bool = False) -> None:
        """Send what changed since the last flush; set the snapshot when due (or ``snapshot``)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        now = self._clock()
        self._last_flush = now
        nodes, edges = self.node_statuses(), self.edge_statuses()
        changed_nodes = {k: v for k, v in nodes.items() if self._sent_nodes.get(k) != v}
        changed_edges = {k: v for k, v in edges.items() if self._sent_edges.get(k) != v}
        breakpoints = dict(sorted(self.breakpoints.items()))
        dashboard = self.dashboard()
        meta = (self.run, self.message, self.debug_at, breakpoints, dashboard)
        if changed_nodes or changed_edges or meta != self._sent_meta:
            message: NodeStatusMessage = {
                "type": "node-status",
                "run": self.run,
                "message": self.message,
                "nodes": changed_nodes,
                "edges": changed_edges,
                "debugAt": self.debug_at,
                "breakpoints": breakpoints,
                "dashboard": dashboard,
            }
            self._sent_nodes.update(changed_nodes)
            self._sent_edges.update(changed_edges)
            self._sent_meta = meta
            self._sink.send_status(message)
        self._offer_snapshot(self._make_snapshot(nodes, edges), now, force=snapshot)

    def _offer_snapshot(self, snapshot: StatusSnapshot, now: float, *, force: bool) -> None:
        if snapshot == self._snapshot:
            return
        wait = self._last_snapshot + self.snapshot_interval - now
        if force or wait <= 0:
            if self._snapshot_timer is not None:
                self._snapshot_timer.cancel()
                self._snapshot_timer = None
            self._snapshot = snapshot
            self._last_snapshot = now
            self._sink.set_snapshot(snapshot)
            return
        loop = self._loop()
        if self._snapshot_timer is None and loop is not None:
            self._snapshot_timer = loop.call_later(wait, self._snapshot_from_timer)

    def _snapshot_from_timer(self) -> None:
        self._snapshot_timer = None
        snapshot = self.snapshot()
        self._offer_snapshot(snapshot, self._clock(), force=True)

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self) -> StatusSnapshot:
        """The whole status as it stands now (what the ``status`` trait holds once set)."""
        return self._make_snapshot(self.node_statuses(), self.edge_statuses())

    def _make_snapshot(
        self, nodes: dict[str, NodeStatus], edges: dict[str, EdgeStatus]
    ) -> StatusSnapshot:
        return {
            "run": self.run,
            "message": self.message,
            "nodes": nodes,
            "edges": edges,
            "debugAt": self.debug_at,
            "breakpoints": dict(sorted(self.breakpoints.items())),
            "dashboard": self.dashboard(),
        }

    def dashboard(self) -> str | None:
        """The Dask dashboard's URL of the attached runtime's executor, if it has one."""
        executor = None if self._runtime is None else self._runtime.executor
        link = getattr(executor, "dashboard_link", None)
        return link if isinstance(link, str) and link else None

    def node_statuses(self) -> dict[str, NodeStatus]:
        """Each node's state, error text and counters (read from ``rt.stats`` now)."""
        stats = self._stats()
        out: dict[str, NodeStatus] = {}
        for node_id, state in self.states.items():
            status: NodeStatus = {
                "status": state,
                "firings": 0,
                "received": 0,
                "emitted": 0,
                "errors": 0,
                "error": self.error_text.get(node_id),
                "runsOn": "",
                "moves": 0,
            }
            if stats is not None:
                try:
                    counters = stats.node(node_id)
                except KeyError:
                    pass
                else:
                    status["firings"] = counters.firings
                    status["received"] = counters.received
                    status["emitted"] = counters.emitted
                    status["errors"] = counters.errors + counters.dead_lettered
                    status["runsOn"] = cast("RunsOn", counters.runs_on)
                    status["moves"] = counters.moves
                    if state == "idle" and self.run == "running" and counters.emitted:
                        status["status"] = "running"  # a source: it emits, it never fires
            out[node_id] = status
        return out

    def edge_statuses(self) -> dict[str, EdgeStatus]:
        """Each edge's counters (read from ``rt.stats`` now)."""
        stats = self._stats()
        out: dict[str, EdgeStatus] = {}
        for edge_id in self.edge_ids:
            status: EdgeStatus = {"queued": 0, "delivered": 0, "dropped": 0}
            if stats is not None:
                try:
                    counters = stats.edge(edge_id)
                except KeyError:
                    pass
                else:
                    status = {
                        "queued": counters.queued,
                        "delivered": counters.delivered,
                        "dropped": counters.dropped,
                    }
            out[edge_id] = status
        return out

    def _stats(self) -> Stats | None:
        if self._runtime is None:
            return None
        try:
            return self._runtime.stats
        except RuntimeError:  # nothing ran yet
            return None

    def _reset_nodes(self) -> None:
        for node_id in self.states:
            self.states[node_id] = "idle"
            self.error_text[node_id] = None
        self.debug_at = None


def _failed_message(failed: dict[str, int]) -> str:
    """``errors in 2 nodes: bad (3 errors), parse (1 error); see the nodes``."""
    shown = [
        f"{node_id} ({count} error{'' if count == 1 else 's'})" if count else node_id
        for node_id, count in sorted(failed.items())
    ]
    nodes = "1 node" if len(shown) == 1 else f"{len(shown)} nodes"
    return f"errors in {nodes}: {', '.join(shown)}; see the node for the message"


def error_message(event: NodeFailed) -> NodeExecutionErrorMessage:
    """The ``node-execution-error`` message that tells the canvas of ``event``."""
    error = event.error.to_dict()
    return {
        "type": "node-execution-error",
        "node": event.node_id,
        "error": json.loads(json.dumps(error, default=str)),  # details may hold anything
    }
