"""Lifecycle and accounting under stress: stop() keeps its timeout whatever a node does,
timed-out threads do not starve other nodes, and every packet ends in exactly one counter."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from dataflow_jupyter import DataPacket, ErrorCode, Graph, IONode, NodeRegistry, PureNode
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.testing import spec


class Stubborn(IONode):
    """A source that swallows the first cancellation and goes on."""

    async def run(self, ctx: Any) -> None:
        i = 0
        swallowed = False
        while True:
            try:
                await ctx.emit("out", i)
                i += 1
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed = True


class Hang(PureNode):
    """Blocks its worker thread for ``seconds`` on the first packet (then returns at once)."""

    release = threading.Event()

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        if inputs["in"].value == 0:
            type(self).release.wait(self.settings["seconds"])
        return {"out": inputs["in"].value}


class Quick(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": inputs["in"].value}


class Late(PureNode):
    """Each firing also emits through the context of the firing before: a late emit."""

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.previous: Any = None

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        if self.previous is not None:
            self.previous.emit("out", "late")
        self.previous = ctx
        return {"out": inputs["in"].value}


class Nothing(PureNode):
    """Returns None, or an empty dict with ``empty``."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        return {} if self.settings["empty"] else None


class Bare(PureNode):
    """Returns a bare value (not a dict): the value of the setting ``give``."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        return self.settings["give"]


class AlwaysFails(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        msg = "down"
        raise ConnectionError(msg)


@pytest.fixture
def life(registry: NodeRegistry) -> NodeRegistry:
    registry.register(spec("stubborn", [], ["out"]), Stubborn)
    seconds = [{"name": "seconds", "type": "number", "default": 3.0}]
    timeout = {"timeoutMs": 100, "offload": "thread", "retry": 0, "recoverable": False}
    registry.register(
        spec(
            "hang",
            ["in"],
            ["out", {"name": "error", "type": "error_packet"}],
            settings=seconds,
            execution=timeout,
        ),
        Hang,
    )
    registry.register(spec("quick", ["in"], ["out"], execution={"offload": "thread"}), Quick)
    registry.register(spec("late", ["in"], ["out"], execution={"offload": "thread"}), Late)
    give = [{"name": "give", "type": "json", "default": 0}]
    registry.register(spec("bare", ["in"], ["out"], settings=give), Bare)
    empty = [{"name": "empty", "type": "boolean", "default": False}]
    registry.register(spec("nothing", ["in"], ["out"], settings=empty), Nothing)
    retry = {"retry": 5, "recoverable": True, "retryBackoffMs": 2000, "offload": "none"}
    registry.register(spec("always-fails", ["in"], ["out"], execution=retry), AlwaysFails)
    return registry


async def test_stop_returns_within_its_timeout_and_names_the_node_that_did_not_stop(
    life: NodeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    g = Graph(id="stubborn", registry=life)
    src = g.add_node("stubborn")
    log = g.add_node("debug-log")
    g.connect(src, "out", log, "in")
    rt = GraphRuntime(g, life)
    await rt.start()
    await asyncio.sleep(0.05)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="dataflow_jupyter.runtime"):
        await asyncio.wait_for(rt.stop(timeout=0.5), 5)
    assert time.monotonic() - started < 1.5
    assert f"node {src!r} did not stop" in caplog.text
    assert rt.not_stopped == [src]
    await rt.aclose()


def test_a_timed_out_thread_does_not_starve_other_nodes(life: NodeRegistry) -> None:
    Hang.release.clear()
    g = Graph(id="starve", registry=life)
    src = g.add_node("numbers", settings={"count": 1})
    hang = g.add_node("hang")
    errors = g.add_node("debug-log")
    g.connect(src, "out", hang, "in")
    g.connect(hang, "error", errors, "in")
    many = g.add_node("numbers", settings={"count": 40})
    quick = g.add_node("quick")
    g.connect(many, "out", quick, "in")
    from dataflow_jupyter.executors import LocalExecutor

    rt = GraphRuntime(g, life, executor=LocalExecutor(max_workers=1))
    started = time.monotonic()
    result = rt.run()
    elapsed = time.monotonic() - started
    Hang.release.set()
    assert len(result.outputs[f"{quick}.out"]) == 40
    (timeout,) = result.outputs[f"{errors}.out"]
    assert timeout.code is ErrorCode.TIMEOUT
    assert elapsed < 2.5  # the hung thread holds 3 s; the others did not wait for it
    rt.close()


async def test_stop_during_a_retry_backoff_counts_the_packet(life: NodeRegistry) -> None:
    g = Graph(id="backoff", registry=life)
    src = g.add_node("numbers", settings={"count": 1})
    failing = g.add_node("always-fails")
    g.connect(src, "out", failing, "in")
    rt = GraphRuntime(g, life)
    await rt.start()
    await asyncio.sleep(0.2)  # the first attempt failed; the retry waits 2 s
    await rt.stop(timeout=0.5)
    stats = rt.stats.node(failing)
    assert stats.received == 1
    assert stats.dead_lettered == 1  # not lost: in the DLQ, as cancelled
    (letter,) = list(rt.dlq)
    assert letter.error.code is ErrorCode.CANCELLED
    await rt.aclose()


def test_a_late_emit_is_counted_and_logged(
    life: NodeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    g = Graph(id="late", registry=life)
    src = g.add_node("numbers", settings={"count": 3})
    late = g.add_node("late")
    g.connect(src, "out", late, "in")
    rt = GraphRuntime(g, life)
    with caplog.at_level(logging.WARNING, logger="dataflow_jupyter.runtime"):
        result = rt.run()
    assert result.outputs[f"{late}.out"] == [0, 1, 2]
    assert rt.stats.node(late).late_emits == 2
    assert "emitted after its firing had returned" in caplog.text
    rt.close()


@pytest.mark.parametrize("give", [0, "", [], False, {"out": 0}])
def test_falsy_returns_are_emitted(life: NodeRegistry, give: Any) -> None:
    g = Graph(id="falsy", registry=life)
    src = g.add_node("numbers", settings={"count": 1})
    bare = g.add_node("bare", settings={"give": give})
    g.connect(src, "out", bare, "in")
    rt = GraphRuntime(g, life)
    expected = give["out"] if isinstance(give, dict) else give
    assert rt.run().outputs[f"{bare}.out"] == [expected]
    assert rt.stats.node(bare).filtered == 0
    rt.close()


def test_none_and_an_empty_dict_emit_nothing(life: NodeRegistry) -> None:
    for empty in (False, True):
        g = Graph(id="nothing", registry=life)
        src = g.add_node("numbers", settings={"count": 1})
        bare = g.add_node("nothing", settings={"empty": empty})
        g.connect(src, "out", bare, "in")
        rt = GraphRuntime(g, life)
        assert f"{bare}.out" not in rt.run().outputs
        assert rt.stats.node(bare).filtered == 1
        rt.close()


def test_stats_after_a_replay_keep_the_runs_figures(
    registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from _testnodes import Flaky

    g = Graph(id="replay", registry=registry)
    src = g.add_node("numbers", settings={"count": 5})
    flaky = g.add_node("flaky", settings={"failOn": [2], "failTimes": 10})
    g.connect(src, "out", flaky, "in")
    rt = GraphRuntime(g, registry)
    rt.run()
    assert rt.stats.node(src).emitted == 5
    monkeypatch.setattr(Flaky, "healed", True)
    replay = rt.dlq.replay()
    assert rt.stats.node(src).emitted == 5  # the run's figures stay
    assert rt.stats.node(flaky).dead_lettered == 1
    assert replay.stats.node(flaky).firings == 1  # the replay's, apart
    assert replay.stats.node(flaky).emitted == 1
    assert rt.last_replay is replay
    rt.close()
