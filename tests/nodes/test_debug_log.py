from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa
import pytest

from dataflow_jupyter.node import DataFlowNode, NodeContext, PureNode
from dataflow_jupyter.packets import DataPacket
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.spec import SettingsError


@pytest.fixture
def debug_log() -> type[DataFlowNode]:
    registry = NodeRegistry(
        paths=[],
        include_builtin=True,
        include_env=False,
        include_cwd=False,
        include_entry_points=False,
    )
    assert registry.problems == []
    return registry.get("debug-log", "1.0.0").load()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="dataflow_jupyter.nodes")
    return caplog


def drive(node: Any, values: list[DataPacket]) -> list[tuple[str, DataPacket]]:
    """Source -> node -> sink: feed each packet, collect what the node returns and emits."""
    out: list[tuple[str, DataPacket]] = []

    async def emit(port: str, value: Any) -> None:  # pragma: no cover - debug-log never emits
        out.append((port, value))

    ctx = NodeContext(node.node_id, emit)
    for packet in values:
        result = node.process({"in": packet}, ctx)
        out.extend(result.items())
    return out


def test_the_spec(debug_log: type[DataFlowNode]) -> None:
    assert issubclass(debug_log, PureNode)
    assert not debug_log.process_is_async()
    assert debug_log.spec.category == "Debug"
    assert [p.name for p in debug_log.spec.ports.inputs] == ["in"]
    assert [p.name for p in debug_log.spec.ports.outputs] == ["out"]
    assert debug_log("dbg").settings == {"level": "info", "label": "", "maxChars": 500}


def test_passes_every_packet_through_unchanged(
    debug_log: type[DataFlowNode], logs: pytest.LogCaptureFixture
) -> None:
    packets = [DataPacket({"price": 101.5}), DataPacket([1, 2]), DataPacket(None)]
    out = drive(debug_log("dbg", {"label": "prices"}), packets)
    assert out == [("out", p) for p in packets]
    assert all(got is sent for (_, got), sent in zip(out, packets, strict=True))
    assert [(r.name, r.levelno, r.getMessage()) for r in logs.records] == [
        ("dataflow_jupyter.nodes", logging.INFO, 'prices: {"price": 101.5}'),
        ("dataflow_jupyter.nodes", logging.INFO, "prices: [1, 2]"),
        ("dataflow_jupyter.nodes", logging.INFO, "prices: null"),
    ]


def test_the_label_defaults_to_the_node_id_and_the_level_is_a_setting(
    debug_log: type[DataFlowNode], logs: pytest.LogCaptureFixture
) -> None:
    drive(debug_log("dbg", {"level": "warning"}), [DataPacket("héllo")])
    drive(debug_log("quiet", {"level": "debug"}), [DataPacket(3)])
    assert [(r.levelno, r.getMessage()) for r in logs.records] == [
        (logging.WARNING, 'dbg: "héllo"'),
        (logging.DEBUG, "quiet: 3"),
    ]


def test_long_values_are_cut_at_max_chars(
    debug_log: type[DataFlowNode], logs: pytest.LogCaptureFixture
) -> None:
    drive(debug_log("dbg", {"maxChars": 10}), [DataPacket("x" * 50)])
    assert logs.records[0].getMessage() == 'dbg: "xxxxxxxxx... (42 more characters)'


def test_a_table_is_summarised_not_printed(
    debug_log: type[DataFlowNode], logs: pytest.LogCaptureFixture
) -> None:
    table = pa.table({"price": [1.0, 2.0, 3.0], "sym": ["a", "b", "c"]})
    packet = DataPacket(binary_value=table)
    out = drive(debug_log("dbg"), [packet])
    assert out == [("out", packet)]
    assert out[0][1].binary_value is table
    assert logs.records[0].getMessage() == "dbg: table of 3 rows (price: double, sym: string)"


def test_the_last_twenty_lines_are_kept(debug_log: type[DataFlowNode]) -> None:
    node: Any = debug_log("dbg")
    drive(node, [DataPacket(i) for i in range(25)])
    assert list(node.recent) == [f"dbg: {i}" for i in range(5, 25)]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"level": "verbose"}, "setting 'level': expects one of"),
        ({"maxChars": 0}, "setting 'maxChars': must be at least 1"),
        ({"maxChars": "x"}, "setting 'maxChars': expects an integer"),
        ({"label": 5}, "setting 'label': expects a string"),
        ({"lable": "typo"}, "unknown setting 'lable'"),
    ],
)
def test_invalid_settings_are_refused(
    debug_log: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        debug_log("dbg", settings)
