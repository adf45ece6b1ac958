from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from dataflow_jupyter import Graph, GraphRuntime, NodeRegistry, NodeSpec
from dataflow_jupyter.node import IONode, NodeContext, StatefulNode
from dataflow_jupyter.packets import DataPacket
from dataflow_jupyter.registry import builtin_nodes_path
from dataflow_jupyter.spec import SettingsError
from dataflow_jupyter.state import FileState, MemoryState, StateAdapter

if TYPE_CHECKING:
    from pathlib import Path

MS = 1_000_000  # ns


class Packets(IONode):
    """A test source: emits each ``[value, timestamp_ms]`` of its ``packets`` setting."""

    async def run(self, ctx: NodeContext) -> None:
        for value, ms in self.settings["packets"]:
            await ctx.emit("out", DataPacket(value, origin_node=self.node_id, timestamp=ms * MS))


@pytest.fixture
def registry() -> NodeRegistry:
    folder = builtin_nodes_path() / "Aggregation" / "SlidingWindow"
    registry = NodeRegistry(paths=[folder], include_builtin=False)
    assert registry.problems == []
    source = {
        "id": "packets",
        "version": "1.0.0",
        "category": "Test",
        "name": "Packets",
        "ports": {"outputs": [{"name": "out"}]},
        "settings": [{"name": "packets", "type": "json", "default": []}],
    }
    registry.register(NodeSpec.model_validate(source), Packets)
    return registry


def window_graph(
    registry: NodeRegistry, packets: list[Any], graph_id: str = "g", **settings: Any
) -> Graph:
    graph = Graph(id=graph_id, registry=registry)
    graph.add_node("packets", settings={"packets": packets}, id="src")
    graph.add_node("sliding-window", settings=settings, id="w")
    graph.connect("src.out", "w.in")
    return graph


def run(
    registry: NodeRegistry,
    packets: list[Any],
    state: StateAdapter | None = None,
    **settings: Any,
) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    """Source -> sliding-window: the rows of every table on ``out``, and every aggregate."""
    graph = window_graph(registry, packets, **settings)
    result = GraphRuntime(graph, registry, state=state or MemoryState()).run()
    assert result.ok, result.errors
    tables = result.outputs.get("w.out", [])
    assert all(isinstance(t, pa.Table) for t in tables)
    return [t.to_pylist() for t in tables], result.outputs.get("w.aggregate", [])


def xs(*values: int) -> list[dict[str, int]]:
    return [{"x": v} for v in values]


def test_the_spec(registry: NodeRegistry) -> None:
    window = registry.get("sliding-window", "1.0.0").load()
    assert issubclass(window, StatefulNode)
    assert window.process_is_async()
    spec = window.spec
    assert (spec.id, spec.version, spec.category) == ("sliding-window", "1.0.0", "Aggregation")
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "table"),
        ("aggregate", "object"),
        ("error", "error_packet"),
    ]
    assert window("w").settings == {
        "windowType": "count",
        "mode": "sliding",
        "size": 10,
        "durationMs": 60000,
        "keyField": "",
        "field": "",
    }
    with pytest.raises(SettingsError, match="'size': must be at least 1"):
        window("w", {"size": 0})
    with pytest.raises(SettingsError, match="'mode': expects one of"):
        window("w", {"mode": "hopping"})


def test_count_sliding(registry: NodeRegistry) -> None:
    packets = [[{"x": v}, v] for v in (1, 2, 3, 4, 5)]
    tables, aggregates = run(registry, packets, size=3, field="x")
    assert tables == [xs(1), xs(1, 2), xs(1, 2, 3), xs(2, 3, 4), xs(3, 4, 5)]
    assert aggregates == [
        {"count": 1, "sum": 1, "mean": 1.0, "min": 1, "max": 1},
        {"count": 2, "sum": 3, "mean": 1.5, "min": 1, "max": 2},
        {"count": 3, "sum": 6, "mean": 2.0, "min": 1, "max": 3},
        {"count": 3, "sum": 9, "mean": 3.0, "min": 2, "max": 4},
        {"count": 3, "sum": 12, "mean": 4.0, "min": 3, "max": 5},
    ]


def test_count_tumbling(registry: NodeRegistry) -> None:
    packets = [[{"x": v}, v] for v in (1, 2, 3, 4, 5)]
    tables, aggregates = run(registry, packets, mode="tumbling", size=2)
    assert tables == [xs(1, 2), xs(3, 4)]  # 5 waits in the open window
    assert aggregates == [{"count": 2}, {"count": 2}]


