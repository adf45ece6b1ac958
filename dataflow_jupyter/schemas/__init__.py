"""The JSON Schemas shipped in the package, so editors can validate the files people write.

- ``node.schema.json``: a node folder's ``schema.json`` (from ``NodeSpec``);
- ``graph.schema.json``: a ``.dfgraph.json`` graph document (from ``GraphSchema``).

Regenerate them with ``python -m dataflow_jupyter.schemas`` (``make schemas``); a test checks
that the shipped files are current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from dataflow_jupyter.graph import graph_json_schema
from dataflow_jupyter.spec import node_spec_json_schema

__all__ = ["SCHEMA_DIR", "generated_schemas", "schema_path", "write_schemas"]

SCHEMA_DIR: Final = Path(__file__).parent


def generated_schemas() -> dict[str, dict[str, Any]]:
    """File name → the JSON Schema as generated from the models now."""
    return {
        "node.schema.json": node_spec_json_schema(),
        "graph.schema.json": graph_json_schema(),
    }


def schema_path(name: str) -> Path:
    """Where the shipped schema ``name`` (``node`` or ``graph``) lives."""
    return SCHEMA_DIR / f"{name}.schema.json"


def render(schema: dict[str, Any]) -> str:
    """A schema as the text written to disk."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas() -> list[Path]:
    """Write every schema next to this module; return the paths written."""
    written = []
    for name, schema in generated_schemas().items():
        path = SCHEMA_DIR / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
