"""A small node registry for the graph tests: hand-made specs, no folders on disk."""

from __future__ import annotations

from typing import Any

from dataflow_jupyter import NodeRegistry
from dataflow_jupyter.testing import node_registry, spec


def port(name: str, type_: str = "any", **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **fields}


def make_registry() -> NodeRegistry:
    """source (out: number, two versions), filter (in -> out, expression required), label
    (string in/out), sink, merge (a required, b optional), table-source and table-sink
    (columns that do not match)."""
    registry = node_registry()
    number_out = [port("out", "number")]
    specs = [
        spec(
            "source",
            [],
            number_out,
            settings=[{"name": "count", "type": "integer", "default": 1, "minimum": 0}],
        ),
        spec("source", [], number_out, version="2.0.0"),
        spec(
            "filter",
            [port("in")],
            [port("out")],
            settings=[{"name": "expression", "type": "expression", "required": True}],
        ),
        spec("label", [port("in", "string")], [port("out", "string")]),
        spec("sink", [port("in")]),
        spec("merge", [port("a"), port("b", required=False)], [port("out")]),
        spec(
            "table-source",
            [],
            [port("rows", "table", columns={"price": "float64", "sym": "string"})],
        ),
        spec(
            "table-sink",
            [port("rows", "table", columns={"price": "float64", "volume": "int64"})],
        ),
    ]
    for item in specs:
        registry.register(item)
    return registry
