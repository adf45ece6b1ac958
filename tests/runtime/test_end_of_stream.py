"""End of stream: sources that finish close their outputs, ``finish`` hooks run down the
graph, ``run()`` ends, ``ctx.done()`` stops upstream, and a run that cannot progress ends
with a ``StallError`` naming who waits on what."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _testnodes import Head

from dataflow_jupyter import DataPacket, Graph, IONode, NodeRegistry, PureNode
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.runtime.errors import StallError
from dataflow_jupyter.runtime.events import NodeFinished, RuntimeEvent
from dataflow_jupyter.testing import spec

OFFLOADS = [{"offload": "none"}, {"offload": "thread"}]


class Total(PureNode):
    """Sums what it receives and emits the sum once, at end of stream."""

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.total = 0
        self.calls: list[str] = []

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        self.total += inputs["in"].value
        self.calls.append("process")

    def finish(self, ctx: Any) -> dict[str, Any]:
        self.calls.append("finish")
        return {"out": self.total}


class AsyncCount(PureNode):
    """Counts packets; an async ``finish`` emits the count through ``ctx.emit``."""

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.count = 0

    async def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        self.count += 1

    async def finish(self, ctx: Any) -> None:
        await asyncio.sleep(0)
        await ctx.emit("out", {"count": self.count})


class Collect(PureNode):
    """Buffers ``left`` until ``right`` has finished, then emits each left with every right."""

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.right: list[Any] = []
        self.left: list[Any] = []
        self.right_done = False
        self.events: list[str] = []

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        if "right" in inputs:
            self.right.append(inputs["right"].value)
        else:
            self.left.append(inputs["left"].value)
            self._flush(ctx)

    def input_finished(self, port: str, ctx: Any) -> None:
        self.events.append(f"{port} finished")
        if port == "right":
            self.right_done = True
            self._flush(ctx)

    def finish(self, ctx: Any) -> None:
        self.events.append("finish")

    def _flush(self, ctx: Any) -> None:
        if self.right_done:
            for value in self.left:
                ctx.emit("out", [value, sorted(self.right)])
            self.left.clear()


class Counter(IONode):
    """A source written in Python: emits 0..count-1 and returns; its ``finish`` says bye."""

    emitted = 0

    async def run(self, ctx: Any) -> None:
        for i in range(self.settings["count"]):
            await ctx.emit("out", i)
            type(self).emitted = i + 1

    def finish(self, ctx: Any) -> dict[str, Any]:
        return {"out": "bye"}


class Endless(IONode):
    async def run(self, ctx: Any) -> None:
        i = 0
        while True:
            await ctx.emit("out", i)
            i += 1
            await asyncio.sleep(0.005)


class Twice(PureNode):
    """Emits its value twice (from a worker thread)."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        ctx.emit("out", inputs["in"].value)
        ctx.emit("out", inputs["in"].value)


