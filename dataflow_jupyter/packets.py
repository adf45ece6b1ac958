"""Packets: what travels on the edges of a graph.

A ``DataPacket`` carries a JSON-compatible ``value`` and, for heavy data, a ``binary_value``
(an Arrow table, record batch or buffer, or a ``BinaryRef`` to Arrow data that lives
elsewhere). Packets are frozen. ``derive()`` makes the next packet of the same trace: it
keeps ``trace_id`` and shares ``binary_value`` by reference, so an Arrow table is never
copied from one node to the next.

A ``RemoteTable`` is an Arrow table that lives elsewhere (on a cluster worker, see
``executors.dask.ClusterTable``): a packet may carry one as its ``binary_value``; it tells its
shape and schema without moving the data, and ``read()`` brings the table here. ``table()``,
``to_pandas()`` and ``describe_payload`` treat it as the table it stands for (read on
demand, described without reading).

An ``ErrorPacket`` is what a failure becomes: the code, the message, where it happened,
whether a retry may help, and the input that failed (so it can be replayed).

Ids are cheap: a random per-process prefix and a counter, not a ``uuid4`` per packet.
They are unique within a process and, with overwhelming probability, across processes.
"""

from __future__ import annotations

import itertools
import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "BinaryPayload",
    "BinaryRef",
    "DataPacket",
    "ErrorCode",
    "ErrorPacket",
    "RemoteTable",
    "describe_payload",
    "emitted_packet",
    "new_trace_id",
    "source_packet",
]

_PREFIX: Final = os.urandom(5).hex()
_packet_counter = itertools.count(1)
_trace_counter = itertools.count(1)


def _new_packet_id() -> str:
    # itertools.count.__next__ is atomic under the GIL, so this is thread safe.
    return f"p{_PREFIX}{next(_packet_counter):x}"


_MAX_REPR: Final = 200  # characters of a value's repr in a packet's repr
_MAX_COLUMNS: Final = 8  # columns named in a table's description


def describe_payload(payload: Any) -> str:
    """A short, bounded description of a payload (reprs of packets, steps, queues).

    A table is described by its shape and first columns, never printed whole; any other
    value by its repr, cut at 200 characters.
    """
    if isinstance(payload, pa.Table | pa.RecordBatch):
        names = [f"{f.name}: {f.type}" for f in payload.schema][:_MAX_COLUMNS]
        more = ", ..." if payload.num_columns > _MAX_COLUMNS else ""
        return (
            f"<table {payload.num_rows:,} rows x {payload.num_columns} columns: "
            f"{', '.join(names)}{more}>"
        )
    if isinstance(payload, RemoteTable):
        names = [f"{f.name}: {f.type}" for f in payload.schema][:_MAX_COLUMNS]
        more = ", ..." if len(payload.schema) > _MAX_COLUMNS else ""
        return (
            f"<remote table {payload.num_rows:,} rows x {len(payload.schema)} columns, "
            f"{payload.nbytes:,} bytes: {', '.join(names)}{more}>"
        )
    text = repr(payload)
    return text if len(text) <= _MAX_REPR else f"{text[: _MAX_REPR - 3]}..."


def new_trace_id() -> str:
    """A new trace id: a source calls this once per input it brings into the graph."""
    return f"t{_PREFIX}{next(_trace_counter):x}"


class ErrorCode(StrEnum):
    """Why a packet failed."""

    NODE_EXCEPTION = "NODE_EXCEPTION"
    TIMEOUT = "TIMEOUT"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    VALIDATION = "VALIDATION"
    IO_ERROR = "IO_ERROR"
    CANCELLED = "CANCELLED"
    EXPRESSION = "EXPRESSION"
    EXPRESSION_BUDGET = "EXPRESSION_BUDGET"
    OVERFLOW = "OVERFLOW"


