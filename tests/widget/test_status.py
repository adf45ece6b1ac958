"""StatusBoard: coalescing, rate limits and node states, with a fake clock and a fake loop."""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Any

from dataflow_jupyter import Graph, GraphEditor, NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.widget.status import StatusBoard


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
        board.on_event({"type": "node-status", "node_id": node, "status": "running"})
        board.on_event({"type": "debug-step", "node_id": node, "index": i + 2, "kind": "firing"})
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
    board.on_event({"type": "node-status", "node_id": "inc", "status": "running"})
    message = sink.status[-1][1]
    assert message["type"] == "node-status"
    assert list(message["nodes"]) == ["inc"]
    assert message["nodes"]["inc"]["status"] == "running"
    assert message["edges"] == {}
    assert set(message) == {"type", "run", "message", "nodes", "edges", "debugAt", "breakpoints"}
    count = len(sink.status)
    loop.advance(0.2)
    board.flush()  # nothing changed: nothing sent
    assert len(sink.status) == count


def test_the_snapshot_is_set_once_a_second_and_on_run_changes(
    chain: Graph, registry: NodeRegistry
) -> None:
    board, sink, loop = board_for(chain, registry)
    sink.snapshots.clear()
    board.set_run("running")
    assert [s["run"] for _, s in sink.snapshots] == ["running"]
    for _ in range(25):  # 2.5 s of changes
        board.on_event({"type": "debug-step", "node_id": "inc", "index": 2, "kind": "firing"})
        board.on_event({"type": "debug-step", "node_id": "sink", "index": 3, "kind": "firing"})
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
        error = {"code": "NODE_EXCEPTION", "message": f"failure {i}", "node_id": "inc"}
        board.on_event({"type": "node-execution-error", "node_id": "inc", "error": error})
        loop.advance(0.001)
    assert len(sink.errors) == 10
    assert sink.errors[0] == {
        "type": "node-execution-error",
        "node": "inc",
        "error": {"code": "NODE_EXCEPTION", "message": "failure 0", "node_id": "inc"},
    }
    assert board.suppressed_errors == 90
    loop.advance(1.0)
    board.on_event({"type": "node-execution-error", "node_id": "inc", "error": {"message": "x"}})
    assert len(sink.errors) == 11  # a new second, a new allowance
    status = board.snapshot()["nodes"]["inc"]
    assert (status["status"], status["error"]) == ("error", "x")


def test_error_stays_on_the_node_until_the_next_run(chain: Graph, registry: NodeRegistry) -> None:
    board, _, _ = board_for(chain, registry)
    board.on_event({"type": "node-execution-error", "node_id": "inc", "error": {"message": "x"}})
    board.on_event({"type": "node-status", "node_id": "inc", "status": "running"})
    board.on_event({"type": "node-status", "node_id": "inc", "status": "done"})
    assert board.states["inc"] == "error"
    board.set_run("done")
    assert board.states["inc"] == "error"
    board.begin("running")
    assert (board.states["inc"], board.error_text["inc"]) == ("idle", None)


def test_debug_steps_move_debug_at_and_show_breakpoints(
    chain: Graph, registry: NodeRegistry
) -> None:
    board, _, _ = board_for(chain, registry)
    board.on_event({"type": "node-status", "node_id": "sink", "status": "done"})
    board.on_event({"type": "debug-step", "node_id": "src", "index": 1, "kind": "emit"})
    assert (board.run, board.debug_at) == ("stepping", "src")
    assert board.states == {"src": "done", "inc": "idle", "sink": "idle"}  # a new session
    board.on_event({"type": "debug-step", "node_id": "inc", "index": 2, "kind": "breakpoint"})
    assert (board.debug_at, board.states["inc"]) == ("inc", "breakpoint")
    board.on_event({"type": "breakpoint", "node_id": "sink", "enabled": True})
    assert board.snapshot()["breakpoints"] == {"sink": None}
    board.set_breakpoint("inc", enabled=True, condition="value > 1")
    board.on_event({"type": "breakpoint", "node_id": "inc", "enabled": True})  # no condition
    assert board.snapshot()["breakpoints"] == {"inc": "value > 1", "sink": None}  # kept
    board.on_event({"type": "breakpoint", "node_id": "sink", "enabled": True, "condition": "x"})
    assert board.snapshot()["breakpoints"]["sink"] == "x"
    board.on_event({"type": "breakpoint", "node_id": "sink", "enabled": False})
    board.set_breakpoint("inc", enabled=False)
    assert board.snapshot()["breakpoints"] == {}
    board.on_event({"type": "something-new", "node_id": "sink"})  # ignored
    board.on_event({"type": "node-status"})  # ignored: no node


def test_without_a_loop_flushes_happen_by_time_check(chain: Graph, registry: NodeRegistry) -> None:
    fake = FakeLoop()
    sink = Sink(fake)
    board = StatusBoard(sink, clock=fake.clock, loop=lambda: None)
    board.attach(GraphRuntime(chain, registry))
    count = len(sink.status)
    board.on_event({"type": "node-status", "node_id": "inc", "status": "running"})
    assert len(sink.status) == count  # too early, and no loop to come back later
    fake.now += 0.1
    board.on_event({"type": "node-status", "node_id": "inc", "status": "done"})
    assert len(sink.status) == count + 1
    assert sink.status[-1][1]["nodes"]["inc"]["status"] == "done"


def test_detach_stops_following_the_runtime(chain: Graph, registry: NodeRegistry) -> None:
    board, sink, loop = board_for(chain, registry)
    runtime = board._runtime
    board.detach()
    count = len(sink.status)
    loop.advance(1.0)
    runtime._publish({"type": "node-status", "node_id": "inc", "status": "running"})
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
    error = {"message": "bad", "details": {"when": {1, 2}, "what": object}}
    board.on_event({"type": "node-execution-error", "node_id": "inc", "error": error})
    sent = sink.errors[-1]["error"]
    assert sent["details"] == {"when": "{1, 2}", "what": "<class 'object'>"}
