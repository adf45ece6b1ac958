"""The ``catalog`` trait: what the canvas may place, and which port types may be wired.

``{"nodes": [spec, ...], "connections": {source_type: {target_type: reason | None}}}``.
``nodes`` holds every installed spec, every version (graphs lock versions, so the canvas
must know the old ones too), each as its ``schema.json`` content (camelCase, ``None`` left
out), in the registry's catalog order (category, name, version). ``connections`` is
``types.connection_problems`` asked for each pair of bare port types: ``None`` where the
kernel allows the connection, else its reason. The canvas checks narrowed ports (columns,
object schemas, schema versions) itself, in ``connections.ts``; ``test_connection_parity``
holds it to the kernel's verdicts, and deploying checks the whole graph again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataflow_jupyter.ports import PortSchema, PortType, connection_problems

if TYPE_CHECKING:
    from dataflow_jupyter.registry import NodeRegistry

__all__ = ["build_catalog", "connection_rules"]


def connection_rules() -> dict[str, dict[str, str | None]]:
    """For each source port type and target port type, why they may not connect (or ``None``)."""
    rules: dict[str, dict[str, str | None]] = {}
    for source in PortType:
        row: dict[str, str | None] = {}
        for target in PortType:
            problems = connection_problems(PortSchema(source), PortSchema(target))
            row[target.value] = "; ".join(problems) or None
        rules[source.value] = row
    return rules


def build_catalog(registry: NodeRegistry) -> dict[str, Any]:
    """The ``catalog`` trait's value for ``registry``."""
    nodes = [
        spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        for spec in registry.catalog()
    ]
    return {"nodes": nodes, "connections": connection_rules()}
