"""Both sides of the widget protocol name the same messages with the same fields.

``labextension/src/protocol.ts`` is read with regular expressions: each ``export interface
Name [extends Parent] { field: type; ... }`` block, and the ``FrontendMessage`` /
``KernelMessage`` unions.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from dataflow_jupyter.widget import protocol

PROTOCOL_TS = Path(__file__).resolve().parents[2] / "labextension" / "src" / "protocol.ts"
INTERFACE = re.compile(r"export interface (\w+)(?:\s+extends\s+(\w+))?\s*\{(.*?)\n\}", re.DOTALL)
FIELD = re.compile(r"^\s*(\w+)\??\s*:\s*([^;]+);", re.MULTILINE)
UNION = re.compile(r"export type (\w+)\s*=\s*((?:\s*\|?\s*\w+)+)\s*;")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


@pytest.fixture(scope="module")
def typescript() -> str:
    if not PROTOCOL_TS.is_file():
        pytest.fail(f"{PROTOCOL_TS} is missing: the front end's half of the protocol")
    return COMMENT.sub("", PROTOCOL_TS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def interfaces(typescript: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name, parent, body in INTERFACE.findall(typescript):  # a parent comes before its child
        own = {field: kind.strip() for field, kind in FIELD.findall(body)}
        found[name] = {**found[parent], **own} if parent else own
    return found


@pytest.fixture(scope="module")
def unions(typescript: str) -> dict[str, list[str]]:
    return {
        name: [part.strip() for part in members.split("|") if part.strip()]
        for name, members in UNION.findall(typescript)
    }


def message_types(
    union: str, interfaces: dict[str, dict[str, str]], unions: dict[str, list[str]]
) -> dict[str, set[str]]:
    """``{"type": {fields}}`` for each interface of the union."""
    out = {}
    for interface in unions[union]:
        fields = interfaces[interface]
        literal = re.fullmatch(r'"([\w-]+)"', fields["type"])
        assert literal, f"{interface}.type is not a string literal: {fields['type']}"
        out[literal.group(1)] = set(fields)
    return out


def python_side(messages: dict[str, type]) -> dict[str, set[str]]:
    out = {}
    for kind, typed_dict in messages.items():
        hints = typing.get_type_hints(typed_dict)
        assert typing.get_args(hints["type"]) == (kind,), f"{typed_dict.__name__}.type"
        out[kind] = set(hints)
    return out


def test_the_parser_reads_the_file(
    interfaces: dict[str, dict[str, str]], unions: dict[str, list[str]]
) -> None:
    assert {"FrontendMessage", "KernelMessage"} <= set(unions)
    assert interfaces["InspectMessage"]["limit"] == "number"
    assert interfaces["NodeStatus"]["error"] == "string | null"


def test_front_end_to_kernel_messages_agree(
    interfaces: dict[str, dict[str, str]], unions: dict[str, list[str]]
) -> None:
    typescript = message_types("FrontendMessage", interfaces, unions)
    assert typescript == python_side(protocol.FRONTEND_MESSAGES)


def test_kernel_to_front_end_messages_agree(
    interfaces: dict[str, dict[str, str]], unions: dict[str, list[str]]
) -> None:
    typescript = message_types("KernelMessage", interfaces, unions)
    assert typescript == python_side(protocol.KERNEL_MESSAGES)


@pytest.mark.parametrize("name", ["StatusSnapshot", "NodeStatus", "EdgeStatus"])
def test_shared_shapes_agree(name: str, interfaces: dict[str, dict[str, str]]) -> None:
    assert set(interfaces[name]) == set(typing.get_type_hints(getattr(protocol, name)))


@pytest.mark.parametrize("name", ["RunState", "NodeState", "RunsOn"])
def test_states_agree(typescript: str, name: str) -> None:
    match = re.search(rf"export type {name}\s*=\s*([^;]+);", typescript)
    assert match
    values = set(re.findall(r'"([\w-]*)"', match.group(1)))
    assert values == set(typing.get_args(getattr(protocol, name)))


def test_the_node_status_message_is_a_snapshot_with_a_type() -> None:
    snapshot = set(typing.get_type_hints(protocol.StatusSnapshot))
    message = set(typing.get_type_hints(protocol.NodeStatusMessage))
    assert message == snapshot | {"type"}
