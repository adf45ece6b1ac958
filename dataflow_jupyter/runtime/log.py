"""The ExecutionLog (``rt.log``): what ran, when, on which packets.

The scheduler records two kinds of events into it; every inspection surface is built from
them on demand, as a DataFrame.

Event kinds
-----------
``firing``
    One execution of a node on one set of inputs: ``firing_id``, ``node_id``, ``trace_id``,
    ``inputs`` (the input packet ids), ``start_ns``/``end_ns`` (``time.time_ns()`` clock),
    ``status``, ``attempt`` (1 for the first try) and ``error`` (the message, if it failed).
    ``status`` is one of:

    ``ok``           ran and returned; its outputs (if any) follow as ``packet`` events
    ``filtered``     ran and emitted nothing: the input was dropped on purpose
    ``retry``        failed; another attempt of the same input follows
    ``error``        failed for good; the failure went on as an ``ErrorPacket``
    ``timeout``      exceeded its timeout and is not retried (a timeout that *is* retried is
                     recorded as ``retry``)
    ``dead_letter``  failed after its last attempt; the input went to the dead-letter queue
    ``finish``       end of stream: the node's ``finish`` hook ran (no inputs); what it
                     emitted follows as ``packet`` events
    ``input_finished`` one input port reached end of stream and the node's
                     ``input_finished`` hook ran for it (no inputs)

    A firing whose inputs come from several traces records the trace of its first input (or
    ``None``); ``trace()`` still finds it through ``inputs``.
``packet``
    One packet a node emitted on an output port: ``packet_id``, ``trace_id``, ``node_id``,
    ``port``, ``timestamp_ns`` (the packet's timestamp), ``size_bytes`` (payload size,
    an estimate is fine), ``parents`` (packet ids) and ``firing_id`` (the firing that
    emitted it; ``None`` for packets a source emits outside a firing).

``placement``
    The placement rule moved a node (``runtime._placement``): ``node_id``, ``timestamp_ns``,
    ``status`` (where its firings run from now on: ``inline`` or ``worker``) and ``error``
    (why, e.g. "16 firings in a row took under 200 us each"). ``placements()`` lists them.

Columns
-------
Both kinds share one table (``EVENT_COLUMNS``): ``kind``, ``timestamp_ns`` (event time: a
firing's start, a packet's timestamp; the sort key), ``node_id``, ``trace_id``,
``firing_id``, ``packet_id``, ``port``, ``inputs``, ``parents``, ``start_ns``, ``end_ns``,
``duration_ms``, ``status``, ``attempt``, ``error``, ``size_bytes``. A column that does not
apply to a kind is null in its rows (``<NA>`` for integers, ``NaN`` for strings and floats,
``None`` for ``inputs``/``parents``).

Cost and bounds
---------------
Recording is on the hot path, so a ``record_*`` call builds one plain tuple in the column
order above (without ``duration_ms``), appends it to a ``collections.deque(maxlen=
max_events)`` and bumps a counter. Nothing else: no DataFrame, no dict, no lookup.
When the deque is full the oldest event falls out; ``dropped`` tells how many did.
With ``enabled=False`` the ``record_*`` methods return at once (the scheduler may also
check ``log.enabled`` itself and skip the call).

File sink
---------
With ``path`` set, every event (not only the last ``max_events``) also goes to a file:
``*.parquet`` (one ``ParquetWriter`` kept open, one row group per flush) or
``*.arrow``/``*.feather``/``*.ipc`` (an Arrow IPC file). Events are buffered and written
every ``batch_size`` events, by ``flush()`` and by ``close()``; the file has one schema
(``EVENT_SCHEMA``) for both kinds and is complete and readable once ``close()`` ran (also
run when the log is garbage collected or the interpreter exits). ``clear()`` empties memory
only, never the file. After ``close()`` the log keeps recording in memory only.

Threads
-------
Not thread safe: the scheduler records from the event loop's thread only. Executors running
node code in other threads hand their results back to the loop, which records them.
"""

from __future__ import annotations

import html
import time
import weakref
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_SCHEMA",
    "FIRING_EVENT",
    "FIRING_STATUSES",
    "HOP_EVENT",
    "ExecutionLog",
]

FIRING_STATUSES: Final = frozenset(
    {"ok", "filtered", "error", "retry", "timeout", "dead_letter", "finish", "input_finished"}
)
_LATENCY_STATUSES: Final = ("ok", "filtered")
_ERROR_STATUSES: Final = ("error", "timeout", "dead_letter")

