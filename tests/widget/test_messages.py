"""The canvas's messages: deploy, run, stop, step, breakpoints, inspect, layout engine."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.executors import Executor, LocalExecutor
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.widget import editor as editor_module
from dataflow_jupyter.widget.control import SharedExecutor


def inspect_message(request: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "type": "inspect",
        "request": request,
        "node": None,
        "port": None,
        "edge": None,
        "offset": 0,
        "limit": 100,
    } | fields


def decode(buffer: bytes) -> pd.DataFrame:
    return pa.ipc.open_stream(buffer).read_all().to_pandas()


META = ["packet_id", "trace_id", "origin_node", "timestamp", "schema_version"]


def payload_first(frame: pd.DataFrame) -> pd.DataFrame:
    """What the inspector shows: the payload's columns, then the packet metadata."""
    return frame[[c for c in frame.columns if c not in META] + META]


def metadata_columns(buffer: bytes) -> list[str]:
    schema = pa.ipc.open_stream(buffer).schema
    return json.loads((schema.metadata or {})[b"dataflow.metadata"])


def error_node_graph(registry: NodeRegistry, fail_on: list[int] | None = None) -> Graph:
    graph = Graph("raising", registry=registry)
    graph.add_node("numbers", id="src", settings={"count": 3})
    graph.add_node("boom", id="bad", settings={"failOn": fail_on or []})
    graph.connect("src.out", "bad.in")
    return graph


# -- deploy -----------------------------------------------------------------------------------