@dataclass(slots=True, frozen=True)
class BinaryRef:
    """A reference to Arrow data stored in an Arrow IPC file, memory mapped on read.

    This is what crosses a process boundary instead of the bytes themselves.
    """

    path: str
    num_rows: int | None = None
    nbytes: int | None = None

    @classmethod
    def write(cls, data: pa.Table | pa.RecordBatch, path: str | os.PathLike[str]) -> BinaryRef:
        """Write ``data`` to an Arrow IPC file at ``path`` and return a reference to it."""
        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        target = Path(path)
        with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        return cls(path=str(target), num_rows=table.num_rows, nbytes=table.nbytes)

    def read(self) -> pa.Table:
        """The referenced table, memory mapped (no copy of the file into memory)."""
        try:
            source = pa.memory_map(self.path, "r")
        except FileNotFoundError as exc:
            msg = f"BinaryRef points to {self.path!r}, which does not exist (was it cleaned up?)"
            raise FileNotFoundError(msg) from exc
        with source:
            return pa.ipc.open_file(source).read_all()


class RemoteTable:
    """An Arrow table that lives elsewhere (a cluster worker's memory): its shape and
    schema are known here, its data is not.

    ``read()`` brings the table to this process: the only way its data moves here. Until
    then a packet carrying it costs a few hundred bytes; a node on the same cluster gets
    the table where it lives. A subclass defines ``read`` (checked when it is defined).

    Not an ``abc.ABC``: the runtime's hot path asks ``isinstance(value, ...)`` of every
    emitted value against the payload types, and an ABC's check costs about 80 ns more.
    """

    __slots__ = ()

    num_rows: int
    nbytes: int
    schema: pa.Schema

    if TYPE_CHECKING:

        def read(self) -> pa.Table:
            """The table, brought to this process."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "read", None)):
            msg = f"{cls.__name__} is a RemoteTable: it must define read() -> pyarrow.Table"
            raise TypeError(msg)

    @property
    def size(self) -> int:
        """Its bytes (``nbytes``), as a ``pa.Buffer`` says ``size``."""
        return self.nbytes


BinaryPayload: TypeAlias = pa.Table | pa.RecordBatch | pa.Buffer | BinaryRef | RemoteTable


class _Keep:
    """Sentinel for ``derive``: keep the parent's field."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "KEEP"


_KEEP: Final = _Keep()


@dataclass(slots=True, frozen=True)
class DataPacket:
    """One message on an edge. Frozen; derive the next one with ``derive()``."""

    value: Any = None
    binary_value: BinaryPayload | None = None
    schema_version: str = "1.0.0"
    trace_id: str = field(default_factory=new_trace_id)
    origin_node: str | None = None
    timestamp: int = field(default_factory=time.time_ns)
    packet_id: str = field(default_factory=_new_packet_id)
    parents: tuple[str, ...] = ()

    def derive(
        self,
        value: Any = _KEEP,
        *,
        binary_value: BinaryPayload | _Keep | None = _KEEP,
        origin_node: str | None = None,
        schema_version: str | _Keep = _KEEP,
        parents: Iterable[str] | None = None,
    ) -> DataPacket:
        """A new packet of the same trace, derived from this one.

        Fields not given are kept; ``binary_value`` is shared by reference (never copied).
        ``parents`` defaults to this packet's id; pass several ids when a packet is derived
        from more than one input.
        """
        return _make_packet(
            self.value if value is _KEEP else value,
            self.binary_value if isinstance(binary_value, _Keep) else binary_value,
            self.schema_version if isinstance(schema_version, _Keep) else schema_version,
            self.trace_id,
            origin_node if origin_node is not None else self.origin_node,
            time.time_ns(),
            _new_packet_id(),
            (self.packet_id,) if parents is None else tuple(parents),
        )

    @property
    def payload(self) -> Any:
        """The binary value when there is one, else the value."""
        return self.value if self.binary_value is None else self.binary_value

    def __repr__(self) -> str:
        return (
            f"DataPacket({describe_payload(self.payload)}, origin_node={self.origin_node!r}, "
            f"trace_id={self.trace_id!r}, packet_id={self.packet_id!r})"
        )

    def to_pandas(self) -> pd.DataFrame:
        """The payload as a DataFrame.

        A table as itself, a dict as one row, a list of dicts as rows, a list of scalars as a
        ``value`` column, a scalar as one ``value`` row, ``None`` as an empty frame.
        """
        if self.binary_value is not None:
            return _binary_to_pandas(self.binary_value)
        return value_to_pandas(self.value)

    def table(self) -> pa.Table | None:
        """The payload as an Arrow table, or ``None`` when it is not tabular.

        A table as itself, a record batch or a ``BinaryRef`` as a table (no copy of the
        columns), a ``RemoteTable`` read here, a list of row dicts as a new table.
        """
        data = self.binary_value
        if isinstance(data, BinaryRef | RemoteTable):
            data = data.read()
        if isinstance(data, pa.RecordBatch):
            return pa.Table.from_batches([data])
        if isinstance(data, pa.Table):
            return data
        value = self.value
        if data is None and isinstance(value, list) and all(isinstance(r, Mapping) for r in value):
            return pa.Table.from_pylist([dict(r) for r in value])
        return None

    def metadata(self) -> dict[str, Any]:
        """The packet's metadata (everything but the payload) as a plain dict."""
        return {
            "packet_id": self.packet_id,
            "trace_id": self.trace_id,
            "origin_node": self.origin_node,
            "timestamp": self.timestamp,
            "schema_version": self.schema_version,
            "parents": list(self.parents),
        }


