from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from _testnodes import Sleeper

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.runtime.events import (
    NodeFailed,
    NodeFinished,
    NodeStatusChanged,
    RuntimeEvent,
)


def chain(graph: Graph, *steps: tuple[str, dict[str, Any]], buffer: Any = None) -> list[str]:
    ids = [graph.add_node(type_id, settings=settings) for type_id, settings in steps]
    for a, b in itertools.pairwise(ids):
        graph.connect(a, "out", b, "in", buffer=buffer)
    return ids


def test_inject_to_debug_log(graph: Graph, registry: NodeRegistry) -> None:
    src, log = chain(graph, ("inject", {"value": {"x": 1}, "count": 3}), ("debug-log", {}))
    result = GraphRuntime(graph, registry).run()
    assert result.outputs[f"{log}.out"] == [{"x": 1}] * 3
    assert result.ok
    traces = {p.trace_id for p in result.packets[f"{log}.out"]}
    assert len(traces) == 3  # every emission of a source starts a trace


def test_a_chain_keeps_order_and_derives_packets(graph: Graph, registry: NodeRegistry) -> None:
    ids = chain(graph, ("numbers", {"count": 200}), *[("add-one", {})] * 3)
    result = GraphRuntime(graph, registry).run()
    packets = result.packets[f"{ids[-1]}.out"]
    assert [p.value for p in packets] == [i + 3 for i in range(200)]
    assert packets[0].origin_node == ids[-1]
    assert len(packets[0].parents) == 1


async def test_run_async_and_run_inside_a_running_loop(
    graph: Graph, registry: NodeRegistry
) -> None:
    ids = chain(graph, ("numbers", {"count": 5}), ("add-one", {}))
    rt = GraphRuntime(graph, registry)
    assert (await rt.run_async()).outputs[f"{ids[1]}.out"] == [1, 2, 3, 4, 5]
    # a notebook cell calls run() while the kernel's loop runs
    assert rt.run().outputs[f"{ids[1]}.out"] == [1, 2, 3, 4, 5]


def test_backpressure_bounds_the_queue_and_slows_the_source(
    graph: Graph, registry: NodeRegistry
) -> None:
    src, sink = chain(
        graph, ("numbers", {"count": 40}), ("slow-sink", {"delayMs": 5}), buffer={"size": 4}
    )
    rt = GraphRuntime(graph, registry)
    started = time.perf_counter()
    result = rt.run()
    edge = rt.stats.edge("e1")
    assert edge.peak <= 4
    assert edge.dropped == 0
    assert result.outputs[f"{sink}.out"] == list(range(40))
    source = rt._session.nodes[src].instance  # type: ignore[union-attr]
    # unbounded, the source would finish at once; bounded, it waits for the sink
    assert source.emitted_at[-1] - started >= 0.5 * (40 - 4 - 1) * 0.005


@pytest.mark.parametrize(
    ("overflow", "expect_first"),
    [("drop_newest", True), ("drop_oldest", False)],
)
def test_drop_policies_count_what_they_drop(
    graph: Graph, registry: NodeRegistry, overflow: str, expect_first: bool
) -> None:
    src, sink = chain(
        graph,
        ("numbers", {"count": 50}),
        ("slow-sink", {"delayMs": 2}),
        buffer={"size": 4, "overflow": overflow},
    )
    rt = GraphRuntime(graph, registry)
    result = rt.run()
    delivered = result.outputs[f"{sink}.out"]
    edge = rt.stats.edge("e1")
    assert edge.dropped > 0
    assert len(delivered) + edge.dropped == 50
    assert (0 in delivered) is expect_first
    assert (49 in delivered) is not expect_first


def test_fire_all_zips_required_inputs_and_reuses_optional(
    graph: Graph, registry: NodeRegistry
) -> None:
    a = graph.add_node("numbers", settings={"count": 3})
    b = graph.add_node("numbers", settings={"count": 3})
    c = graph.add_node("inject", settings={"value": "opt", "count": 1})
    z = graph.add_node("zip")
    graph.connect(a, "out", z, "a")
    graph.connect(b, "out", z, "b")
    graph.connect(c, "out", z, "c")
    result = GraphRuntime(graph, registry).run()
    values = result.outputs[f"{z}.out"]
    assert [v[:2] for v in values] == [[0, 0], [1, 1], [2, 2]]
    # the optional port contributes its waiting packet, then the last value seen
    assert [v[2] for v in values][1:] == ["opt", "opt"]