_FIRING: Final = "firing"
_PACKET: Final = "packet"
_PLACEMENT: Final = "placement"
_HOP: Final = "hop"  # stored only: a firing that emitted one packet, read as both events
# The tags of the tuples the scheduler's hot loop builds itself (see ``ExecutionLog.appender``).
HOP_EVENT: Final = _HOP
FIRING_EVENT: Final = _FIRING

# The order of a recorded tuple; duration_ms is derived when a frame or a file batch is built.
_RECORD_COLUMNS: Final = (
    "kind",
    "timestamp_ns",
    "node_id",
    "trace_id",
    "firing_id",
    "packet_id",
    "port",
    "inputs",
    "parents",
    "start_ns",
    "end_ns",
    "status",
    "attempt",
    "error",
    "size_bytes",
)
EVENT_COLUMNS: Final = (*_RECORD_COLUMNS[:11], "duration_ms", *_RECORD_COLUMNS[11:])

_FIRING_COLUMNS: Final = tuple(
    c for c in EVENT_COLUMNS if c not in ("packet_id", "port", "parents", "size_bytes")
)
_PACKET_COLUMNS: Final = tuple(
    c
    for c in EVENT_COLUMNS
    if c not in ("inputs", "start_ns", "end_ns", "duration_ms", "status", "attempt", "error")
)

_STR_COLUMNS: Final = ("kind", "node_id", "trace_id", "packet_id", "port", "status", "error")
_NULLABLE_INT_COLUMNS: Final = ("firing_id", "start_ns", "end_ns", "attempt", "size_bytes")
_TUPLE_COLUMNS: Final = ("inputs", "parents")

EVENT_SCHEMA: Final = pa.schema(
    [
        pa.field("kind", pa.string(), nullable=False),
        pa.field("timestamp_ns", pa.int64(), nullable=False),
        pa.field("node_id", pa.string()),
        pa.field("trace_id", pa.string()),
        pa.field("firing_id", pa.int64()),
        pa.field("packet_id", pa.string()),
        pa.field("port", pa.string()),
        pa.field("inputs", pa.list_(pa.string())),
        pa.field("parents", pa.list_(pa.string())),
        pa.field("start_ns", pa.int64()),
        pa.field("end_ns", pa.int64()),
        pa.field("duration_ms", pa.float64()),
        pa.field("status", pa.string()),
        pa.field("attempt", pa.int64()),
        pa.field("error", pa.string()),
        pa.field("size_bytes", pa.int64()),
    ]
)

_Event: TypeAlias = tuple[Any, ...]

_PARQUET_SUFFIXES: Final = frozenset({".parquet"})
_IPC_SUFFIXES: Final = frozenset({".arrow", ".feather", ".ipc"})


