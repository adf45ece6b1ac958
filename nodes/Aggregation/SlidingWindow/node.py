"""sliding-window: count or time windows, sliding or tumbling, one per key if asked.

Windows. A *count* window holds the last ``size`` packets; a *time* window the packets of
the last ``durationMs``, by packet timestamp. *Sliding* windows emit on every packet: a count
window its last ``size`` packets, a time window those with ``end - duration < t <= end``,
``end`` being the packet's time. *Tumbling* windows emit each window once and then start an
empty one: a count window when it holds ``size`` packets, a time window (the bucket
``start <= t < start + duration``, ``start`` a multiple of the duration since the epoch)
when a packet of any key arrives at or after the bucket's end; a stream that goes quiet
emits its last buckets only when the next packet comes. With ``keyField`` every value of
that field of the packet's value has a window of its own.

Time. A packet's time is its ``timestamp`` (ns). A packet older than the newest one seen
counts as arriving at the newest time, so a window never reopens and no packet is dropped.

Outputs. ``out``: the window's values as an Arrow table, one row per packet (dict values:
their fields as columns; other values: a column ``value``; values that share no Arrow type
per column: a column ``value`` of JSON text). ``aggregate``: ``count``, ``key`` (keyed
windows), ``start`` and ``end`` (time windows, ns), and ``sum``, ``mean``, ``min``, ``max``
of the numbers in ``field`` (when set; missing or null values are skipped, and each is
``None`` when there is no number). A packet whose value lacks ``keyField``, or whose
``field`` is not a number, is refused (an error on ``error``) and changes nothing.

State, under the node's namespace: one key per open window, ``window/<name>``, holding
``{"key": <key value>, "items": [[timestamp_ns, value], ...]}``, oldest first. ``<name>`` is
the key value as compact JSON, percent-encoded (``null`` for the one window of an unkeyed
node, ``%22AAPL%22`` for ``"AAPL"``), or ``sha256-<hex>`` when that is over 200 characters.
The windows are read at the first firing of each run and kept in memory.

A firing (1) checks the packet, (2) computes the new windows and every output, (3) writes
the state, (4) emits. A failure before (3) changes nothing, and the runtime counts the
firing complete only after (4), so once it is complete its window is durable. Only a
time-tumbling firing may touch several keys: it writes the packet's window first and then
deletes the windows it closed, so a crash between the two re-emits those closed windows at
the next packet (a replay) rather than losing them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import pyarrow as pa

from dataflow_jupyter.node import NodeContext, StatefulNode

if TYPE_CHECKING:
    from dataflow_jupyter.packets import DataPacket

_PREFIX: Final = "window/"
_MAX_NAME: Final = 200
_ARROW_ERRORS: Final = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    OverflowError,  # an integer beyond int64
)

Items = list[list[Any]]  # [[timestamp_ns, value], ...], oldest first


class SlidingWindow(StatefulNode):
    """Windows packets per key in ``self.state``; see the module docstring."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.by_time: bool = self.settings["windowType"] == "time"
        self.tumbling: bool = self.settings["mode"] == "tumbling"
        self.size: int = self.settings["size"]
        self.duration_ns = max(1, round(self.settings["durationMs"] * 1_000_000))
        self.key_field: str = self.settings["keyField"]
        self.field: str = self.settings["field"]
        self._windows: dict[str, tuple[Any, Items]] | None = None  # name -> (key, items)
        self._clock = 0  # the newest packet time seen, ns

    async def setup(self) -> None:
        """Each run reads the windows from the state again, at its first firing."""
        self._windows = None
        self._clock = 0

    async def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> None:
        packet = inputs["in"]
        value = packet.value
        key = self._key_of(value)
        self._check_field(value)
        windows = await self._load()
        now = max(packet.timestamp, self._clock)
        name = _name(key)
        old = windows[name][1] if name in windows else []
        items: Items = [*old, [now, value]]
        emits: list[tuple[Any, Items, int]] = []  # (key, items, end of a time window)
        closed: list[str] = []
        if not self.by_time:
            if not self.tumbling:
                items = items[-self.size :]
                emits.append((key, items, now))
            elif len(items) >= self.size:
                emits.append((key, items, now))
                items = []
        elif self.tumbling:
            bucket = now // self.duration_ns
            ended = [
                (window_items[0][0], other)
                for other, (_, window_items) in windows.items()
                if window_items and window_items[0][0] // self.duration_ns < bucket
            ]
            for _, other in sorted(ended):
                other_key, other_items = windows[other]
                end = (other_items[0][0] // self.duration_ns + 1) * self.duration_ns
                emits.append((other_key, other_items, end))
                closed.append(other)
            if name in closed:
                items = [[now, value]]
        else:
            items = [item for item in items if item[0] > now - self.duration_ns]
            emits.append((key, items, now))
        outputs = [(_table(i), self._aggregate(k, i, end)) for k, i, end in emits]
        try:
            if items:
                await self.state.set(_PREFIX + name, {"key": key, "items": items})
            else:
                await self.state.delete(_PREFIX + name)
            for other in closed:
                if other != name:
                    await self.state.delete(_PREFIX + other)
        except BaseException:
            self._windows = None  # the state may be half written: read it again next time
            raise
        for other in closed:
            windows.pop(other, None)
        if items:
            windows[name] = (key, items)
        else:
            windows.pop(name, None)
        self._clock = now
        for table, aggregate in outputs:
            await ctx.emit("out", table)
            await ctx.emit("aggregate", aggregate)

    # -- helpers -------------------------------------------------------------------------------

    def _key_of(self, value: Any) -> Any:
        if not self.key_field:
            return None
        if isinstance(value, Mapping) and self.key_field in value:
            return value[self.key_field]
        got = f"a dict with {sorted(value)[:10]}" if isinstance(value, Mapping) else repr(value)
        msg = (
            f"sliding-window {self.node_id!r}: the packet's value has no field "
            f"{self.key_field!r} (keyField); got {got:.120}. Send dicts with that field or "
            "change keyField"
        )
        raise ValueError(msg)

    def _check_field(self, value: Any) -> None:
        if not self.field or not isinstance(value, Mapping):
            return
        number = value.get(self.field)
        if number is not None and not _is_number(number):
            msg = (
                f"sliding-window {self.node_id!r}: field {self.field!r} must be a number, "
                f"missing or null; got {type(number).__name__} {number!r:.60}"
            )
            raise TypeError(msg)

    def _aggregate(self, key: Any, items: Items, end: int) -> dict[str, Any]:
        aggregate: dict[str, Any] = {"count": len(items)}
        if self.key_field:
            aggregate["key"] = key
        if self.by_time:
            aggregate["start"], aggregate["end"] = end - self.duration_ns, end
        if self.field:
            numbers = [
                v[self.field]
                for _, v in items
                if isinstance(v, Mapping) and _is_number(v.get(self.field))
            ]
            total = sum(numbers) if numbers else None
            aggregate["sum"] = total
            aggregate["mean"] = total / len(numbers) if total is not None else None
            aggregate["min"] = min(numbers) if numbers else None
            aggregate["max"] = max(numbers) if numbers else None
        return aggregate

    async def _load(self) -> dict[str, tuple[Any, Items]]:
        """The windows, read from the state at the first firing (and after a failed write)."""
        if self._windows is not None:
            return self._windows
        windows: dict[str, tuple[Any, Items]] = {}
        for state_key in await self.state.keys(_PREFIX):
            name = state_key.removeprefix(_PREFIX)
            if "/" in name:
                continue  # never written by this node
            stored = await self.state.get(state_key)
            if not (isinstance(stored, dict) and isinstance(stored.get("items"), list)):
                msg = (
                    f"sliding-window {self.node_id!r}: state key {state_key!r} holds "
                    f"{type(stored).__name__}, not a window; delete the key to reset it"
                )
                raise ValueError(msg)
            items: Items = stored["items"]
            windows[name] = (stored.get("key"), items)
            if items:
                self._clock = max(self._clock, int(items[-1][0]))
        self._windows = windows
        return windows


def _name(key: Any) -> str:
    """The state-key segment of a key value (see the module docstring)."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    name = quote(text, safe="")
    if len(name) > _MAX_NAME:
        return "sha256-" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return name


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _table(items: Items) -> pa.Table:
    values = [value for _, value in items]
    if values and all(isinstance(v, Mapping) and v for v in values):
        try:
            return pa.Table.from_pylist([dict(v) for v in values])
        except _ARROW_ERRORS:
            pass
    elif not any(isinstance(v, Mapping) for v in values):
        try:
            return pa.table({"value": pa.array(values)})
        except _ARROW_ERRORS:
            pass
    text = [json.dumps(v, sort_keys=True, default=repr) for v in values]
    return pa.table({"value": pa.array(text, pa.string())})