class DropAll(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        return None


@pytest.fixture(params=OFFLOADS, ids=["inline", "thread"])
def eos_registry(registry: NodeRegistry, request: pytest.FixtureRequest) -> NodeRegistry:
    execution = request.param
    registry.register(spec("total", ["in"], ["out"], execution=execution), Total)
    registry.register(spec("async-count", ["in"], ["out"]), AsyncCount)
    registry.register(
        spec("pair-collect", ["left", "right"], ["out"], execution={**execution, "fire": "any"}),
        Collect,
    )
    n = [{"name": "n", "type": "integer", "default": 3}]
    registry.register(spec("take", ["in"], ["out"], execution=execution, settings=n), Head)
    count = [{"name": "count", "type": "integer", "default": 5}]
    registry.register(spec("counter", [], ["out"], settings=count), Counter)
    registry.register(spec("endless", [], ["out"]), Endless)
    registry.register(spec("drop-all", ["in"], ["out"], execution=execution), DropAll)
    registry.register(spec("twice", ["in"], ["out"], execution={"offload": "thread"}), Twice)
    return registry


@pytest.fixture
def g(eos_registry: NodeRegistry) -> Graph:
    return Graph(id="eos", registry=eos_registry)


def test_finish_runs_once_at_end_of_stream_and_its_output_flows_on(
    g: Graph, eos_registry: NodeRegistry
) -> None:
    src = g.add_node("numbers", settings={"count": 4})
    total = g.add_node("total")
    plus = g.add_node("add-one")
    g.connect(src, "out", total, "in")
    g.connect(total, "out", plus, "in")
    rt = GraphRuntime(g, eos_registry)
    result = rt.run()
    assert result.outputs[f"{plus}.out"] == [0 + 1 + 2 + 3 + 1]
    assert rt.stats.node(total).firings == 5  # four packets and the finish
    assert rt.stats.node(total).filtered == 4
    firings = rt.log.firings()
    assert firings.query("node_id == @total")["status"].tolist()[-1] == "finish"
    rt.close()


def test_async_finish_emits_with_ctx_emit_and_finish_cascades(
    g: Graph, eos_registry: NodeRegistry
) -> None:
    src = g.add_node("numbers", settings={"count": 3})
    total = g.add_node("total")
    count = g.add_node("async-count")
    g.connect(src, "out", total, "in")
    g.connect(total, "out", count, "in")  # total's one packet arrives at end of stream
    rt = GraphRuntime(g, eos_registry)
    assert rt.run().outputs[f"{count}.out"] == [{"count": 1}]
    rt.close()


def test_a_python_source_that_returns_finishes_its_branch(
    g: Graph, eos_registry: NodeRegistry
) -> None:
    src = g.add_node("counter", settings={"count": 3})
    log = g.add_node("debug-log")
    g.connect(src, "out", log, "in")
    rt = GraphRuntime(g, eos_registry)
    assert rt.run().outputs[f"{log}.out"] == [0, 1, 2, "bye"]
    assert rt.log.firings().query("node_id == @src")["status"].tolist() == ["finish"]
    rt.close()


def test_input_finished_comes_per_port_then_finish(g: Graph, eos_registry: NodeRegistry) -> None:
    left = g.add_node("numbers", settings={"count": 5})
    right = g.add_node("numbers", settings={"count": 3})
    collect = g.add_node("pair-collect")
    g.connect(left, "out", collect, "left")
    g.connect(right, "out", collect, "right")
    rt = GraphRuntime(g, eos_registry)
    result = rt.run()
    out = result.outputs[f"{collect}.out"]
    assert sorted(v for v, _ in out) == [0, 1, 2, 3, 4]
    assert all(r == [0, 1, 2] for _, r in out)
    instance = rt._current().nodes[collect].instance
    assert isinstance(instance, Collect)
    assert sorted(instance.events[:2]) == ["left finished", "right finished"]
    assert instance.events[-1] == "finish"
    statuses = rt.log.firings().query("node_id == @collect")["status"].tolist()
    assert statuses.count("input_finished") == 2
    assert statuses[-1] == "finish"
    rt.close()


def test_ctx_done_discards_the_rest_and_stops_the_source(
    g: Graph, eos_registry: NodeRegistry
) -> None:
    Counter.emitted = 0
    src = g.add_node("counter", settings={"count": 100_000})
    head = g.add_node("take", settings={"n": 3})
    g.connect(src, "out", head, "in")
    rt = GraphRuntime(g, eos_registry)
    result = rt.run()
    assert result.outputs[f"{head}.out"] == [0, 1, 2]
    assert Counter.emitted < 100_000  # the source was stopped, not read to the end
    edge = rt.stats.edges.iloc[0]
    emitted = rt.stats.node(src).emitted
    assert rt.stats.node(head).received == 3
    assert rt.stats.node(head).received + int(edge["discarded"]) == emitted  # nothing is lost
    rt.close()


def test_run_ends_when_everything_finished_not_before(g: Graph, eos_registry: NodeRegistry) -> None:
    src = g.add_node("numbers", settings={"count": 200})
    total = g.add_node("total")
    g.connect(src, "out", total, "in")
    rt = GraphRuntime(g, eos_registry)
    assert rt.run().outputs[f"{total}.out"] == [sum(range(200))]
    assert all(run.finished for run in rt._current().runs)
    rt.close()


async def test_deployed_mode_finishes_a_finite_branch_while_an_endless_one_runs(
    g: Graph, eos_registry: NodeRegistry
) -> None:
    finite = g.add_node("numbers", settings={"count": 3})
    total = g.add_node("total")
    endless = g.add_node("endless")
    log = g.add_node("debug-log")
    g.connect(finite, "out", total, "in")
    g.connect(endless, "out", log, "in")
    rt = GraphRuntime(g, eos_registry)
    events: list[RuntimeEvent] = []
    rt.subscribe(events.append)
    await rt.start()
    for _ in range(200):
        if NodeFinished(total) in events:
            break
        await asyncio.sleep(0.01)
    assert rt.running
    finished = {e.node_id for e in events if isinstance(e, NodeFinished)}
    assert {finite, total} <= finished
    assert endless not in finished
    assert rt.packets(f"{total}.out")[0].value == 3
    result = await rt.stop()
    assert result is not None
    assert rt.stats.node(log).received > 0
    await rt.aclose()


def test_the_debugger_shows_finish_as_a_step(g: Graph, eos_registry: NodeRegistry) -> None:
    src = g.add_node("numbers", settings={"count": 2})
    total = g.add_node("total")
    g.connect(src, "out", total, "in")
    rt = GraphRuntime(g, eos_registry)
    dbg = rt.debugger()
    steps = []
    while (step := dbg.step()) is not None:
        steps.append((step.kind, step.node_id, step.status))
    assert steps == [
        ("emit", src, "ok"),
        ("firing", total, "filtered"),
        ("emit", src, "ok"),
        ("firing", total, "filtered"),
        ("finish", total, "finish"),
    ]
    assert dbg.done
    assert dbg.history[-1].outputs[0][1].value == 1
    rt.close()


def test_a_fire_all_node_whose_input_finished_early_is_a_stall(
    g: Graph, eos_registry: NodeRegistry
) -> None:
    # the shape of the join that hung: one side finished after 3 packets, the other has more
    left = g.add_node("numbers", settings={"count": 200})
    right = g.add_node("numbers", settings={"count": 3})
    z = g.add_node("zip")
    g.connect(left, "out", z, "a")
    g.connect(right, "out", z, "b")
    rt = GraphRuntime(g, eos_registry)
    with pytest.raises(StallError, match=r"zip 'n3' waits on 'b', which finished after 3 packets"):
        rt.run()
    rt.close()


def test_a_source_blocked_on_a_consumer_that_never_fires_is_a_stall(
    g: Graph, eos_registry: NodeRegistry
) -> None:
    # every packet to 'b' is dropped, so zip never fires; 'a' fills and the source blocks
    src = g.add_node("numbers", settings={"count": 1_000})
    drop = g.add_node("drop-all")
    z = g.add_node("zip")
    g.connect(src, "out", z, "a", buffer={"size": 4})
    g.connect(src, "out", drop, "in")
    g.connect(drop, "out", z, "b")
    rt = GraphRuntime(g, eos_registry)
    with pytest.raises(StallError) as caught:
        rt.run()
    message = str(caught.value)
    assert "waits for room on edge" in message
    assert "(4/4 queued)" in message
    assert "waits on 'b', where nothing arrives" in message
    rt.close()


async def test_a_stall_in_deployed_mode_ends_the_run_with_the_error(
    g: Graph, eos_registry: NodeRegistry
) -> None:
    left = g.add_node("numbers", settings={"count": 100})
    right = g.add_node("numbers", settings={"count": 1})
    z = g.add_node("zip")
    g.connect(left, "out", z, "a")
    g.connect(right, "out", z, "b")
    rt = GraphRuntime(g, eos_registry)
    await rt.start()
    with pytest.raises(StallError, match="finished after 1 packets"):
        await asyncio.wait_for(rt.wait(), 10)
    await rt.aclose()


def test_stop_drains_and_runs_finish(g: Graph, eos_registry: NodeRegistry) -> None:
    src = g.add_node("endless")
    total = g.add_node("total")
    g.connect(src, "out", total, "in")
    rt = GraphRuntime(g, eos_registry)

    async def scenario() -> Any:
        await rt.start()
        await asyncio.sleep(0.1)
        return await rt.stop()

    result = rt._loops.run(scenario())
    received = rt.stats.node(total).received
    assert received > 0
    assert result.outputs[f"{total}.out"] == [sum(range(received))]
    rt.close()


def test_a_firing_waiting_for_room_gives_up_its_concurrency_slot(
    g: Graph, eos_registry: NodeRegistry
) -> None:
    # one slot; 'first' fills the size-1 edge and waits for room; 'second' must still run
    src = g.add_node("numbers", settings={"count": 20})
    first = g.add_node("twice")
    second = g.add_node("twice")
    g.connect(src, "out", first, "in")
    g.connect(first, "out", second, "in", buffer={"size": 1})
    rt = GraphRuntime(g, eos_registry, max_concurrency=1)
    result = rt._loops.run(asyncio.wait_for(rt.run_async(), 20))
    assert len(result.outputs[f"{second}.out"]) == 20 * 2 * 2
    rt.close()
