"""Frames: packets as DataFrames (what ``rt.frame`` shows), and the result of a finished run.

``frame_of(packets)`` puts the packets' metadata columns (``packet_id``, ``trace_id``,
``origin_node``, ``timestamp``, ``schema_version``) first and the payload's columns after
them: a table contributes its rows, a dict one row, a list of dicts its rows, a scalar a
``value`` column. A payload column named like a metadata column keeps its name; the
metadata column is then prefixed with ``packet_``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import pyarrow as pa

from dataflow_jupyter.packets import BinaryRef, RemoteTable

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from dataflow_jupyter.packets import DataPacket, ErrorPacket
    from dataflow_jupyter.runtime.stats import Stats

__all__ = ["METADATA_COLUMNS", "RunResult", "frame_of", "frame_page"]

METADATA_COLUMNS: Final = ("packet_id", "trace_id", "origin_node", "timestamp", "schema_version")


def frame_of(packets: Iterable[DataPacket]) -> pd.DataFrame:
    """Packets as one DataFrame: metadata columns, then the payload's columns."""
    return _joined([_packet_frame(packet, packet.to_pandas()) for packet in packets])


def frame_page(packets: Iterable[DataPacket], offset: int, limit: int) -> tuple[pd.DataFrame, int]:
    """Rows ``offset`` to ``offset + limit`` of ``frame_of(packets)``, and how many rows it has.

    An Arrow payload is sliced before it becomes pandas, so a page of a big table costs the
    page, not the table (the canvas's inspector asks for pages).
    """
    pieces = []
    total = 0
    end = offset + limit
    for packet in packets:
        data = packet.binary_value
        if isinstance(data, BinaryRef | RemoteTable):  # the inspector reads it on demand
            data = data.read()
        if isinstance(data, pa.Table | pa.RecordBatch):
            rows = max(data.num_rows, 1)
            start, stop = max(offset - total, 0), min(end - total, rows)
            if start < stop:
                payload = data.slice(start, stop - start).to_pandas() if data.num_rows else None
                pieces.append(_packet_frame(packet, pd.DataFrame() if payload is None else payload))
        else:
            frame = _packet_frame(packet, packet.to_pandas())
            rows = len(frame)
            start, stop = max(offset - total, 0), min(end - total, rows)
            if start < stop:
                pieces.append(frame.iloc[start:stop])
        total += rows
    return _joined(pieces), total


def _packet_frame(packet: DataPacket, payload: pd.DataFrame) -> pd.DataFrame:
    rows = max(len(payload), 1)
    meta = {
        (f"packet_{name}" if name in payload.columns else name): [value] * rows
        for name, value in (
            ("packet_id", packet.packet_id),
            ("trace_id", packet.trace_id),
            ("origin_node", packet.origin_node),
            ("timestamp", pd.Timestamp(packet.timestamp, unit="ns", tz="UTC")),
            ("schema_version", packet.schema_version),
        )
    }
    head = pd.DataFrame(meta)
    if len(payload):
        head = pd.concat([head, payload.reset_index(drop=True)], axis=1)
    return head


def _joined(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    if not pieces:
        return pd.DataFrame(columns=list(METADATA_COLUMNS))
    return pd.concat(pieces, ignore_index=True)


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a finished run produced.

    ``outputs["node.port"]`` lists the payloads emitted on output ports that no edge takes
    (the graph's results; ``packets`` has the packets themselves, the first ``max_outputs``
    of each port, and ``counts`` how many each port emitted in all), ``errors`` every
    ErrorPacket, ``stats`` the counters, and ``frame("node.port")`` the last packets that
    crossed any port as a DataFrame.
    """

    packets: Mapping[str, list[DataPacket]]
    errors: list[ErrorPacket]
    stats: Stats
    frames: Mapping[str, Any]
    duration_s: float
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def outputs(self) -> dict[str, list[Any]]:
        """The payloads per ``"node.port"`` of the graph's unconnected outputs."""
        return {key: [p.payload for p in packets] for key, packets in self.packets.items()}

    @property
    def ok(self) -> bool:
        """Whether the run had no error."""
        return not self.errors

    def frame(self, where: str) -> pd.DataFrame:
        """The last packets that crossed ``"node.port"`` as a DataFrame."""
        if where not in self.frames:
            known = ", ".join(sorted(self.frames)) or "none"
            msg = f"no port {where!r} in this run; ports: {known}"
            raise KeyError(msg)
        return frame_of(self.frames[where])

    def errors_frame(self) -> pd.DataFrame:
        """Every error of the run, one row each."""
        columns = ["code", "message", "node_id", "trace_id", "recoverable", "attempt"]
        return pd.DataFrame([e.to_dict() for e in self.errors], columns=columns)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}: {len(v)}" for k, v in self.packets.items())
        return (
            f"<RunResult {self.duration_s:.3f} s, outputs {{{counts}}}, {len(self.errors)} errors>"
        )

    def _repr_html_(self) -> str:
        return (
            f"<p><b>Run finished</b> in {self.duration_s:.3f} s with {len(self.errors)} "
            f"errors.</p>{self.stats.nodes.to_html()}"
        )