def test_fire_any_fires_once_per_arriving_packet(graph: Graph, registry: NodeRegistry) -> None:
    a = graph.add_node("numbers", settings={"count": 2})
    b = graph.add_node("numbers", settings={"count": 3})
    n = graph.add_node("any-of")
    graph.connect(a, "out", n, "a")
    graph.connect(b, "out", n, "b")
    result = GraphRuntime(graph, registry).run()
    assert len(result.outputs[f"{n}.out"]) == 5


def test_ctx_emit_emits_several_packets(graph: Graph, registry: NodeRegistry) -> None:
    src, em = chain(graph, ("inject", {"value": [1, 2, 3]}), ("emitter", {}))
    result = GraphRuntime(graph, registry).run()
    assert result.outputs[f"{em}.out"] == [1, 2, 3]


def test_independent_branches_overlap_in_threads(graph: Graph, registry: NodeRegistry) -> None:
    for _ in range(2):
        chain(graph, ("numbers", {"count": 4}), ("sleeper", {"seconds": 0.05}))
    Sleeper.peak = 0
    started = time.perf_counter()
    GraphRuntime(graph, registry).run()
    elapsed = time.perf_counter() - started
    assert Sleeper.peak == 2
    assert elapsed < 8 * 0.05  # one after the other would take 0.4 s


def test_max_concurrency_is_honoured(graph: Graph, registry: NodeRegistry) -> None:
    for _ in range(3):
        chain(graph, ("numbers", {"count": 3}), ("sleeper", {"seconds": 0.02}))
    Sleeper.peak = 0
    GraphRuntime(graph, registry, max_concurrency=1).run()
    assert Sleeper.peak == 1
    Sleeper.peak = 0
    GraphRuntime(graph, registry, max_concurrency=2).run()
    assert Sleeper.peak == 2


def test_the_executor_is_injected(graph: Graph, registry: NodeRegistry) -> None:
    calls: list[str] = []

    class RecordingExecutor:
        inline = False  # every synchronous firing goes through submit

        async def submit(self, fn: Any, /, *args: Any) -> Any:
            calls.append(args[0])  # a batch of one node's firings: its node id first
            return fn(*args)

        async def close(self) -> None:
            return None

    ids = chain(graph, ("numbers", {"count": 2}), ("add-one", {}), ("add-one", {}))
    result = GraphRuntime(graph, registry, executor=RecordingExecutor()).run()
    assert result.outputs[f"{ids[2]}.out"] == [2, 3]
    assert set(calls) == {ids[1], ids[2]}  # every synchronous firing went through it


async def test_start_and_stop_leave_no_task_behind(graph: Graph, registry: NodeRegistry) -> None:
    src, sink = chain(graph, ("inject", {"value": 1, "count": 0, "intervalMs": 1}), ("add-one", {}))
    before = asyncio.all_tasks()
    rt = GraphRuntime(graph, registry)
    await rt.start()
    assert rt.running
    await asyncio.sleep(0.1)
    result = await rt.stop()
    assert not rt.running
    assert result is not None
    assert len(result.outputs[f"{sink}.out"]) > 5
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()


def test_a_type_mismatch_becomes_an_error_packet(graph: Graph, registry: NodeRegistry) -> None:
    src, bad = chain(graph, ("inject", {"value": 1}), ("wrong-type", {}))
    rt = GraphRuntime(graph, registry)
    result = rt.run()
    (error,) = result.errors
    assert error.code == "TYPE_MISMATCH"
    assert error.message.startswith(f"node {bad!r} port 'out' expects number; got str")
    assert len(rt.dlq) == 1