def test_time_sliding(registry: NodeRegistry) -> None:
    packets = [[{"x": ms}, ms] for ms in (0, 5, 10, 15, 30)]
    tables, aggregates = run(registry, packets, windowType="time", durationMs=10, field="x")
    assert tables == [xs(0), xs(0, 5), xs(5, 10), xs(10, 15), xs(30)]  # (end - 10 ms, end]
    assert [(a["start"], a["end"]) for a in aggregates] == [
        (-10 * MS, 0),
        (-5 * MS, 5 * MS),
        (0, 10 * MS),
        (5 * MS, 15 * MS),
        (20 * MS, 30 * MS),
    ]
    assert aggregates[2] == {
        "count": 2,
        "start": 0,
        "end": 10 * MS,
        "sum": 15,
        "mean": 7.5,
        "min": 5,
        "max": 10,
    }


def test_time_tumbling_emits_when_a_later_packet_closes_the_bucket(
    registry: NodeRegistry,
) -> None:
    packets = [[{"x": ms}, ms] for ms in (1, 4, 12, 13, 25, 41)]
    tables, aggregates = run(registry, packets, windowType="time", mode="tumbling", durationMs=10)
    assert tables == [xs(1, 4), xs(12, 13), xs(25)]  # [40, 50) is still open
    assert aggregates == [
        {"count": 2, "start": 0, "end": 10 * MS},
        {"count": 2, "start": 10 * MS, "end": 20 * MS},
        {"count": 1, "start": 20 * MS, "end": 30 * MS},
    ]


def test_keyed_count_windows(registry: NodeRegistry) -> None:
    trades = [("A", 1), ("B", 10), ("A", 2), ("B", 20), ("A", 3)]
    packets = [[{"sym": s, "p": p}, i] for i, (s, p) in enumerate(trades)]
    tables, aggregates = run(registry, packets, mode="tumbling", size=2, keyField="sym", field="p")
    assert tables == [
        [{"sym": "A", "p": 1}, {"sym": "A", "p": 2}],
        [{"sym": "B", "p": 10}, {"sym": "B", "p": 20}],
    ]
    assert aggregates == [
        {"count": 2, "key": "A", "sum": 3, "mean": 1.5, "min": 1, "max": 2},
        {"count": 2, "key": "B", "sum": 30, "mean": 15.0, "min": 10, "max": 20},
    ]
    _, sliding = run(registry, packets, size=2, keyField="sym")
    assert [(a["key"], a["count"]) for a in sliding] == [
        ("A", 1),
        ("B", 1),
        ("A", 2),
        ("B", 2),
        ("A", 2),
    ]


def test_keyed_time_windows(registry: NodeRegistry) -> None:
    trades = [("A", 1), ("B", 3), ("A", 12), ("B", 14), ("A", 25)]
    packets = [[{"sym": s, "t": ms}, ms] for s, ms in trades]
    tables, aggregates = run(
        registry, packets, windowType="time", mode="tumbling", durationMs=10, keyField="sym"
    )
    # a packet of any key closes every older bucket: A@12 closes A's and B's [0, 10)
    assert tables == [
        [{"sym": "A", "t": 1}],
        [{"sym": "B", "t": 3}],
        [{"sym": "A", "t": 12}],
        [{"sym": "B", "t": 14}],
    ]
    assert [(a["key"], a["start"]) for a in aggregates] == [
        ("A", 0),
        ("B", 0),
        ("A", 10 * MS),
        ("B", 10 * MS),
    ]
    tables, _ = run(registry, packets, windowType="time", durationMs=15, keyField="sym")
    assert [[row["t"] for row in rows] for rows in tables] == [[1], [3], [1, 12], [3, 14], [12, 25]]


def test_a_late_packet_counts_as_arriving_at_the_newest_time(registry: NodeRegistry) -> None:
    packets = [[{"x": 1}, 10], [{"x": 2}, 3], [{"x": 3}, 25]]
    tables, aggregates = run(registry, packets, windowType="time", durationMs=10)
    assert tables == [xs(1), xs(1, 2), xs(3)]
    assert [a["end"] for a in aggregates] == [10 * MS, 10 * MS, 25 * MS]


