"""A small node registry for the graph tests: hand-made specs, no folders on disk."""

from __future__ import annotations

from typing import Any

from dataflow_jupyter import NodeRegistry, NodeSpec


def spec(type_id: str, version: str = "1.0.0", **fields: Any) -> NodeSpec:
    return NodeSpec.model_validate(
        {"id": type_id, "version": version, "category": "Test", "name": type_id, **fields}
    )


def port(name: str, type_: str = "any", **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **fields}


def make_registry() -> NodeRegistry:
    """source (out: number, two versions), filter (in -> out, expression required), label
    (string in/out), sink, merge (a required, b optional), table-source and table-sink
    (columns that do not match)."""
    registry = NodeRegistry(
        include_builtin=False, include_env=False, include_cwd=False, include_entry_points=False
    )
    number_out = {"outputs": [port("out", "number")]}
    specs = [
        spec(
            "source",
            "1.0.0",
            ports=number_out,
            settings=[{"name": "count", "type": "integer", "default": 1, "minimum": 0}],
        ),
        spec("source", "2.0.0", ports=number_out),
        spec(
            "filter",
            ports={"inputs": [port("in")], "outputs": [port("out")]},
            settings=[{"name": "expression", "type": "expression", "required": True}],
        ),
        spec("label", ports={"inputs": [port("in", "string")], "outputs": [port("out", "string")]}),
        spec("sink", ports={"inputs": [port("in")]}),
        spec(
            "merge",
            ports={"inputs": [port("a"), port("b", required=False)], "outputs": [port("out")]},
        ),
        spec(
            "table-source",
            ports={
                "outputs": [port("rows", "table", columns={"price": "float64", "sym": "string"})]
            },
        ),
        spec(
            "table-sink",
            ports={
                "inputs": [port("rows", "table", columns={"price": "float64", "volume": "int64"})]
            },
        ),
    ]
    for item in specs:
        registry.register(item)
    return registry
