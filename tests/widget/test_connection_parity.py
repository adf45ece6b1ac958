"""The canvas refuses exactly the connections the kernel refuses, with the same reason.

The canvas checks a connection while it is dragged, without asking the kernel, so
``labextension/src/canvas/connections.ts`` mirrors ``types.connection_problems``. This runs the
TypeScript (bundled by esbuild, in node) over every pair of port types and over narrowed ports
(table columns, object schemas, schema ids and versions), and compares its first reason with
the kernel's.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dataflow_jupyter.ports import PortSchema, PortType, connection_problems
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.widget.catalog import build_catalog

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
SCRIPT = LABEXTENSION / "scripts" / "port-problems.mjs"

NARROWED = [
    ({"type": "table", "columns": {"a": "int64"}}, {"type": "table", "columns": {"a": "int64"}}),
    ({"type": "table", "columns": {"a": "int64"}}, {"type": "table", "columns": {"a": "double"}}),
    ({"type": "table", "columns": {"a": "double"}}, {"type": "table", "columns": {"a": "float64"}}),
    ({"type": "table", "columns": {"s": "utf8"}}, {"type": "table", "columns": {"s": "string"}}),
    ({"type": "table", "columns": {"b": "bool"}}, {"type": "table", "columns": {"b": "boolean"}}),
    ({"type": "table", "columns": {"a": "int64"}}, {"type": "table", "columns": {"z": "int64"}}),
    ({"type": "table"}, {"type": "table", "columns": {"a": "int64"}}),
    ({"type": "any"}, {"type": "table", "columns": {"a": "int64"}}),
    (
        {"type": "object", "schema": {"properties": {"p": {"type": "number"}}}},
        {"type": "object", "schema": {"required": ["p", "q"]}},
    ),
    (
        {"type": "object", "schema": {"properties": {"p": {"type": "number"}}}},
        {"type": "object", "schema": {"properties": {"p": {"type": "string"}}}},
    ),
    (
        {"type": "object", "schema": {"properties": {"p": {"type": "number"}}}},
        {"type": "object", "schema": {"required": ["p"], "properties": {"p": {"type": "number"}}}},
    ),
    (
        {"type": "object", "schemaId": "tick", "schemaVersion": "1.2.0"},
        {"type": "object", "schemaId": "tick", "schemaVersion": "1.0.0"},
    ),
    (
        {"type": "object", "schemaId": "tick", "schemaVersion": "2.0.0"},
        {"type": "object", "schemaId": "tick", "schemaVersion": "1.0.0"},
    ),
    ({"type": "object", "schemaId": "tick"}, {"type": "object", "schemaId": "trade"}),
    ({"type": "any", "schemaId": "tick"}, {"type": "object", "schemaId": "trade"}),
]


def kernel_verdict(source: dict[str, Any], target: dict[str, Any]) -> str | None:
    def schema(port: dict[str, Any]) -> PortSchema:
        return PortSchema(
            type=PortType(port["type"]),
            json_schema=port.get("schema"),
            columns=port.get("columns"),
            schema_id=port.get("schemaId"),
            schema_version=port.get("schemaVersion"),
        )

    problems = connection_problems(schema(source), schema(target))
    return problems[0] if problems else None


def canvas_verdicts(cases: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[str | None]:
    node = shutil.which("node")
    assert node is not None, "node is not installed: the canvas needs Node 20+"
    if not (LABEXTENSION / "node_modules" / "esbuild").is_dir():
        pytest.fail("labextension/node_modules is missing: run `npm ci` in labextension/")
    rules = build_catalog(NodeRegistry(paths=[]))["connections"]
    answer = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps({"rules": rules, "cases": cases}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    verdicts: list[str | None] = json.loads(answer.stdout)
    return verdicts


def test_the_canvas_and_the_kernel_agree_on_every_connection() -> None:
    bare = [
        ({"type": a.value}, {"type": b.value}) for a, b in itertools.product(PortType, repeat=2)
    ]
    cases = bare + NARROWED
    canvas = canvas_verdicts(cases)
    disagreements = [
        (source, target, kernel, seen)
        for (source, target), seen in zip(cases, canvas, strict=True)
        if (kernel := kernel_verdict(source, target)) != seen
    ]
    assert disagreements == []
    assert sum(verdict is None for verdict in canvas) > 10  # some connect, and
    assert sum(verdict is not None for verdict in canvas) > 10  # some are refused
