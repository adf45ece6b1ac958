"""Helpers shared by the test folders (``tests/`` is on the path through its conftest)."""

from __future__ import annotations

import socket
from typing import Any

from dataflow_jupyter import NodeSpec


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spec(type_id: str, inputs: list[Any], outputs: list[Any], **extra: Any) -> NodeSpec:
    """A test node's spec: ports by name (or as dicts), version 1.0.0 unless ``version=``."""
    return NodeSpec.model_validate(
        {
            "id": type_id,
            "version": extra.pop("version", "1.0.0"),
            "category": "Test",
            "name": type_id,
            "ports": {
                "inputs": [p if isinstance(p, dict) else {"name": p} for p in inputs],
                "outputs": [p if isinstance(p, dict) else {"name": p} for p in outputs],
            },
            **extra,
        }
    )