def test_deploy_graph_replaces_the_graph_and_answers(
    make_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = make_canvas(registry=registry)
    canvas.send({"type": "deploy-graph", "graph": chain.to_dict()})
    assert canvas.editor.graph == chain.to_dict()
    assert canvas.last("deploy-result")[0] == {"type": "deploy-result", "ok": True, "problems": []}

    draft = chain.to_dict()
    draft["edges"] = draft["edges"][1:]  # inc's required input unconnected
    canvas.send({"type": "deploy-graph", "graph": draft})
    answer = canvas.last("deploy-result")[0]
    assert answer["ok"] is False
    assert any("'inc'" in p and "in" in p for p in answer["problems"])
    assert canvas.editor.graph == draft  # a draft is kept as it is

    canvas.send({"type": "deploy-graph", "graph": {"id": "?", "nodes": 1}})
    answer = canvas.last("deploy-result")[0]
    assert answer["ok"] is False
    assert answer["problems"]


# -- run ----------------------------------------------------------------------------------------


async def test_run_finishes_in_the_background(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    canvas.send({"type": "run"})
    assert canvas.editor.status["run"] == "running"  # the handler returned at once
    await canvas.editor.wait()
    status = canvas.editor.status
    assert status["run"] == "done"
    assert {n: s["status"] for n, s in status["nodes"].items()} == dict.fromkeys(
        ["src", "inc", "sink"],
        "finished",  # each reached end of stream
    )
    assert status["nodes"]["inc"] | {"status": "finished"} == {
        "status": "finished",
        "firings": 3,
        "received": 3,
        "emitted": 3,
        "errors": 0,
        "error": None,
        "runsOn": "inline",  # the test nodes say offload: none
        "moves": 0,
    }
    assert status["nodes"]["src"]["emitted"] == 3
    assert status["edges"]["e1"] == {"queued": 0, "delivered": 3, "dropped": 0}
    last = canvas.last("node-status")[0]
    assert last["run"] == "done"
    assert canvas.of_type("deploy-result") == []
    assert canvas.editor.inspect("sink.out")["value"].tolist() == [1, 2, 3]


async def test_an_invalid_graph_is_not_run(amake_canvas: Any, registry: NodeRegistry) -> None:
    canvas = amake_canvas(registry=registry)
    canvas.editor.add_node("add-one", version="1.0.0")  # a required input left open
    canvas.send({"type": "run"})
    canvas.send({"type": "step"})
    answers = canvas.of_type("deploy-result")
    assert len(answers) == 2
    assert all(a["ok"] is False and a["problems"] for a in answers)
    assert canvas.editor.runtime is None
    assert canvas.editor.status["run"] == "idle"


async def test_a_raising_node_shows_its_error(amake_canvas: Any, registry: NodeRegistry) -> None:
    canvas = amake_canvas(error_node_graph(registry, fail_on=[1]), registry=registry)
    canvas.send({"type": "run"})
    await canvas.editor.wait()
    bad = canvas.editor.status["nodes"]["bad"]
    assert bad["status"] == "error"
    assert bad["error"] == "boom: cannot take 1"
    assert (bad["firings"], bad["errors"]) == (3, 1)
    # the run went on to its end, and its state says it had failures (issue 11: not `done`)
    assert canvas.editor.status["run"] == "failed"
    assert canvas.editor.status["message"] == (
        "errors in 1 node: bad (1 error); see the node for the message"
    )
    [error] = canvas.of_type("node-execution-error")
    assert error["node"] == "bad"
    assert error["error"]["code"] == "NODE_EXCEPTION"
    assert error["error"]["message"] == "boom: cannot take 1"
    assert error["error"]["node_id"] == "bad"


async def test_a_run_that_cannot_start_fails_with_the_reason(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    canvas.editor.add_node("unopenable", id="bad")
    canvas.editor.connect("sink.out", "bad.in")
    canvas.send({"type": "run"})
    await canvas.editor.wait()
    status = canvas.editor.status
    assert status["run"] == "failed"
    assert "failed to set up" in status["message"]
    assert "OSError: port 8080 is in use" in status["message"]
    canvas.send({"type": "step"})  # a step says the same
    await canvas.editor.wait()
    assert canvas.editor.status["run"] == "failed"
    assert "port 8080 is in use" in canvas.editor.status["message"]


async def test_run_twice_and_a_run_that_goes_on(amake_canvas: Any, registry: NodeRegistry) -> None:
    graph = Graph("slow", registry=registry)
    graph.add_node("numbers", id="src", settings={"count": 10_000, "delayMs": 1})
    graph.add_node("debug-log", id="sink")
    graph.connect("src.out", "sink.in")
    canvas = amake_canvas(graph, registry=registry)
    canvas.send({"type": "run"})
    await asyncio.sleep(0.05)
    canvas.send({"type": "run"})  # already running: said, not done twice
    said = await canvas.until("node-status", lambda m: m["message"] is not None)
    assert said["run"] == "running"
    assert said["message"] == "the graph is already running: stop it first"
    canvas.send({"type": "step"})
    await canvas.until(
        "node-status", lambda m: m["message"] == "the graph is running: stop it before stepping"
    )
    canvas.send({"type": "stop"})
    await canvas.editor.wait()
    status = canvas.editor.status
    assert status["run"] == "stopped"
    emitted = status["nodes"]["src"]["emitted"]
    assert 0 < emitted < 10_000
    assert status["nodes"]["sink"]["received"] == emitted  # drained, nothing lost


async def test_a_changed_graph_gets_a_new_runtime_and_the_old_one_is_closed(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    canvas.editor.run()
    await canvas.editor.wait()
    first = canvas.editor.runtime
    moved = canvas.editor.graph["nodes"][0]["position"]
    canvas.editor.update_node("src", position=(moved["x"] + 50, moved["y"]))  # layout only
    canvas.editor.run()
    await canvas.editor.wait()
    assert canvas.editor.runtime is first
    closed = []
    close = first.aclose

    async def spy() -> None:
        closed.append(first)
        await close()

    first.aclose = spy  # type: ignore[method-assign]
    canvas.editor.update_node("src", settings={"count": 5})
    canvas.editor.run()
    await canvas.editor.wait()
    assert canvas.editor.runtime is not first
    assert canvas.editor.status["nodes"]["inc"]["firings"] == 5
    assert closed == [first]


async def test_a_runtime_passed_in_is_reused_and_never_closed(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    runtime = GraphRuntime(chain, registry)
    canvas = amake_canvas(runtime=runtime)
    canvas.editor.update_node("src", settings={"count": 1})
    canvas.editor.run()
    await canvas.editor.wait()
    assert canvas.editor.runtime is not runtime
    canvas.editor.update_node("src", settings={"count": 3})  # the same graph again
    canvas.editor.run()
    await canvas.editor.wait()
    assert canvas.editor.runtime is runtime
    result = await runtime.run_async()  # still usable
    assert result.outputs["sink.out"] == [1, 2, 3]
    await runtime.aclose()


# -- step ---------------------------------------------------------------------------------------


async def test_step_moves_debug_at_node_by_node(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    chain.update_node("src", settings={"count": 1})
    canvas = amake_canvas(chain, registry=registry)
    positions = []
    for _ in range(3):
        canvas.send({"type": "step"})
        await canvas.editor.wait()
        positions.append(canvas.editor.status["debugAt"])
        assert canvas.editor.status["run"] == "stepping"
    assert positions == ["src", "inc", "sink"]
    assert canvas.debug_positions()[-3:] == ["src", "inc", "sink"]
    assert canvas.editor.inspect("inc.out")["value"].tolist() == [1]
    canvas.send({"type": "step"})  # nothing left: the debugger is done
    await canvas.editor.wait()
    assert canvas.editor.status["run"] == "done"
    canvas.send({"type": "step"})  # a new debugging session from the start
    await canvas.editor.wait()
    assert (canvas.editor.status["run"], canvas.editor.status["debugAt"]) == ("stepping", "src")
    canvas.send({"type": "stop"})
    await canvas.editor.wait()
    assert canvas.editor.status["run"] == "stopped"


async def test_messages_from_a_subshell_thread_are_handled_on_the_editors_loop(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    """JupyterLab 4.6 + ipykernel 7 deliver widget messages on a subshell: a thread and loop
    of their own. Steps started there must still run on the kernel's loop."""
    canvas = amake_canvas(chain, registry=registry)
    main_thread = threading.get_ident()
    handled_on: list[int] = []
    step = canvas.editor._handlers["step"]

    def recording_step(message: dict[str, Any]) -> None:
        handled_on.append(threading.get_ident())
        step(message)

    canvas.editor._handlers["step"] = recording_step

    def subshell() -> None:  # a thread with its own running loop, as ipykernel's subshells
        async def deliver() -> None:
            for _ in range(2):
                canvas.editor._on_message(canvas.editor, {"type": "step"}, [])

        asyncio.run(deliver())

    thread = threading.Thread(target=subshell)
    thread.start()
    await asyncio.to_thread(thread.join)
    await canvas.until("node-status", lambda m: m["debugAt"] == "inc")
    await canvas.editor.wait()
    assert handled_on == [main_thread, main_thread]
    assert [s.node_id for s in canvas.editor.debugger().history] == ["src", "inc"]


async def test_several_steps_at_once_run_one_after_another(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    for _ in range(4):
        canvas.send({"type": "step"})
    await canvas.editor.wait()
    dbg = canvas.editor.debugger()
    assert [(s.index, s.node_id) for s in dbg.history] == [
        (1, "src"),
        (2, "inc"),
        (3, "sink"),
        (4, "src"),
    ]


async def test_a_cells_debugger_moves_the_canvas_too(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    runtime = GraphRuntime(chain, registry)
    canvas = amake_canvas(runtime=runtime)
    dbg = canvas.editor.runtime.debugger()  # as a cell would; the editor did not open it
    for expected in ("src", "inc", "sink"):
        step = await dbg.step_async()
        assert step.node_id == expected
        await canvas.until("node-status", lambda m, e=expected: m["debugAt"] == e)
    assert canvas.debug_positions()[-3:] == ["src", "inc", "sink"]
    await dbg.aclose()


async def test_a_cells_synchronous_steps_move_the_canvas(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    """In a notebook a cell's ``dbg.step()`` re-enters the kernel's running loop."""
    runtime = GraphRuntime(chain, registry)
    canvas = amake_canvas(runtime=runtime)
    dbg = runtime.debugger()
    for expected in ("src", "inc", "sink"):
        assert dbg.step().node_id == expected  # synchronous, inside the running loop
        # the cell ends; the kernel's loop flushes what the last events changed
        await canvas.until("node-status", lambda m, e=expected: m["debugAt"] == e)
    await dbg.aclose()
    await runtime.aclose()


async def test_breakpoints_are_kept_and_applied(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    canvas.send({"type": "set-breakpoint", "node": "sink", "enabled": True})
    canvas.send({"type": "set-breakpoint", "node": "inc", "enabled": True})
    canvas.send({"type": "set-breakpoint", "node": "inc", "enabled": False})
    await canvas.until("node-status", lambda m: m["breakpoints"] == {"sink": None})
    canvas.send({"type": "step"})
    await canvas.editor.wait()
    dbg = canvas.editor.debugger()
    assert dbg.breakpoints == ["sink"]  # applied to the debugger the step opened
    canvas.send({"type": "set-breakpoint", "node": "inc", "enabled": True})
    assert sorted(dbg.breakpoints) == ["inc", "sink"]  # and to the open one
    step = dbg.resume()  # as a cell would
    assert (step.kind, step.node_id) == ("breakpoint", "inc")
    await canvas.editor.wait()
    status = canvas.editor.status
    assert (status["debugAt"], status["nodes"]["inc"]["status"]) == ("inc", "breakpoint")
    assert status["breakpoints"] == {"inc": None, "sink": None}


async def test_a_run_that_cannot_start_shows_the_failure_on_its_node(
    amake_canvas: Any, registry: NodeRegistry
) -> None:
    """Issue 11: the error of a run started from the canvas was only in a truncated pill."""
    graph = Graph("bad-expression", registry=registry)
    graph.add_node("inject", id="src", settings={"value": [{"a": 1}], "count": 1})
    graph.add_node("filter-rows", id="rows", settings={"expression": "is_nul(a)"})
    graph.connect("src.out", "rows.in")
    canvas = amake_canvas(graph, registry=registry)
    canvas.send({"type": "run"})
    await canvas.editor.wait()
    status = canvas.editor.status
    assert status["message"] == "not run: 1 problem, listed on the canvas"
    rows = status["nodes"]["rows"]
    assert rows["status"] == "error"
    assert rows["error"] is not None
    assert rows["error"].startswith("node 'rows' (filter-rows 1.0.0): ")
    assert "calls 'is_nul'" in rows["error"]
    assert canvas.last("deploy-result")[0]["problems"] == [rows["error"]]


async def test_a_node_that_cannot_be_made_shows_it(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure when the run starts (past validation) is on the node too, whole."""
    from dataflow_jupyter.runtime import NodeStartError

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise NodeStartError("inc", "node 'inc' (add-one 1.0.0) failed to set up: OSError: no disk")

    canvas = amake_canvas(chain, registry=registry)
    monkeypatch.setattr(editor_module.RunControl, "run", refuse)
    canvas.send({"type": "run"})
    await canvas.editor.wait()
    status = canvas.editor.status
    assert status["run"] == "failed"
    assert status["nodes"]["inc"]["status"] == "error"
    assert status["nodes"]["inc"]["error"] == (
        "node 'inc' (add-one 1.0.0) failed to set up: OSError: no disk"
    )


async def test_breakpoint_conditions_are_shown_and_honoured_after_stop_then_run(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    """Issue 11: after Stop then Run the canvas stopped where the condition was false."""
    chain.update_node("src", settings={"count": 3})  # the sink sees 1, 2, 3
    canvas = amake_canvas(chain, registry=registry)
    condition = "value == 2"
    canvas.send({"type": "set-breakpoint", "node": "sink", "enabled": True, "condition": condition})
    await canvas.until("node-status", lambda m: m["breakpoints"] == {"sink": condition})
    canvas.send({"type": "step"})  # a debugging session, then Stop
    await canvas.editor.wait()
    canvas.send({"type": "stop"})
    await canvas.editor.wait()
    canvas.send({"type": "run"})
    await canvas.editor.wait()
    status = canvas.editor.status
    assert (status["run"], status["debugAt"]) == ("stepping", "sink")
    assert canvas.editor.debugger().history[-1].inputs["in"].value == 2
    assert status["breakpoints"] == {"sink": condition}
    canvas.send({"type": "run"})
    await canvas.editor.wait()
    assert canvas.editor.status["run"] == "done"  # 3 does not hold: no stop there


async def test_a_bad_breakpoint_condition_is_refused_with_its_reason(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    canvas.send({"type": "set-breakpoint", "node": "sink", "enabled": True, "condition": "1 +"})
    answer, _ = canvas.last("deploy-result")
    assert answer["ok"] is False
    assert answer["problems"][0].startswith("breakpoint on sink: ")
    assert canvas.editor.status["breakpoints"] == {}


async def test_run_with_breakpoints_continues_to_each_one(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    chain.update_node("src", settings={"count": 2})
    canvas = amake_canvas(chain, registry=registry)
    canvas.send({"type": "set-breakpoint", "node": "sink", "enabled": True})
    seen = []
    for _ in range(3):
        canvas.send({"type": "run"})
        await canvas.editor.wait()
        status = canvas.editor.status
        seen.append((status["run"], status["debugAt"], status["nodes"]["sink"]["status"]))
    assert seen == [
        ("stepping", "sink", "breakpoint"),  # paused before the sink's first firing
        ("stepping", "sink", "breakpoint"),  # Run again: continued to its second one
        ("done", None, "finished"),  # and to the end: nothing is highlighted any more
    ]
    assert canvas.editor.inspect("sink.in")["value"].tolist() == [1, 2]


# -- inspect ------------------------------------------------------------------------------------


async def test_inspect_a_port_and_an_edge_as_arrow(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    canvas.editor.run()
    await canvas.editor.wait()
    canvas.send(inspect_message(1, node="inc", port="out"))
    answer, buffers = canvas.last("inspect-result")
    assert answer == {
        "type": "inspect-result",
        "request": 1,
        "where": "inc.out",
        "offset": 0,
        "total": 3,
        "error": None,
    }
    pd.testing.assert_frame_equal(
        decode(buffers[0]), payload_first(canvas.editor.inspect("inc.out"))
    )
    assert next(iter(decode(buffers[0]).columns)) == "value"  # issue 11: the data first
    assert metadata_columns(buffers[0]) == META  # named, so the canvas hides them

    canvas.send(inspect_message(2, edge="e2"))
    answer, buffers = canvas.last("inspect-result")
    assert (answer["request"], answer["where"], answer["total"]) == (2, "sink.in", 3)
    pd.testing.assert_frame_equal(decode(buffers[0]), payload_first(canvas.editor.inspect("e2")))
    assert decode(buffers[0])["value"].tolist() == [1, 2, 3]


async def test_inspect_pages(amake_canvas: Any, chain: Graph, registry: NodeRegistry) -> None:
    chain.update_node("src", settings={"count": 10})
    canvas = amake_canvas(chain, registry=registry)
    canvas.editor.run()
    await canvas.editor.wait()
    canvas.send(inspect_message(3, node="inc", port="out", offset=4, limit=3))
    answer, buffers = canvas.last("inspect-result")
    assert (answer["offset"], answer["total"]) == (4, 10)
    page = decode(buffers[0])
    assert page["value"].tolist() == [5, 6, 7]
    expected = canvas.editor.inspect("inc.out").iloc[4:7].reset_index(drop=True)
    pd.testing.assert_frame_equal(page, payload_first(expected))
    canvas.send(inspect_message(4, node="inc", port="out", offset=50, limit=3))
    answer, buffers = canvas.last("inspect-result")
    assert (answer["total"], len(decode(buffers[0]))) == (10, 0)


async def test_inspect_answers_every_failure_with_its_text(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    canvas.send(inspect_message(1, node="inc", port="out"))
    answer, buffers = canvas.last("inspect-result")
    assert "run the graph first" in answer["error"]
    assert buffers is None
    canvas.editor.run()
    await canvas.editor.wait()
    canvas.send(inspect_message(2, node="inc", port="nope"))
    answer, buffers = canvas.last("inspect-result")
    assert answer["error"].startswith("no port 'inc.nope'")
    assert "inc.out" in answer["error"]
    assert (answer["request"], buffers) == (2, None)
    canvas.send(inspect_message(3, edge="e404"))
    assert "edges: e1, e2" in canvas.last("inspect-result")[0]["error"]
    canvas.send(inspect_message(4))
    assert "an edge, or a node and a port" in canvas.last("inspect-result")[0]["error"]


async def test_mixed_and_nested_payloads_become_json_text(
    amake_canvas: Any, registry: NodeRegistry
) -> None:
    graph = Graph("records", registry=registry)
    graph.add_node("numbers", id="src", settings={"count": 3})
    graph.add_node("record", id="rec")
    graph.connect("src.out", "rec.in")
    canvas = amake_canvas(graph, registry=registry)
    canvas.editor.run()
    await canvas.editor.wait()
    canvas.send(inspect_message(1, node="rec", port="out"))
    answer, buffers = canvas.last("inspect-result")
    assert answer["error"] is None
    page = decode(buffers[0])
    assert page["n"].tolist() == [0, 1, 2]
    assert page["tags"].tolist() == ['["a", 0]', '["a", 1]', '["a", 2]']
    assert page["odd"].tolist() == ["even", "1", "even"]  # strings stay as they are


# -- layout engine, malformed messages ----------------------------------------------------------


def test_load_layout_engine_sends_the_worker(make_canvas: Any, registry: NodeRegistry) -> None:
    canvas = make_canvas(registry=registry)
    canvas.send({"type": "load-layout-engine"})
    answer, buffers = canvas.last("layout-engine")
    assert answer == {"type": "layout-engine"}
    assert buffers == [editor_module._LAYOUT_FILE.read_bytes()]


def test_a_missing_layout_engine_is_reported(
    make_canvas: Any, registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    canvas = make_canvas(registry=registry)
    monkeypatch.setattr(editor_module, "_LAYOUT_FILE", tmp_path / "elk-worker.min.js")
    canvas.send({"type": "load-layout-engine"})
    assert canvas.of_type("layout-engine") == []
    answer = canvas.last("deploy-result")[0]
    assert answer["ok"] is False
    assert answer["problems"][0].startswith("layout engine missing: ")
    assert "npm run build" in answer["problems"][0]


@pytest.mark.parametrize(
    "content",
    [
        "run",
        ["run"],
        {},
        {"type": 3},
        {"type": "explode"},
        {"type": "set-breakpoint", "node": "inc"},
        {"type": "set-breakpoint", "node": "inc", "enabled": "yes"},
        {"type": "deploy-graph", "graph": "{}"},
        {"type": "inspect", "request": "1", "offset": 0, "limit": 1},
        {"type": "inspect", "request": 1, "node": "inc", "port": "out", "offset": -1, "limit": 1},
        {"type": "inspect", "request": 1, "node": 5, "port": "out", "offset": 0, "limit": 1},
    ],
)
def test_malformed_messages_are_ignored_with_a_warning(
    make_canvas: Any,
    chain: Graph,
    registry: NodeRegistry,
    caplog: pytest.LogCaptureFixture,
    content: Any,
) -> None:
    canvas = make_canvas(chain, registry=registry)
    before = dict(canvas.editor.graph)
    with caplog.at_level(logging.WARNING, logger="dataflow_jupyter.widget"):
        canvas.send(content)
    assert canvas.sent == []
    assert canvas.editor.graph == before
    [record] = caplog.records
    assert record.name == "dataflow_jupyter.widget"
    assert record.levelno == logging.WARNING
    assert "ignored a message from the canvas" in record.getMessage()


async def test_close_releases_what_the_editor_made(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    canvas.send({"type": "step"})
    await canvas.editor.wait()
    runtime, dbg = canvas.editor.runtime, canvas.editor.debugger()
    closed = []
    close = runtime.aclose

    async def spy() -> None:
        closed.append(runtime)
        await close()

    runtime.aclose = spy  # type: ignore[method-assign]
    canvas.editor.close()
    await canvas.editor.wait()
    assert closed == [runtime]
    assert dbg.done
    assert runtime._subscribers == []  # the canvas no longer listens


class LentExecutor(LocalExecutor):
    """A local executor with a dashboard, as a started cluster executor has; counts closes."""

    dashboard_link = "http://127.0.0.1:8787/status"

    def __init__(self) -> None:
        super().__init__()
        self.closes = 0

    async def close(self) -> None:
        self.closes += 1
        await super().close()


async def test_the_editors_executor_runs_every_runtime_it_makes_and_stays_open(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    executor = LentExecutor()
    canvas = amake_canvas(chain, registry=registry, executor=executor)
    canvas.send({"type": "run"})
    await canvas.editor.wait()
    first = canvas.editor.runtime
    assert first is not None
    assert isinstance(first.executor, SharedExecutor)
    assert first.executor.executor is executor
    assert isinstance(first.executor, Executor)
    assert canvas.editor.status["run"] == "done"
    assert canvas.editor.status["dashboard"] == "http://127.0.0.1:8787/status"
    assert canvas.last("node-status")[0]["dashboard"] == "http://127.0.0.1:8787/status"
    canvas.editor.update_node("src", settings={"count": 2})  # another graph: a new runtime
    canvas.send({"type": "run"})
    await canvas.editor.wait()
    second = canvas.editor.runtime
    assert second is not None
    assert second is not first
    assert second.executor.executor is executor  # type: ignore[attr-defined]
    assert canvas.editor.status["nodes"]["inc"]["firings"] == 2
    for _ in range(50):  # the first runtime is closed in the background
        await asyncio.sleep(0.01)
    assert executor.closes == 0  # lent, never closed by the editor
    await executor.close()


async def test_a_shared_executor_is_the_executor_but_for_close() -> None:
    executor = LentExecutor()
    shared = SharedExecutor(executor)
    assert shared.inline is executor.inline
    assert shared.dashboard_link == executor.dashboard_link
    assert await shared.submit(sum, [1, 2, 3]) == 6
    await shared.close()
    assert executor.closes == 0
    with pytest.raises(AttributeError):
        shared.no_such_thing  # noqa: B018
    await executor.close()