def test_frame_shows_metadata_next_to_the_payload(graph: Graph, registry: NodeRegistry) -> None:
    src, log = chain(graph, ("inject", {"value": {"price": 3.5}, "count": 2}), ("debug-log", {}))
    rt = GraphRuntime(graph, registry, frame_size=1)
    result = rt.run()
    frame = rt.frame(f"{log}.out")
    assert list(frame.columns) == [
        "packet_id", "trace_id", "origin_node", "timestamp", "schema_version", "price",
    ]  # fmt: skip
    assert frame["price"].tolist() == [3.5]  # the last N=1 packets
    assert result.frame(f"{src}.out")["origin_node"].tolist() == [src]
    with pytest.raises(KeyError, match=r"no port 'nope\.out'"):
        rt.frame("nope.out")


def test_subscribers_receive_errors(graph: Graph, registry: NodeRegistry) -> None:
    src, flaky = chain(graph, ("numbers", {"count": 3}), ("flaky", {"errorOn": [1]}))
    rt = GraphRuntime(graph, registry)
    events: list[RuntimeEvent] = []
    rt.subscribe(events.append)
    rt.run()
    errors = [e for e in events if isinstance(e, NodeFailed)]
    assert [e.node_id for e in errors] == [flaky]
    assert errors[0].error.message == "refused 1"
    statuses = {e.status for e in events if isinstance(e, NodeStatusChanged)}
    assert statuses == {"running", "done", "error"}
    assert {e.node_id for e in events if isinstance(e, NodeFinished)} == {src, flaky}


def test_progress_can_be_shown_and_turned_off(
    graph: Graph, registry: NodeRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    chain(graph, ("numbers", {"count": 300}), ("slow-sink", {"delayMs": 5}))
    GraphRuntime(graph, registry, progress=True).run()
    assert "packets in" in capsys.readouterr().err  # the line counts what the sources emitted
    GraphRuntime(graph, registry, progress=False).run()
    assert capsys.readouterr().err == ""


def test_the_log_traces_one_input_and_writes_parquet(
    graph: Graph, registry: NodeRegistry, tmp_path: Any
) -> None:
    import pandas as pd

    from dataflow_jupyter.runtime import ExecutionLog

    ids = chain(graph, ("numbers", {"count": 4}), ("add-one", {}), ("add-one", {}))
    log = ExecutionLog(path=tmp_path / "run.parquet")
    rt = GraphRuntime(graph, registry, log=log)
    result = rt.run()
    trace_id = result.packets[f"{ids[2]}.out"][0].trace_id
    path = rt.log.trace(trace_id)
    assert path["node_id"].tolist() == [ids[0], ids[1], ids[1], ids[2], ids[2]]
    assert path["kind"].tolist() == ["packet", "firing", "packet", "firing", "packet"]
    summary = rt.log.summary()
    assert summary.loc[ids[1], "firings"] == 4
    log.close()
    on_disk = pd.read_parquet(tmp_path / "run.parquet")
    assert len(on_disk) == len(rt.log.to_pandas())


async def test_a_second_run_is_refused_while_one_runs_in_the_background(
    graph: Graph, registry: NodeRegistry
) -> None:
    chain(graph, ("inject", {"value": 1, "count": 0, "intervalMs": 5}), ("add-one", {}))
    rt = GraphRuntime(graph, registry)
    await rt.start()
    with pytest.raises(RuntimeError, match="is running in the background"):
        await rt.run_async()
    with pytest.raises(RuntimeError, match="is running in the background"):
        rt.debugger()
    await rt.stop()


def test_a_timeout_holds_for_a_synchronous_inline_node(
    graph: Graph, registry: NodeRegistry
) -> None:
    from _testnodes import Sleeper

    from dataflow_jupyter.testing import spec

    registry.register(
        spec(
            "slow-inline",
            ["in"],
            ["out"],
            settings=[{"name": "seconds", "type": "number", "default": 0.3}],
            execution={"offload": "none", "timeoutMs": 30},
        ),
        type("SlowInline", (Sleeper,), {}),
    )
    chain(graph, ("inject", {"value": 1}), ("slow-inline", {}))
    (error,) = GraphRuntime(graph, registry).run().errors
    assert error.code == "TIMEOUT"
