"""State adapters: where stateful nodes keep what must outlive one firing.

A ``StateAdapter`` is a small async key-value store. Keys are ``/``-separated paths
(``graph/node/key``); values are JSON-compatible or Arrow tables. Three adapters: memory
(``MemoryState``), a folder of files replaced atomically (``FileState``) and Redis
(``dataflow_jupyter.state.redis.RedisState``, imported on demand: redis-py is slow to
import). A node sees a ``NamespacedState``: the same calls, under its own prefix, so two
nodes never see each other's keys.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from dataflow_jupyter.state._keys import StateKeyError, check_key
from dataflow_jupyter.state.file import FileState, StateCorruptError
from dataflow_jupyter.state.memory import MemoryState

__all__ = [
    "FileState",
    "MemoryState",
    "NamespacedState",
    "StateAdapter",
    "StateCorruptError",
    "StateKeyError",
]


@runtime_checkable
class StateAdapter(Protocol):
    """An async key-value store for node state."""

    async def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key``, or ``default``."""
        ...

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-compatible or an Arrow table) at ``key``, durably."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    async def keys(self, prefix: str = "") -> list[str]:
        """Every key starting with ``prefix``, sorted."""
        ...

    async def close(self) -> None:
        """Release connections and files."""
        ...


class NamespacedState:
    """A node's view of a ``StateAdapter``: every key lives under ``namespace/``."""

    __slots__ = ("_adapter", "_prefix", "namespace")

    def __init__(self, adapter: StateAdapter, namespace: str) -> None:
        self._adapter = adapter
        self.namespace = check_key(namespace)
        self._prefix = namespace + "/"

    async def get(self, key: str, default: Any = None) -> Any:
        return await self._adapter.get(self._prefix + check_key(key), default)

    async def set(self, key: str, value: Any) -> None:
        await self._adapter.set(self._prefix + check_key(key), value)

    async def delete(self, key: str) -> None:
        await self._adapter.delete(self._prefix + check_key(key))

    async def keys(self, prefix: str = "") -> list[str]:
        found = await self._adapter.keys(self._prefix + prefix)
        return [key.removeprefix(self._prefix) for key in found]