class _Made:
    """Builds a ``DataPacket`` at a fraction of the cost of the frozen dataclass's
    ``__init__``, whose every field goes through ``object.__setattr__``.

    Packets made on the runtime's hot path have valid fields already. This class has the
    very slots of ``DataPacket``, so its plain ``__init__`` sets them at full speed and then
    makes the object a ``DataPacket`` (CPython lets an object change its class to one with
    the same layout); the packet is frozen from then on. Measured: 0.34 us per packet,
    where setting the slots through their descriptors took 0.55 us.
    """

    __slots__ = DataPacket.__slots__

    def __init__(  # noqa: PLR0917 - positional on purpose: the hot path
        self,
        value: Any,
        binary_value: BinaryPayload | None,
        schema_version: str,
        trace_id: str,
        origin_node: str | None,
        timestamp: int,
        packet_id: str,
        parents: tuple[str, ...],
    ) -> None:
        self.value = value
        self.binary_value = binary_value
        self.schema_version = schema_version
        self.trace_id = trace_id
        self.origin_node = origin_node
        self.timestamp = timestamp
        self.packet_id = packet_id
        self.parents = parents
        self.__class__ = DataPacket  # type: ignore[assignment]


class _Emitted:
    """What ``base.derive(value, origin_node=..., parents=...)`` gives, at a fraction of its
    cost: the runtime's hot path (a node emitting a plain value it computed from ``base``).
    Built as ``_Made`` builds packets."""

    __slots__ = DataPacket.__slots__

    def __init__(
        self,
        base: DataPacket,
        value: Any,
        origin_node: str,
        timestamp: int,
        parents: tuple[str, ...],
    ) -> None:
        self.value = value
        self.binary_value = None
        self.schema_version = base.schema_version
        self.trace_id = base.trace_id
        self.origin_node = origin_node
        self.timestamp = timestamp
        self.packet_id = f"p{_PREFIX}{next(_packet_counter):x}"
        self.parents = parents
        self.__class__ = DataPacket  # type: ignore[assignment]


if TYPE_CHECKING:

    def _make_packet(  # noqa: PLR0917
        value: Any,
        binary_value: BinaryPayload | None,
        schema_version: str,
        trace_id: str,
        origin_node: str | None,
        timestamp: int,
        packet_id: str,
        parents: tuple[str, ...],
    ) -> DataPacket: ...

    def emitted_packet(
        base: DataPacket, value: Any, origin_node: str, timestamp: int, parents: tuple[str, ...]
    ) -> DataPacket:
        """See ``_Emitted``."""

