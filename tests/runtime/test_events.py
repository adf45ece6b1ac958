"""Runtime events: typed, frozen values, made only when somebody subscribes."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any

import pytest

from dataflow_jupyter import ErrorCode, ErrorPacket, Graph, NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.runtime.events import (
    BreakpointChanged,
    DebugStepped,
    NodeFailed,
    NodeFinished,
    NodeMoved,
    NodeStatusChanged,
    RunStateChanged,
    RuntimeEvent,
)


def chain(graph: Graph, *steps: tuple[str, dict[str, Any]]) -> list[str]:
    ids = [graph.add_node(type_id, settings=settings) for type_id, settings in steps]
    for a, b in itertools.pairwise(ids):
        graph.connect(a, "out", b, "in")
    return ids


EVENTS: list[RuntimeEvent] = [
    NodeStatusChanged("n1", "running"),
    NodeFinished("n1"),
    NodeFailed("n1", ErrorPacket(ErrorCode.NODE_EXCEPTION, "boom", "n1")),
    NodeMoved("n1", "worker", "a firing took 30 ms"),
    DebugStepped("n1", 1, "emit"),
    BreakpointChanged("n1", enabled=True, condition="value > 1"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_events_are_frozen_slotted_values(event: RuntimeEvent) -> None:
    assert not hasattr(event, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.node_id = "n2"  # type: ignore[misc,union-attr]
    assert event == dataclasses.replace(event)


def test_run_states_are_frozen_values() -> None:
    event = RunStateChanged("failed", "StallError: ...")
    assert not hasattr(event, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.state = "done"  # type: ignore[misc]


def test_a_breakpoint_without_a_condition_always_stops() -> None:
    assert BreakpointChanged("n1", enabled=True).condition is None


def test_a_run_tells_its_subscribers_in_typed_events(graph: Graph, registry: NodeRegistry) -> None:
    src, flaky = chain(graph, ("numbers", {"count": 3}), ("flaky", {"errorOn": [1]}))
    rt = GraphRuntime(graph, registry)
    events: list[RuntimeEvent] = []
    unsubscribe = rt.subscribe(events.append)
    rt.run()
    failures = [e for e in events if isinstance(e, NodeFailed)]
    assert [(e.node_id, e.error.message) for e in failures] == [(flaky, "refused 1")]
    finished = [e.node_id for e in events if isinstance(e, NodeFinished)]
    assert set(finished) == {src, flaky}
    runs = [e for e in events if isinstance(e, RunStateChanged)]
    assert runs == [RunStateChanged("running"), RunStateChanged("done")]
    assert events[0] == RunStateChanged("running")  # after setup, before any firing
    assert events[-1] == RunStateChanged("done")  # after every node finished
    unsubscribe()
    events.clear()
    rt.run()
    assert events == []


def test_the_debugger_tells_steps_and_breakpoints(graph: Graph, registry: NodeRegistry) -> None:
    src, flaky = chain(graph, ("numbers", {"count": 2}), ("flaky", {}))
    rt = GraphRuntime(graph, registry)
    events: list[RuntimeEvent] = []
    rt.subscribe(events.append)
    dbg = rt.debugger()
    dbg.add_breakpoint(flaky)
    step = dbg.resume()
    assert step is not None
    dbg.remove_breakpoint(flaky)
    dbg.close()
    told = [e for e in events if isinstance(e, BreakpointChanged | DebugStepped)]
    assert told == [
        BreakpointChanged(flaky, enabled=True, condition=None),
        DebugStepped(src, 1, "emit"),
        DebugStepped(flaky, 2, "breakpoint"),
        BreakpointChanged(flaky, enabled=False),
    ]


def test_nobody_subscribed_means_no_publish(graph: Graph, registry: NodeRegistry) -> None:
    chain(graph, ("numbers", {"count": 3}), ("flaky", {}))
    rt = GraphRuntime(graph, registry)
    rt.run()
    assert rt._session is not None
    assert rt._session.publish is None  # the dispatcher's hot path stays on


async def test_a_started_run_tells_it_was_stopped(graph: Graph, registry: NodeRegistry) -> None:
    chain(graph, ("numbers", {"count": 10**9}), ("add-one", {}))
    rt = GraphRuntime(graph, registry)
    events: list[RuntimeEvent] = []
    rt.subscribe(events.append)
    await rt.start()
    await asyncio.sleep(0.05)
    await rt.stop()
    runs = [e for e in events if isinstance(e, RunStateChanged)]
    assert runs == [RunStateChanged("running"), RunStateChanged("stopped")]


def test_a_run_that_raises_tells_it_failed(graph: Graph, registry: NodeRegistry) -> None:
    chain(graph, ("numbers", {"count": 3}), ("flaky", {}))
    rt = GraphRuntime(graph, registry)
    events: list[RuntimeEvent] = []
    rt.subscribe(events.append)
    rt._drive = _raising  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="the dispatcher broke"):
        rt.run()
    runs = [e for e in events if isinstance(e, RunStateChanged)]
    assert runs == [
        RunStateChanged("running"),
        RunStateChanged("failed", "RuntimeError: the dispatcher broke"),
    ]


async def _raising(_session: object) -> None:
    msg = "the dispatcher broke"
    raise RuntimeError(msg)