class ExecutionLog:
    """One event per firing and per emitted packet, bounded in memory, optionally on file.

    See the module docstring for the event kinds, the columns and the costs.
    """

    __slots__ = (
        "__weakref__",
        "_batch_size",
        "_events",
        "_finalizer",
        "_path",
        "_pending",
        "_recorded",
        "_sink",
        "enabled",
    )

    def __init__(
        self,
        max_events: int = 100_000,
        path: str | os.PathLike[str] | None = None,
        *,
        enabled: bool = True,
        batch_size: int = 10_000,
    ) -> None:
        if max_events < 0:
            msg = f"ExecutionLog max_events must be >= 0; got {max_events}."
            raise ValueError(msg)
        if batch_size < 1:
            msg = f"ExecutionLog batch_size must be >= 1; got {batch_size}."
            raise ValueError(msg)
        self.enabled: bool = enabled
        self._events: deque[_Event] = deque(maxlen=max_events)
        self._recorded = 0
        self._batch_size = batch_size
        self._path: Path | None = None
        self._sink: _FileSink | None = None
        self._pending: list[_Event] | None = None
        self._finalizer: weakref.finalize[[], ExecutionLog] | None = None
        if path is not None:
            self._path = Path(path)
            self._sink = _FileSink(self._path)
            self._pending = self._sink.pending
            self._finalizer = weakref.finalize(self, self._sink.close)

    # -- recording (hot path) -------------------------------------------------------------

    # Positional parameters on purpose: the scheduler calls these per event.
    def record_firing(  # noqa: PLR0917
        self,
        firing_id: int,
        node_id: str,
        trace_id: str | None,
        inputs: tuple[str, ...],
        start_ns: int,
        end_ns: int,
        status: str,
        attempt: int,
        error: str | None = None,
    ) -> None:
        """Record one firing of ``node_id``; ``status`` is one of ``FIRING_STATUSES``."""
        if not self.enabled:
            return
        event = (
            _FIRING,
            start_ns,
            node_id,
            trace_id,
            firing_id,
            None,
            None,
            inputs,
            None,
            start_ns,
            end_ns,
            status,
            attempt,
            error,
            None,
        )
        self._append(event)

    def record_packet(  # noqa: PLR0917
        self,
        packet_id: str,
        trace_id: str,
        node_id: str,
        port: str,
        timestamp_ns: int,
        size_bytes: int,
        parents: tuple[str, ...],
        firing_id: int | None,
    ) -> None:
        """Record one packet that ``node_id`` emitted on ``port``."""
        if not self.enabled:
            return
        event = (
            _PACKET,
            timestamp_ns,
            node_id,
            trace_id,
            firing_id,
            packet_id,
            port,
            None,
            parents,
            None,
            None,
            None,
            None,
            None,
            size_bytes,
        )
        self._append(event)

    def record_placement(self, node_id: str, runs_on: str, reason: str) -> None:
        """Record that ``node_id``'s firings run ``runs_on`` from now on, and why."""
        if not self.enabled:
            return
        now = time.time_ns()
        event = (_PLACEMENT, now, node_id, None, None, None, None, None, None, None, None)
        self._append((*event, runs_on, None, reason, None))

    def appender(self) -> Callable[[_Event], None]:
        """The scheduler's hot loop's way in: a function that stores one event tuple without
        counting it; the caller adds what it stored with ``counted(n)`` before anything
        reads the log.

        A tuple is laid out as ``record_firing`` lays out its own (tag ``FIRING_EVENT``), or
        is a *hop* (tag ``HOP_EVENT``): a firing (attempt 1) that emitted one packet, stored
        as ``(HOP_EVENT, start_ns, node_id, trace_id, firing_id, packet_id, port, inputs,
        parents, end_ns, status, timestamp_ns, size_bytes)`` and read back as its packet
        event and its firing event (a hop counts as two events)."""
        return self._events.append if self._pending is None else self._store

    def counted(self, events: int) -> None:
        """Count ``events`` stored through ``appender``."""
        self._recorded += events

    def _append(self, event: _Event) -> None:
        self._store(event)
        self._recorded += 1

    def _store(self, event: _Event) -> None:
        self._events.append(event)
        pending = self._pending
        if pending is not None:
            pending.append(event)
            if len(pending) >= self._batch_size:
                self.flush()

    # -- bookkeeping ----------------------------------------------------------------------

    @property
    def max_events(self) -> int:
        """How many events the log keeps in memory."""
        maxlen = self._events.maxlen
        assert maxlen is not None
        return maxlen

    @property
    def path(self) -> Path | None:
        """The file every event is also written to, if any."""
        return self._path

    @property
    def dropped(self) -> int:
        """How many events fell out of memory (the oldest go first) since the last clear."""
        return self._recorded - len(self)

    def __len__(self) -> int:
        return len(self._events) + sum(1 for e in self._events if e[0] is _HOP)

    def clear(self) -> None:
        """Forget the events in memory (and the dropped count). The file is not touched."""
        self._events.clear()
        self._recorded = 0

    def flush(self) -> None:
        """Write the buffered events to the file (a no-op without a file, or after close)."""
        if self._sink is not None:
            self._sink.flush()

    def close(self) -> None:
        """Flush and close the file, which is then complete. Idempotent."""
        if self._finalizer is not None:
            self._finalizer()  # runs _FileSink.close once, then detaches itself
        self._sink = None
        self._pending = None

    def __enter__(self) -> ExecutionLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- inspection -----------------------------------------------------------------------

    def to_pandas(self) -> pd.DataFrame:
        """Every event in memory, in time order (ties keep recording order), ``EVENT_COLUMNS``."""
        frame = _events_frame(_expand(self._events))
        order = np.argsort(frame["timestamp_ns"].to_numpy(), kind="stable")
        return frame.take(order).reset_index(drop=True)

    def firings(self) -> pd.DataFrame:
        """The firing events, in time order, with the columns that apply to firings."""
        frame = _events_frame(e for e in _expand(self._events) if e[0] == _FIRING)
        order = np.argsort(frame["timestamp_ns"].to_numpy(), kind="stable")
        return frame.take(order).reset_index(drop=True)[list(_FIRING_COLUMNS)]

    def packets(self) -> pd.DataFrame:
        """The packet events, in time order, with the columns that apply to packets."""
        frame = _events_frame(e for e in _expand(self._events) if e[0] == _PACKET)
        order = np.argsort(frame["timestamp_ns"].to_numpy(), kind="stable")
        return frame.take(order).reset_index(drop=True)[list(_PACKET_COLUMNS)]

    def placements(self) -> pd.DataFrame:
        """When the placement rule moved a node: ``timestamp_ns``, ``node_id``, ``runs_on``
        (where its firings run from then on) and ``reason``."""
        frame = _events_frame(e for e in _expand(self._events) if e[0] == _PLACEMENT)
        frame = frame[["timestamp_ns", "node_id", "status", "error"]]
        return frame.rename(columns={"status": "runs_on", "error": "reason"})

    def trace(self, trace_id: str) -> pd.DataFrame:
        """The path one input took through the graph: its packets and firings, time ordered.

        Rows are the events of ``trace_id`` plus firings of other traces whose ``inputs``
        include one of its packets (joins, windows). ``offset_ms`` is the time since the
        trace's first event. Empty when the trace is unknown or fell out of memory.
        """
        events = list(_expand(self._events))
        packet_ids = {e[5] for e in events if e[0] == _PACKET and e[3] == trace_id}
        frame = _events_frame(
            e
            for e in events
            if e[3] == trace_id or (e[0] == _FIRING and not packet_ids.isdisjoint(e[7]))
        )
        order = np.argsort(frame["timestamp_ns"].to_numpy(), kind="stable")
        frame = frame.take(order).reset_index(drop=True)
        timestamps = frame["timestamp_ns"]
        frame.insert(2, "offset_ms", (timestamps - timestamps.min()) / 1e6)
        return frame

    def summary(self) -> pd.DataFrame:
        """Per node: firings, packets out, errors, retries and latency (ms) percentiles.

        ``errors`` counts firings with status ``error``, ``timeout`` or ``dead_letter``;
        ``retries`` those with ``retry``. Latencies come from ``ok`` and ``filtered``
        firings (linear-interpolated quantiles); ``NaN`` for a node without any.
        """
        events = self.to_pandas()
        nodes = pd.Index(pd.unique(events["node_id"]), name="node_id", dtype=str)
        is_firing = events["kind"] == _FIRING
        firings = events[is_firing]
        status = firings["status"]
        by_node = firings.groupby("node_id", sort=False)
        latency = firings[status.isin(_LATENCY_STATUSES)].groupby("node_id", sort=False)
        durations = latency["duration_ms"]
        result = pd.DataFrame(
            {
                "firings": by_node.size(),
                "packets_out": events[events["kind"] == _PACKET]
                .groupby("node_id", sort=False)
                .size(),
                "errors": firings[status.isin(_ERROR_STATUSES)].groupby("node_id").size(),
                "retries": firings[status == "retry"].groupby("node_id").size(),
                "p50_ms": durations.quantile(0.5),
                "p95_ms": durations.quantile(0.95),
                "mean_ms": durations.mean(),
            },
            index=nodes,
        )
        counts = ["firings", "packets_out", "errors", "retries"]
        result[counts] = result[counts].fillna(0).astype("int64")
        return result.astype(dict.fromkeys(("p50_ms", "p95_ms", "mean_ms"), "float64"))

    def _counts(self) -> tuple[int, int]:
        hops = sum(1 for e in self._events if e[0] is _HOP)
        firings = sum(1 for e in self._events if e[0] == _FIRING)
        return firings + hops, sum(1 for e in self._events if e[0] == _PACKET) + hops

    def __repr__(self) -> str:
        firings, packets = self._counts()
        where = f", path={str(self._path)!r}" if self._path is not None else ""
        state = "" if self.enabled else ", enabled=False"
        return (
            f"ExecutionLog(events={len(self)}, firings={firings}, packets={packets}, "
            f"dropped={self.dropped}, max_events={self.max_events}{where}{state})"
        )

    def _repr_html_(self) -> str:
        table = self.summary().to_html() if len(self) else ""
        return f"<p><code>{html.escape(repr(self))}</code></p>{table}"