else:
    _make_packet = _Made
    emitted_packet = _Emitted


def source_packet(
    value: Any, binary_value: BinaryPayload | None, origin_node: str, schema_version: str
) -> DataPacket:
    """What ``DataPacket(value, binary_value, schema_version, origin_node=...)`` gives (a new
    trace, stamped now), at a fraction of its cost: what a source emits."""
    return _make_packet(
        value,
        binary_value,
        schema_version,
        new_trace_id(),
        origin_node,
        time.time_ns(),
        _new_packet_id(),
        (),
    )


def value_to_pandas(value: Any) -> pd.DataFrame:
    """A JSON-compatible value as a DataFrame (see ``DataPacket.to_pandas``)."""
    if value is None:
        return pd.DataFrame()
    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, Mapping):
        return pd.DataFrame([dict(value)])
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, Mapping) for item in value):
            return pd.DataFrame([dict(item) for item in value])
        return pd.DataFrame({"value": list(value)})
    return pd.DataFrame({"value": [value]})


def _binary_to_pandas(binary: BinaryPayload) -> pd.DataFrame:
    if isinstance(binary, BinaryRef | RemoteTable):
        binary = binary.read()
    if isinstance(binary, pa.Buffer):
        return pd.DataFrame({"bytes": [binary.to_pybytes()]})
    frame: pd.DataFrame = binary.to_pandas()
    return frame


@dataclass(slots=True, frozen=True)
class ErrorPacket:
    """A failure: what, where, whether a retry may help, and the input that failed."""

    code: ErrorCode
    message: str
    node_id: str | None = None
    trace_id: str | None = None
    recoverable: bool = False
    attempt: int = 1
    timestamp: int = field(default_factory=time.time_ns)
    details: Mapping[str, Any] = field(default_factory=dict)
    packet: DataPacket | None = None
    packet_id: str = field(default_factory=_new_packet_id)

    @classmethod
    def from_exception(
        cls,
        exc: BaseException,
        *,
        node_id: str | None = None,
        packet: DataPacket | None = None,
        code: ErrorCode = ErrorCode.NODE_EXCEPTION,
        recoverable: bool = False,
        attempt: int = 1,
    ) -> ErrorPacket:
        """An ErrorPacket for ``exc``; ``details`` holds its type and formatted traceback.

        An exception that names its own code (an ``error_code`` attribute, as
        ``ExpressionBudgetError`` does) gets that code instead of ``NODE_EXCEPTION``. An
        exception raised elsewhere and carried here (``executors.RemoteError``: string
        attributes ``exception_type`` and ``traceback``) reports the original exception's
        type and traceback, not the carrier's.
        """
        own = getattr(exc, "error_code", None)
        if code is ErrorCode.NODE_EXCEPTION and isinstance(own, ErrorCode):
            code = own
        remote_type = getattr(exc, "exception_type", None)
        remote_traceback = getattr(exc, "traceback", None)
        details = {
            "exception_type": remote_type
            if isinstance(remote_type, str)
            else type(exc).__qualname__,
            "traceback": remote_traceback
            if isinstance(remote_traceback, str) and remote_traceback
            else "".join(traceback.format_exception(exc)),
        }
        return cls(
            code=code,
            message=str(exc) or type(exc).__name__,
            node_id=node_id,
            trace_id=packet.trace_id if packet is not None else None,
            recoverable=recoverable,
            attempt=attempt,
            details=details,
            packet=packet,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (what the widget receives as ``node-execution-error``)."""
        return {
            "code": self.code.value,
            "message": self.message,
            "node_id": self.node_id,
            "trace_id": self.trace_id,
            "recoverable": self.recoverable,
            "attempt": self.attempt,
            "timestamp": self.timestamp,
            "details": dict(self.details),
            "packet_id": self.packet_id,
            "failed_packet_id": self.packet.packet_id if self.packet is not None else None,
        }

    def to_pandas(self) -> pd.DataFrame:
        """This error as a one-row DataFrame."""
        return pd.DataFrame([self.to_dict()])
