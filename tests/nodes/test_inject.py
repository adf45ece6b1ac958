from __future__ import annotations

import asyncio
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from dataflow_jupyter.node import DataFlowNode, IONode, NodeContext
from dataflow_jupyter.packets import DataPacket
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.spec import SettingsError


@pytest.fixture
def inject() -> type[DataFlowNode]:
    registry = NodeRegistry(
        paths=[],
        include_builtin=True,
        include_env=False,
        include_cwd=False,
        include_entry_points=False,
    )
    assert registry.problems == []
    return registry.get("inject", "1.0.0").load()


async def run_source(node: Any) -> list[tuple[str, DataPacket]]:
    out: list[tuple[str, DataPacket]] = []

    async def emit(port: str, value: Any) -> None:
        out.append((port, value))

    await node.run(NodeContext(node.node_id, emit))
    return out


def test_the_spec_is_a_source_with_one_output(inject: type[DataFlowNode]) -> None:
    assert issubclass(inject, IONode)
    assert inject.is_source()
    assert inject.spec.category == "Input"
    assert inject.spec.ports.inputs == []
    assert [p.name for p in inject.spec.ports.outputs] == ["out"]
    node = inject("inj")
    assert node.settings == {"value": None, "count": 1, "intervalMs": 0}


async def test_by_default_one_null_trigger(inject: type[DataFlowNode]) -> None:
    out = await run_source(inject("inj"))
    assert [(port, packet.value) for port, packet in out] == [("out", None)]


async def test_emits_the_value_count_times_each_a_new_trace(inject: type[DataFlowNode]) -> None:
    out = await run_source(inject("inj", {"value": {"price": 101.5}, "count": 3}))
    assert [(port, packet.value) for port, packet in out] == [("out", {"price": 101.5})] * 3
    packets = [packet for _, packet in out]
    assert all(isinstance(p, DataPacket) for p in packets)
    assert len({p.trace_id for p in packets}) == 3
    assert len({p.packet_id for p in packets}) == 3
    assert {p.origin_node for p in packets} == {"inj"}
    assert all(p.parents == () for p in packets)


async def test_each_emission_is_a_copy_of_the_setting(inject: type[DataFlowNode]) -> None:
    node = inject("inj", {"value": {"items": [1]}, "count": 2})
    first, second = (packet for _, packet in await run_source(node))
    first.value["items"].append(2)
    assert second.value == {"items": [1]}
    assert node.settings["value"] == {"items": [1]}


async def test_waits_interval_ms_between_emissions(
    inject: type[DataFlowNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, Any]] = []

    async def fake_sleep(seconds: float) -> None:
        events.append(("sleep", seconds))

    module = sys.modules[inject.__module__]
    monkeypatch.setattr(module, "asyncio", SimpleNamespace(sleep=fake_sleep))
    node = inject("inj", {"value": "tick", "count": 3, "intervalMs": 250})

    async def emit(port: str, value: DataPacket) -> None:
        events.append(("emit", value.value))

    await node.run(NodeContext("inj", emit))
    assert events == [
        ("emit", "tick"),
        ("sleep", 0.25),
        ("emit", "tick"),
        ("sleep", 0.25),
        ("emit", "tick"),
    ]


async def test_count_zero_emits_until_cancelled(inject: type[DataFlowNode]) -> None:
    node = inject("inj", {"value": 1, "count": 0, "intervalMs": 1})
    out: list[Any] = []
    enough = asyncio.Event()

    async def emit(port: str, value: DataPacket) -> None:
        out.append(value.value)
        if len(out) >= 5:
            enough.set()

    task = asyncio.create_task(node.run(NodeContext("inj", emit)))
    await asyncio.wait_for(enough.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(out) >= 5
    assert set(out) == {1}


def test_count_zero_needs_an_interval(inject: type[DataFlowNode]) -> None:
    with pytest.raises(ValueError, match=r"count 0 emits until stopped and needs intervalMs > 0"):
        inject("inj", {"count": 0})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"count": "x"}, "setting 'count': expects an integer"),
        ({"count": 1.5}, "setting 'count': expects an integer"),
        ({"count": -1}, "setting 'count': must be at least 0"),
        ({"intervalMs": "fast"}, "setting 'intervalMs': expects a number"),
        ({"intervalMs": -5}, "setting 'intervalMs': must be at least 0"),
        ({"value": {1, 2}}, "setting 'value': expects a JSON value"),
        ({"valu": 1}, "unknown setting 'valu'"),
    ],
)
def test_invalid_settings_are_refused(
    inject: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        inject("inj", settings)
    assert info.value.type_id == "inject"