def _expand(events: Iterable[_Event]) -> Iterator[_Event]:
    """The recorded tuples with each stored hop read back as its packet and firing events."""
    for e in events:
        if e[0] is not _HOP:
            yield e
            continue
        _, start, node, trace, firing, packet, port, inputs, parents, end, status, ts, size = e
        packet_tail = (None, None, None, None, None, size)  # start_ns .. size_bytes
        yield (_PACKET, ts, node, trace, firing, packet, port, None, parents, *packet_tail)
        firing_tail = (start, end, status, 1, None, None)  # start_ns .. size_bytes
        yield (_FIRING, start, node, trace, firing, None, None, inputs, None, *firing_tail)


def _events_frame(events: Iterable[_Event]) -> pd.DataFrame:
    """Recorded tuples as a frame with ``EVENT_COLUMNS`` and stable dtypes (also when empty)."""
    rows = list(events)
    data: dict[str, Any] = {}
    for i, name in enumerate(_RECORD_COLUMNS):
        # A comprehension per column: zip(*rows) is slower here (it wakes the GC).
        values = [row[i] for row in rows]
        if name in _STR_COLUMNS:
            data[name] = pd.Series(values, dtype=str)
        elif name in _NULLABLE_INT_COLUMNS:
            data[name] = pd.Series(values, dtype="Int64")
        elif name in _TUPLE_COLUMNS:
            data[name] = pd.Series(values, dtype=object)
        else:
            data[name] = pd.Series(values, dtype="int64")
    frame = pd.DataFrame(data)
    duration = (frame["end_ns"] - frame["start_ns"]) / 1e6
    frame["duration_ms"] = duration.to_numpy(dtype="float64", na_value=np.nan)
    return frame[list(EVENT_COLUMNS)]


