"""What ``dataflow run`` shows and writes of a graph's results.

The results are the packets of the graph's unconnected outputs (``RunResult.packets``, keyed
``node.port``).

Preview (``preview``), one block per output, at most ``width`` characters a line:

- one packet: a table (Arrow) as its shape and first rows, printed as pandas prints a
  DataFrame (columns that do not fit are elided with ``...``); any other value as one line
  of JSON, cut at the width;
- several packets: how many, then the last ``LAST`` of them one line each (a table as its
  shape and columns).

Files (``write_outputs``), one per output port, in ``DIR``:

- ``<node>.<port>.parquet`` when every packet kept is a table: the tables one after the
  other (columns unified; a column missing from a table is null there; tables whose
  column types cannot be unified go to JSON instead);
- ``<node>.<port>.json`` otherwise: a JSON array of the values, one item per packet, in
  order (a table in it as a list of row objects; what JSON cannot hold, as its ``repr``).

Both see the packets the run kept: the first ``max_outputs`` of each port (the runtime's
``max_outputs``); ``RunResult.counts`` says how many there were in all, and a file that holds
fewer says so on stdout.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from dataflow_jupyter.packets import BinaryRef, RemoteTable

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import pandas as pd

    from dataflow_jupyter.packets import DataPacket
    from dataflow_jupyter.runtime import RunResult

__all__ = ["HEAD_ROWS", "LAST", "preview", "write_outputs"]

LAST: Final = 3  # packets shown of an output that emitted several
HEAD_ROWS: Final = 5  # rows shown of a table
_INDENT: Final = "    "


def preview(result: RunResult, width: int) -> list[str]:
    """The lines of the ``outputs:`` section of the run summary."""
    if not result.packets:
        return ["outputs: none"]
    lines = ["outputs:"]
    inner = max(width - len(_INDENT), 20)
    for key in sorted(result.packets):
        kept = result.packets[key]
        count = result.counts.get(key, len(kept))
        frames = result.frames.get(key)
        last = list(frames)[-LAST:] if frames else kept[-LAST:]
        if count == 1 and kept:
            lines += _one(key, kept[0], inner)
        else:
            shown = min(len(last), count)
            lines.append(f"  {key}: {count} packets; the last {shown}:")
            lines += [_INDENT + _cut(_one_line(packet), inner) for packet in last[-shown:]]
    return lines


def _one(key: str, packet: DataPacket, width: int) -> list[str]:
    table = _table(packet)
    if table is None:
        return [_cut(f"  {key}: 1 packet: {_json(packet.value)}", width + len(_INDENT))]
    head = f"  {key}: 1 packet: {_shape(table)}"
    if table.num_rows == 0:
        return [head]
    shown = min(table.num_rows, HEAD_ROWS)
    rows = _fitted(table.slice(0, shown).to_pandas(), width)
    more = table.num_rows - shown
    lines = [head, *(_INDENT + row for row in rows)]
    if more:
        lines.append(f"{_INDENT}... {more} more rows")
    return lines


def _one_line(packet: DataPacket) -> str:
    table = _table(packet)
    if table is None:
        return _json(packet.value)
    columns = ", ".join(table.column_names)
    return f"{_shape(table)}: {columns}"


def _shape(table: pa.Table) -> str:
    rows, columns = table.num_rows, table.num_columns
    return (
        f"a table of {rows} row{'' if rows == 1 else 's'} "
        f"x {columns} column{'' if columns == 1 else 's'}"
    )


def _fitted(frame: pd.DataFrame, width: int) -> list[str]:
    """``frame`` as pandas prints it, eliding middle columns until every line fits."""
    columns = len(frame.columns)
    for max_cols in range(columns, 1, -1):
        text = frame.to_string(max_cols=max_cols, max_colwidth=40)
        lines = text.splitlines()
        if max(map(len, lines)) <= width:
            return lines
    return [_cut(line, width) for line in frame.to_string(max_cols=2, max_colwidth=20).splitlines()]


def _table(packet: DataPacket) -> pa.Table | None:
    data = packet.binary_value
    if isinstance(data, pa.Table | pa.RecordBatch | BinaryRef | RemoteTable):
        return packet.table()  # a remote table is brought here: the output needs it
    return None


def _json(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, default=repr)


def _plain(value: Any) -> Any:
    """``value`` with non-finite floats as strings (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 1)] + "..."


# -- files ---------------------------------------------------------------------------------


def write_outputs(result: RunResult, folder: Path) -> list[str]:
    """Write one file per unconnected output in ``folder``; the lines saying what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for key in sorted(result.packets):
        kept = result.packets[key]
        path = _write(folder, key, kept)
        count = result.counts.get(key, len(kept))
        partial = f" (the first {len(kept)} of {count})" if len(kept) < count else ""
        lines.append(f"wrote {path}: {len(kept)} packet{'' if len(kept) == 1 else 's'}{partial}")
    return lines


def _write(folder: Path, key: str, packets: Sequence[DataPacket]) -> Path:
    tables = [_table(packet) for packet in packets]
    if packets and all(table is not None for table in tables):
        path = folder / f"{key}.parquet"
        try:
            joined = pa.concat_tables(
                [table for table in tables if table is not None], promote_options="permissive"
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # tables whose columns cannot be unified: JSON holds them all
        else:
            pq.write_table(joined, path)
            return path
    path = folder / f"{key}.json"
    values = [
        table.to_pylist() if table is not None else _plain(packet.value)
        for packet, table in zip(packets, tables, strict=True)
    ]
    path.write_text(
        json.dumps(values, ensure_ascii=False, indent=1, default=repr) + "\n", encoding="utf-8"
    )
    return path
