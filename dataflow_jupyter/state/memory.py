"""MemoryState: node state in a dict; gone when the process ends."""

from __future__ import annotations

import copy
from typing import Any

import pyarrow as pa

from dataflow_jupyter.state._keys import check_key

__all__ = ["MemoryState"]


class MemoryState:
    """A ``StateAdapter`` in memory. Values are copied on write (tables are immutable)."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    async def get(self, key: str, default: Any = None) -> Any:
        value = self._data.get(check_key(key), default)
        return value if isinstance(value, pa.Table) else copy.deepcopy(value)

    async def set(self, key: str, value: Any) -> None:
        self._data[check_key(key)] = value if isinstance(value, pa.Table) else copy.deepcopy(value)

    async def delete(self, key: str) -> None:
        self._data.pop(check_key(key), None)

    async def keys(self, prefix: str = "") -> list[str]:
        return sorted(key for key in self._data if key.startswith(prefix))

    async def close(self) -> None:
        return None
