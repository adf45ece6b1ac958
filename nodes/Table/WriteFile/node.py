"""write-file: append incoming Arrow tables to one CSV, Parquet or JSON-lines file per run.

The writer opens on the first batch (its schema fixes the file's columns), stays open while
batches arrive, and is closed in ``teardown``. CSV and JSON-lines files are flushed after
every batch, so another reader sees whole rows; a Parquet footer is written on close.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import json
import math
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.nodekit.settings import settings_where
from dataflow_jupyter.nodekit.tables import format_for
from dataflow_jupyter.packets import ErrorCode, ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket

_JSON_ROWS_PER_WRITE: Final = 10_000


class WriteFile(IONode):
    """Writes each input table and emits ``{path, rows, totalRows}`` on ``out``.

    Problems with a batch (not a table, other columns than the file's, an I/O error) come
    back as an ``ErrorPacket`` on ``error``; the writer stays usable for the next batch.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.path = Path(self.settings["path"])
        self.where = f"write-file (node {node_id!r})"
        problem = settings_where(self)
        self.format = format_for(self.path, self.settings["format"], where=problem, writing=True)
        self.append = self.settings["mode"] == "append"
        if self.append and self.format == "parquet":
            msg = (
                f"{problem}: a Parquet file cannot be appended to once written; use mode "
                "'overwrite', or write csv or jsonl"
            )
            raise ValueError(msg)
        self.schema: pa.Schema | None = None
        self.total_rows = 0
        self._file: IO[bytes] | None = None
        self._writer: Any = None

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        table = input_table(inputs["in"], where=self.where, port="in")
        if isinstance(table, ErrorPacket):
            return table
        try:
            table = self._open(table) if self.schema is None else conform(table, self.schema)
            self._write(table)
        except _BatchError as exc:
            return ErrorPacket(ErrorCode.VALIDATION, f"{self.where}: {exc}")
        except (OSError, pa.ArrowException) as exc:
            msg = f"{self.where}: cannot write to {str(self.path)!r}: {exc}"
            return ErrorPacket(ErrorCode.IO_ERROR, msg)
        self.total_rows += table.num_rows
        summary = {"path": str(self.path), "rows": table.num_rows, "totalRows": self.total_rows}
        return {"out": summary}

    async def teardown(self) -> None:
        await asyncio.to_thread(self._close)

    def _open(self, table: pa.Table) -> pa.Table:
        """Open the writer for ``table``'s columns (or an appended CSV file's header)."""
        # Under the data root; folders made inside it only; never through a symbolic link.
        root, where = self.data_root, f"{self.where} setting 'path'"
        target = root.target(self.path, where=where)
        has_rows = self.append and target.exists() and target.stat().st_size > 0
        if has_rows and self.format == "csv":
            with root.open_read(target, where=where) as file, pcsv.open_csv(file) as reader:
                header = reader.schema
            if set(header.names) != set(table.column_names):
                msg = (
                    f"cannot append columns {table.column_names} to {str(self.path)!r}, whose "
                    f"header is {header.names}"
                )
                raise _BatchError(msg)
            table = table.select(header.names)
        self._file = root.open_write(self.path, append=self.append, where=where)
        if self.format == "parquet":
            self._writer = pq.ParquetWriter(self._file, table.schema)
        elif self.format == "csv":
            options = pcsv.WriteOptions(include_header=not has_rows)
            self._writer = pcsv.CSVWriter(self._file, table.schema, write_options=options)
        self.schema = table.schema
        return table

    def _write(self, table: pa.Table) -> None:
        if self.format == "jsonl":
            assert self._file is not None
            for batch in table.to_batches(max_chunksize=_JSON_ROWS_PER_WRITE):
                lines = (_json_line(row) for row in batch.to_pylist())
                self._file.write("".join(lines).encode())
        else:
            self._writer.write_table(table)
        if self._file is not None:
            self._file.flush()

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        file, self._file = self._file, None
        try:
            if writer is not None:
                writer.close()
        finally:
            if file is not None:
                file.close()


class _BatchError(Exception):
    """A batch that does not fit the file; becomes an ErrorPacket(VALIDATION)."""


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, order and types; ``_BatchError`` when it cannot."""
    if table.schema.equals(schema):
        return table
    if set(table.column_names) != set(schema.names):
        msg = f"a batch has columns {table.column_names}, but the file has {schema.names}"
        raise _BatchError(msg)
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        msg = f"a batch's columns do not fit the file's types ({schema}): {exc}"
        raise _BatchError(msg) from exc


def _json_line(row: dict[str, Any]) -> str:
    """One row as a line of JSON; NaN and infinities, which JSON lacks, become null."""
    for name, value in row.items():
        if isinstance(value, float) and not math.isfinite(value):
            row[name] = None
    return json.dumps(row, default=_jsonable, allow_nan=False) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    msg = f"{type(value).__name__} is not JSON serializable"
    raise TypeError(msg)
