"""read-file: stream a CSV, Parquet or JSON-lines file as Arrow tables of ``batchRows`` rows.

The file is read incrementally (``pyarrow.csv.open_csv``, ``ParquetFile.iter_batches``,
``pyarrow.json.open_json``), so only a batch or two is in memory at a time, and each read
runs in a worker thread: the loop stays free while a large file streams through.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.packets import DataPacket

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator, Mapping

EXTENSIONS: Final = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


class ReadFile(IONode):
    """Emits the file's rows on ``out``, ``batchRows`` per packet; each packet a new trace.

    A format that ``auto`` cannot tell from the extension fails the node's construction.
    A file that is missing or malformed raises when the run reads it; the runtime sends
    that error to ``error`` (or the dead-letter queue).
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.path = Path(self.settings["path"])
        self.where = f"read-file (node {node_id!r}) setting 'path'"
        where = f"settings of read-file {self.version} (node {node_id!r})"
        self.format: str = self.settings["format"]
        if self.format == "auto":
            suffix = self.path.suffix.lower()
            if suffix not in EXTENSIONS:
                msg = (
                    f"{where}: format 'auto' cannot tell the format of {str(self.path)!r} from "
                    f"its extension {suffix or '(none)'!r}; set format to csv, parquet or jsonl"
                )
                raise ValueError(msg)
            self.format = EXTENSIONS[suffix]
        delimiter: str = self.settings["delimiter"] or (
            "\t" if self.path.suffix.lower() == ".tsv" else ","
        )
        if len(delimiter) != 1:
            msg = f"{where}: delimiter must be one character; got {delimiter!r}"
            raise ValueError(msg)
        self.delimiter = delimiter
        self.batch_rows: int = self.settings["batchRows"]

    async def run(self, ctx: NodeContext) -> None:
        batches, resources = await asyncio.to_thread(self._open)
        reading = False
        try:
            for index in itertools.count():
                reading = True
                table = await asyncio.to_thread(next, batches, None)
                reading = False
                if table is None:
                    break
                info = {"path": str(self.path), "batch": index, "rows": table.num_rows}
                await ctx.emit("out", DataPacket(info, table, origin_node=self.node_id))
        finally:
            if not reading:  # else the read still runs in its thread; the generator's end closes
                batches.close()
                resources.close()

    def _open(self) -> tuple[Generator[pa.Table, None, None], contextlib.ExitStack]:
        """The file's batches and what to close; opening checks that the file can be parsed."""
        resources = contextlib.ExitStack()
        try:
            # Under the data root, regular files only (the graph's folder unless widened in code).
            file = resources.enter_context(self.data_root.open_read(self.path, where=self.where))
            if self.format == "parquet":
                reader: Any = resources.enter_context(pq.ParquetFile(file))
                schema = reader.schema_arrow
                batches = reader.iter_batches(batch_size=self.batch_rows)
            else:
                # A Python file object, not a path: given a path, Arrow reads ~32 blocks ahead
                # in the background, which for a 50 MB file is most of it.
                if self.format == "csv":
                    parse = pcsv.ParseOptions(delimiter=self.delimiter)
                    reader = pcsv.open_csv(file, parse_options=parse)
                else:
                    reader = _open_jsonl(file, self.batch_rows)
                resources.enter_context(contextlib.closing(reader))
                schema, batches = reader.schema, reader
        except (OSError, pa.ArrowException) as exc:
            resources.close()
            msg = (
                f"read-file (node {self.node_id!r}): cannot read {str(self.path)!r} as "
                f"{self.format}: {exc}"
            )
            raise OSError(msg) from exc
        return self._batches(batches, schema, resources), resources

    def _batches(
        self, batches: Iterator[pa.RecordBatch], schema: pa.Schema, resources: contextlib.ExitStack
    ) -> Generator[pa.Table, None, None]:
        with resources:
            try:
                yield from rebatch(batches, self.batch_rows, schema)
            except pa.ArrowException as exc:
                msg = f"read-file (node {self.node_id!r}): reading {str(self.path)!r} failed: {exc}"
                raise OSError(msg) from exc


def rebatch(batches: Iterator[pa.RecordBatch], rows: int, schema: pa.Schema) -> Iterator[pa.Table]:
    """Tables of exactly ``rows`` rows (the last may be shorter; at least one table).

    Slices share the readers' buffers: nothing is copied.
    """
    pending: list[pa.RecordBatch] = []
    count = 0
    emitted = False
    for batch in batches:
        if not batch.num_rows:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending, schema)
            yield table.slice(0, rows)
            emitted = True
            rest = table.slice(rows)
            pending = rest.to_batches()
            count = rest.num_rows
    if count or not emitted:
        yield pa.Table.from_batches(pending, schema)


def _open_jsonl(file: BinaryIO, rows: int) -> Any:
    """A reader of record batches for a JSON-lines file (``open_json`` from pyarrow 19)."""
    open_json = getattr(pjson, "open_json", None)
    if open_json is not None:
        return open_json(file)
    return _JsonLines(file, rows)


class _JsonLines:
    """The fallback for pyarrow < 19: ``read_json`` on ``rows`` lines at a time.

    The first chunk fixes the schema, as ``open_json`` does; a later chunk is parsed with it.
    """

    def __init__(self, file: BinaryIO, rows: int) -> None:
        self._file = file
        self._rows = rows
        self._first = self._read_chunk(None)
        self.schema: pa.Schema = self._first.schema if self._first is not None else pa.schema([])

    def _read_chunk(self, schema: pa.Schema | None) -> pa.Table | None:
        lines = []
        for line in self._file:
            if line.strip():
                lines.append(line)
                if len(lines) >= self._rows:
                    break
        if not lines:
            return None
        parse = pjson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
        options = parse if schema is not None else None
        return pjson.read_json(pa.BufferReader(b"".join(lines)), parse_options=options)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        table = self._first
        self._first = None
        while table is not None:
            yield from table.to_batches()
            table = self._read_chunk(self.schema)

    def close(self) -> None:
        """Nothing to release: the caller closes the file."""