def test_values_that_are_not_dicts_and_columns_that_disagree(registry: NodeRegistry) -> None:
    tables, _ = run(registry, [[1.5, 1], [2, 2]], size=2)
    assert tables == [[{"value": 1.5}], [{"value": 1.5}, {"value": 2.0}]]
    tables, _ = run(registry, [[{"a": 1}, 1], [{"a": "text"}, 2]], size=2)
    assert tables[-1] == [{"value": '{"a": 1}'}, {"value": '{"a": "text"}'}]


def test_refused_packets_go_to_error_and_change_nothing(registry: NodeRegistry) -> None:
    packets = [[{"sym": "A", "p": 1}, 1], [{"p": 2}, 2], [{"sym": "A", "p": "x"}, 3], [7, 4]]
    packets.append([{"sym": "A", "p": None}, 5])
    graph = window_graph(registry, packets, size=5, keyField="sym", field="p")
    result = GraphRuntime(graph, registry).run()
    assert [e.message for e in result.errors] == [
        "sliding-window 'w': the packet's value has no field 'sym' (keyField); "
        "got a dict with ['p']. Send dicts with that field or change keyField",
        "sliding-window 'w': field 'p' must be a number, missing or null; got str 'x'",
        "sliding-window 'w': the packet's value has no field 'sym' (keyField); "
        "got 7. Send dicts with that field or change keyField",
    ]
    assert [t.to_pylist() for t in result.outputs["w.out"]] == [
        [{"sym": "A", "p": 1}],
        [{"sym": "A", "p": 1}, {"sym": "A", "p": None}],
    ]
    assert result.outputs["w.aggregate"][-1] == {
        "count": 2,
        "key": "A",
        "sum": 1,
        "mean": 1.0,
        "min": 1,
        "max": 1,
    }


def test_the_state_layout(registry: NodeRegistry, tmp_path: Path) -> None:
    packets = [[{"sym": "A/1", "p": 1}, 1], [{"sym": None, "p": 2}, 2], [{"sym": "x" * 300}, 3]]
    run(registry, packets, FileState(tmp_path), keyField="sym")
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    long_name = next(f for f in files if "sha256-" in f)
    assert files == ["g/w/window/%22A%2F1%22.json", "g/w/window/null.json", long_name]
    stored = json.loads((tmp_path / "g/w/window/%22A%2F1%22.json").read_text())
    assert stored == {"key": "A/1", "items": [[1 * MS, {"sym": "A/1", "p": 1}]]}


@pytest.mark.parametrize("backend", ["file", pytest.param("redis", marks=pytest.mark.integration)])
async def test_windows_survive_a_restart(
    registry: NodeRegistry, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    def adapter() -> StateAdapter:
        if backend == "file":
            return FileState(tmp_path / "state")
        from dataflow_jupyter.state.redis import RedisState

        return RedisState(request.getfixturevalue("redis_server").url)

    async def run_once(packets: list[Any], graph_id: str = "g", **settings: Any) -> list[Any]:
        state = adapter()
        graph = window_graph(registry, packets, graph_id, **settings)
        result = await GraphRuntime(graph, registry, state=state).run_async()
        await state.close()
        assert result.ok, result.errors
        return [t.to_pylist() for t in result.outputs.get("w.out", [])]

    assert await run_once([[{"x": 1}, 1], [{"x": 2}, 2]], size=3) == [xs(1), xs(1, 2)]
    assert await run_once([[{"x": 3}, 3], [{"x": 4}, 4]], size=3) == [xs(1, 2, 3), xs(2, 3, 4)]
    # a tumbling time window opened before the restart is closed by a packet after it
    timed = {"windowType": "time", "mode": "tumbling", "durationMs": 10, "keyField": "k"}
    first = [[{"k": "a", "x": 5}, 5], [{"k": "b", "x": 6}, 6]]
    assert await run_once(first, "timed", **timed) == []
    assert await run_once([[{"k": "b", "x": 15}, 15]], "timed", **timed) == [
        [{"k": "a", "x": 5}],
        [{"k": "b", "x": 6}],
    ]


def test_a_second_run_of_one_runtime_goes_on_from_the_windows(registry: NodeRegistry) -> None:
    graph = window_graph(registry, [[{"x": 1}, 1], [{"x": 2}, 2]], size=3)
    runtime = GraphRuntime(graph, registry, state=MemoryState())
    assert [t.to_pylist() for t in runtime.run().outputs["w.out"]] == [xs(1), xs(1, 2)]
    second = runtime.run().outputs["w.out"]
    assert [t.to_pylist() for t in second] == [xs(1, 2, 1), xs(2, 1, 2)]
