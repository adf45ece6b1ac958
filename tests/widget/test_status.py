"""StatusBoard: coalescing, rate limits and node states, with a fake clock and a fake loop."""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Any

from dataflow_jupyter import ErrorCode, ErrorPacket, Graph, GraphEditor, NodeRegistry
from dataflow_jupyter.executors import LocalExecutor
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.runtime.events import (
    BreakpointChanged,
    DebugStepped,
    NodeFailed,
    NodeMoved,
    NodeStatusChanged,
)
from dataflow_jupyter.widget.status import StatusBoard, error_message


class FakeLoop:
    """A clock and ``call_later``: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, Any]] = []
        self._ids = itertools.count()

    def clock(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Any) -> Any:
        entry = [True]
        heapq.heappush(self._timers, (self.now + delay, next(self._ids), (entry, callback)))

        class Handle:
            def cancel(self) -> None:
                entry[0] = False

        return Handle()

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._timers and self._timers[0][0] <= end:
            when, _, (entry, callback) = heapq.heappop(self._timers)
            self.now = when
            if entry[0]:
                callback()
        self.now = end


class Sink:
    def __init__(self, loop: FakeLoop) -> None:
        self.loop = loop
        self.status: list[tuple[float, dict[str, Any]]] = []
        self.errors: list[dict[str, Any]] = []
        self.snapshots: list[tuple[float, dict[str, Any]]] = []

    def send_status(self, message: Any) -> None:
        self.status.append((self.loop.now, message))

    def send_error(self, message: Any) -> None:
        self.errors.append(message)

    def set_snapshot(self, snapshot: Any) -> None:
        self.snapshots.append((self.loop.now, snapshot))


def board_for(graph: Graph, registry: NodeRegistry) -> tuple[StatusBoard, Sink, FakeLoop]:
    loop = FakeLoop()
    sink = Sink(loop)
    board = StatusBoard(sink, clock=loop.clock, loop=lambda: loop)
    board.attach(GraphRuntime(graph, registry))
    return board, sink, loop


def failed(node_id: str, message: str) -> NodeFailed:
    return NodeFailed(node_id, ErrorPacket(ErrorCode.NODE_EXCEPTION, message, node_id))


def most_per_window(times: list[float], window: float) -> int:
    return max((sum(1 for t in times if start <= t < start + window) for start in times), default=0)


def test_a_flood_of_events_gives_at_most_ten_messages_a_second(
    chain: Graph, registry: NodeRegistry
) -> None:
    board, sink, loop = board_for(chain, registry)
    sink.status.clear()
    board.set_run("running")
    for i in range(100_000):  # 100k firings in 10 s of fake time, each one a change
        node = ("src", "inc", "sink")[i % 3]
        board.on_event(NodeStatusChanged(node, "running"))
        board.on_event(DebugStepped(node, i + 2, "firing"))
        loop.advance(0.0001)
    loop.advance(1.0)
    times = [t for t, _ in sink.status]
    assert 50 <= len(times) <= 110  # ~10 a second over ~11 s
    assert most_per_window(times, 1.0) <= 11
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(times[1:]))
    snapshot_times = [t for t, _ in sink.snapshots]
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(snapshot_times[1:]))


def test_a_message_holds_only_what_changed(chain: Graph, registry: NodeRegistry) -> None:
    board, sink, loop = board_for(chain, registry)
    first = sink.status[-1][1]
    assert set(first["nodes"]) == {"src", "inc", "sink"}
    assert set(first["edges"]) == {"e1", "e2"}
    loop.advance(0.2)
    board.on_event(NodeStatusChanged("inc", "running"))
    message = sink.status[-1][1]
    assert message["type"] == "node-status"
    assert list(message["nodes"]) == ["inc"]
    assert message["nodes"]["inc"]["status"] == "running"
    assert message["edges"] == {}
    assert set(message) == {
        "type",
        "run",
        "message",
        "nodes",
        "edges",
        "debugAt",
        "breakpoints",
        "dashboard",
    }
    count = len(sink.status)
    loop.advance(0.2)
    board.flush()  # nothing changed: nothing sent
    assert len(sink.status) == count


class DashboardExecutor(LocalExecutor):
    """A local executor with a ``dashboard_link``, as a cluster executor has once started."""

    dashboard_link: str | None = None


def test_the_dask_dashboard_link_follows_the_runtime_s_executor(
    chain: Graph, registry: NodeRegistry
) -> None:
    loop = FakeLoop()
    sink = Sink(loop)
    board = StatusBoard(sink, clock=loop.clock, loop=lambda: loop)
    executor = DashboardExecutor()
    board.attach(GraphRuntime(chain, registry, executor=executor))
    assert board.snapshot()["dashboard"] is None
    assert sink.status[-1][1]["dashboard"] is None
    loop.advance(0.2)
    executor.dashboard_link = "http://127.0.0.1:8787/status"  # the cluster has started
    board.flush(snapshot=True)
    assert sink.status[-1][1]["dashboard"] == "http://127.0.0.1:8787/status"
    assert sink.snapshots[-1][1]["dashboard"] == "http://127.0.0.1:8787/status"
    board.attach(GraphRuntime(chain, registry))  # a local executor has no dashboard
    assert board.snapshot()["dashboard"] is None


def test_the_snapshot_is_set_once_a_second_and_on_run_changes(
    chain: Graph, registry: NodeRegistry
) -> None:
    board, sink, loop = board_for(chain, registry)
    sink.snapshots.clear()
    board.set_run("running")
    assert [s["run"] for _, s in sink.snapshots] == ["running"]
    for _ in range(25):  # 2.5 s of changes
        board.on_event(DebugStepped("inc", 2, "firing"))
        board.on_event(DebugStepped("sink", 3, "firing"))
        loop.advance(0.1)
    assert 2 <= len(sink.snapshots) <= 4
    board.set_run("done")
    assert sink.snapshots[-1][1]["run"] == "done"
    assert sink.snapshots[-1][0] == loop.now  # at once, not a second later
    assert {s["status"] for s in sink.snapshots[-1][1]["nodes"].values()} == {"done"}


def test_errors_are_sent_at_once_but_at_most_ten_a_second(
    chain: Graph, registry: NodeRegistry
) -> None:
    board, sink, loop = board_for(chain, registry)
    for i in range(100):
        board.on_event(failed("inc", f"failure {i}"))
        loop.advance(0.001)
    assert len(sink.errors) == 10
    first = sink.errors[0]
    assert (first["type"], first["node"]) == ("node-execution-error", "inc")
    assert first["error"]["code"] == "NODE_EXCEPTION"
    assert (first["error"]["message"], first["error"]["node_id"]) == ("failure 0", "inc")
    assert board.suppressed_errors == 90
    loop.advance(1.0)
    board.on_event(failed("inc", "x"))
    assert len(sink.errors) == 11  # a new second, a new allowance
    status = board.snapshot()["nodes"]["inc"]
    assert (status["status"], status["error"]) == ("error", "x")


def test_error_stays_on_the_node_until_the_next_run(chain: Graph, registry: NodeRegistry) -> None:
    board, _, _ = board_for(chain, registry)
    board.on_event(failed("inc", "x"))
    board.on_event(NodeStatusChanged("inc", "running"))
    board.on_event(NodeStatusChanged("inc", "done"))
    assert board.states["inc"] == "error"
    board.set_run("done")
    assert board.states["inc"] == "error"
    board.begin("running")
    assert (board.states["inc"], board.error_text["inc"]) == ("idle", None)


def test_debug_steps_move_debug_at_and_show_breakpoints(
    chain: Graph, registry: NodeRegistry
) -> None:
    board, _, _ = board_for(chain, registry)
    board.on_event(NodeStatusChanged("sink", "done"))
    board.on_event(DebugStepped("src", 1, "emit"))
    assert (board.run, board.debug_at) == ("stepping", "src")
    assert board.states == {"src": "done", "inc": "idle", "sink": "idle"}  # a new session
    board.on_event(DebugStepped("inc", 2, "breakpoint"))
    assert (board.debug_at, board.states["inc"]) == ("inc", "breakpoint")
    board.on_event(BreakpointChanged("sink", enabled=True))
    assert board.snapshot()["breakpoints"] == {"sink": None}
    board.set_breakpoint("inc", enabled=True, condition="value > 1")
    board.on_event(BreakpointChanged("inc", enabled=True))  # a cell's: no condition
    assert board.snapshot()["breakpoints"] == {"inc": None, "sink": None}
    board.on_event(BreakpointChanged("sink", enabled=True, condition="x"))
    assert board.snapshot()["breakpoints"]["sink"] == "x"
    board.on_event(BreakpointChanged("sink", enabled=False))
    board.set_breakpoint("inc", enabled=False)
    assert board.snapshot()["breakpoints"] == {}
    before = board.snapshot()
    board.on_event(NodeMoved("sink", "worker", "slow"))  # ignored: stats say where it runs
    assert board.snapshot() == before


def test_without_a_loop_flushes_happen_by_time_check(chain: Graph, registry: NodeRegistry) -> None:
    fake = FakeLoop()
    sink = Sink(fake)
    board = StatusBoard(sink, clock=fake.clock, loop=lambda: None)
    board.attach(GraphRuntime(chain, registry))
    count = len(sink.status)
    board.on_event(NodeStatusChanged("inc", "running"))
    assert len(sink.status) == count  # too early, and no loop to come back later
    fake.now += 0.1
    board.on_event(NodeStatusChanged("inc", "done"))
    assert len(sink.status) == count + 1
    assert sink.status[-1][1]["nodes"]["inc"]["status"] == "done"


def test_detach_stops_following_the_runtime(chain: Graph, registry: NodeRegistry) -> None:
    board, sink, loop = board_for(chain, registry)
    runtime = board._runtime
    board.detach()
    count = len(sink.status)
    loop.advance(1.0)
    runtime._publish(NodeStatusChanged("inc", "running"))
    assert len(sink.status) == count


async def test_a_real_run_of_100k_packets_sends_about_ten_messages_a_second(
    registry: NodeRegistry, amake_canvas: Any
) -> None:
    graph = Graph("big", registry=registry)
    graph.add_node("numbers", id="src", settings={"count": 100_000})
    previous = "src"
    for i in range(3):
        graph.add_node("add-one", "1.0.0", id=f"a{i}")
        graph.connect(f"{previous}.out", f"a{i}.in")
        previous = f"a{i}"
    canvas = amake_canvas(graph, registry=registry)
    times: list[float] = []
    record = canvas.record

    def timed(content: dict[str, Any], buffers: Any = None) -> None:
        if content["type"] == "node-status":
            times.append(time.monotonic())
        record(content, buffers)

    canvas.editor.send = timed
    started = time.monotonic()
    canvas.editor.run()
    await canvas.editor.wait()
    duration = time.monotonic() - started
    status = canvas.editor.status
    assert status["run"] == "done"
    assert status["nodes"]["a2"]["firings"] == 100_000
    # one per 0.1 s of running, plus the forced ones at the start and the end
    assert len(times) <= duration * 10 + 4
    assert most_per_window(times, 1.0) <= 13
    assert isinstance(canvas.editor, GraphEditor)


def test_error_details_that_json_cannot_say_become_text(
    chain: Graph, registry: NodeRegistry
) -> None:
    board, sink, _ = board_for(chain, registry)
    details = {"when": {1, 2}, "what": object}
    board.on_event(NodeFailed("inc", ErrorPacket(ErrorCode.NODE_EXCEPTION, "bad", details=details)))
    sent = sink.errors[-1]["error"]
    assert sent["details"] == {"when": "{1, 2}", "what": "<class 'object'>"}


def test_a_failure_becomes_one_node_execution_error_message() -> None:
    error = ErrorPacket(ErrorCode.TIMEOUT, "too slow", "inc", "t1", recoverable=True, attempt=3)
    message = error_message(NodeFailed("inc", error))
    assert message == {"type": "node-execution-error", "node": "inc", "error": error.to_dict()}