def _events_table(events: list[_Event]) -> Any:
    """Recorded tuples as a ``pyarrow.Table`` of ``EVENT_SCHEMA``."""
    arrays = {
        name: pa.array([e[i] for e in events], type=EVENT_SCHEMA.field(name).type)
        for i, name in enumerate(_RECORD_COLUMNS)
    }
    elapsed = pc.subtract(arrays["end_ns"], arrays["start_ns"])
    arrays["duration_ms"] = pc.divide(pc.cast(elapsed, pa.float64()), 1e6)
    return pa.Table.from_arrays([arrays[n] for n in EVENT_COLUMNS], schema=EVENT_SCHEMA)


class _FileSink:
    """An open Parquet or Arrow IPC writer plus the events not yet written to it."""

    __slots__ = ("_file", "_writer", "path", "pending")

    def __init__(self, path: Path) -> None:
        suffix = path.suffix.lower()
        if suffix not in _PARQUET_SUFFIXES | _IPC_SUFFIXES:
            msg = (
                f"ExecutionLog path {str(path)!r} has suffix {suffix!r}; expected .parquet, "
                ".arrow, .feather or .ipc. Rename the file to pick the format."
            )
            raise ValueError(msg)
        if not path.parent.is_dir():
            msg = (
                f"ExecutionLog path {str(path)!r}: folder {str(path.parent)!r} does not exist. "
                "Create it first (Path(...).mkdir(parents=True)) or choose another path."
            )
            raise FileNotFoundError(msg)
        self.path = path
        self.pending: list[_Event] = []
        self._file: Any = None
        try:
            if suffix in _PARQUET_SUFFIXES:
                self._writer: Any = pq.ParquetWriter(str(path), EVENT_SCHEMA)
            else:
                self._file = pa.OSFile(str(path), "wb")
                self._writer = pyarrow.ipc.new_file(self._file, EVENT_SCHEMA)
        except OSError as exc:
            msg = f"ExecutionLog cannot open {str(path)!r} for writing: {exc}"
            raise OSError(msg) from exc

    def flush(self) -> None:
        if not self.pending or self._writer is None:
            return
        table = _events_table(list(_expand(self.pending)))
        self.pending.clear()
        try:
            self._writer.write_table(table)
        except OSError as exc:
            msg = f"ExecutionLog could not write {table.num_rows} events to {str(self.path)!r}"
            raise OSError(msg) from exc

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            self.flush()
        finally:
            self._writer.close()
            self._writer = None
            if self._file is not None:
                self._file.close()
                self._file = None
