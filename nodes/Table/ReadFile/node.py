"""read-file: stream a CSV, Parquet or JSON-lines file as Arrow tables of ``batchRows`` rows.

The file is read incrementally (``pyarrow.csv.open_csv``, ``ParquetFile.iter_batches``,
``pyarrow.json.open_json``), so only a batch or two is in memory at a time, and each read
runs in a worker thread: the loop stays free while a large file streams through.

CSV files are read as pandas ``read_csv`` reads ordinary files: the strings pandas treats
as missing (``PANDAS_NA_VALUES``, or the ``nullValues`` setting) are nulls in every column
type, quoted or not; a column Arrow would read as dates or times stays text, and a column
of nulls only is float64. Unlike pandas, an integer column with nulls stays an integer
column (``to_pandas()`` turns it into float64, as pandas has it). ``columns`` keeps the
file's order, like pandas' ``usecols``; ``skipRows`` skips lines before the header.

Projection. Before a run the runtime may tell the node (``project``) which columns the graph
uses (``dataflow_jupyter.runtime._pushdown``); then only those are read: Parquet decodes only
those column chunks, CSV converts only those columns (``include_columns``), JSON lines are
selected after parsing. Together with ``columns``: the columns of the setting that the graph
uses. A graph that uses none (a row count) gets the first one, which carries the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, cast

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.nodekit.settings import settings_where
from dataflow_jupyter.nodekit.tables import csv_delimiter, format_for
from dataflow_jupyter.packets import DataPacket

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Mapping

# pandas' default missing-value strings (pandas._libs.parsers.STR_NA_VALUES)
PANDAS_NA_VALUES: Final = (
    *("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"),
    *("1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"),
)


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
        where = settings_where(self)
        self.format = format_for(self.path, self.settings["format"], where=where)
        delimiter: str = self.settings["delimiter"] or csv_delimiter(self.path)
        if len(delimiter) != 1:
            msg = f"{where}: delimiter must be one character; got {delimiter!r}"
            raise ValueError(msg)
        self.delimiter = delimiter
        self.batch_rows: int = self.settings["batchRows"]
        self.null_values = _strings(self.settings["nullValues"], "nullValues", where)
        self.columns = _strings(self.settings["columns"], "columns", where)
        if self.columns is not None and (
            not self.columns or len(set(self.columns)) < len(self.columns)
        ):
            msg = f"{where}: 'columns' must list distinct column names; got {self.columns!r:.80}"
            raise ValueError(msg)
        self.skip_rows: int = self.settings["skipRows"]
        self.projected: frozenset[str] | None = None  # the columns the graph uses (project)
        if self.skip_rows and self.format != "csv":
            msg = f"{where}: skipRows applies to CSV files; this one is read as {self.format}"
            raise ValueError(msg)

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

    def project(self, port: str, columns: frozenset[str]) -> None:
        """The graph uses only ``columns`` of ``out``: read only those (projection pushdown)."""
        if port == "out":
            self.projected = columns

    def _open(self) -> tuple[Generator[pa.Table, None, None], contextlib.ExitStack]:
        """The file's batches and what to close; opening checks that the file can be parsed."""
        resources = contextlib.ExitStack()

        def open_file() -> BinaryIO:
            # Under the data root, regular files only (the graph's folder unless widened in code).
            opened = self.data_root.open_read(self.path, where=self.where)
            return cast("BinaryIO", resources.enter_context(opened))

        try:
            names: list[str] | None
            if self.format == "parquet":
                reader: Any = resources.enter_context(pq.ParquetFile(open_file()))
                names = self._names(reader.schema_arrow)
                schema = reader.schema_arrow
                if names is not None:
                    schema = pa.schema([schema.field(name) for name in names])
                batches = reader.iter_batches(batch_size=self.batch_rows, columns=names)
            elif self.format == "csv":
                reader = resources.enter_context(contextlib.closing(self._open_csv(open_file)))
                schema, batches = reader.schema, reader
            else:
                reader = _open_jsonl(open_file(), self.batch_rows)
                resources.enter_context(contextlib.closing(reader))
                schema, batches = reader.schema, reader
                names = self._names(schema)
                if names is not None:
                    schema = pa.schema([schema.field(name) for name in names])
                    batches = (batch.select(names) for batch in batches)
        except (OSError, pa.ArrowException) as exc:
            resources.close()
            msg = (
                f"read-file (node {self.node_id!r}): cannot read {str(self.path)!r} as "
                f"{self.format}: {exc}"
            )
            raise OSError(msg) from exc
        return self._batches(batches, schema, resources), resources

    def _open_csv(self, open_file: Callable[[], BinaryIO]) -> Any:
        """A CSV reader with pandas' reading of nulls and types (see the module docstring).

        Types are inferred from the first block; when a column is inferred as a date or time
        (pandas keeps text), or as all-null (pandas: float64), or only some columns are
        wanted, the file is opened a second time with those decisions made. The second
        reader gets a file object of its own: the first one's read-ahead may still use its.
        """
        parse = pcsv.ParseOptions(delimiter=self.delimiter)
        read = pcsv.ReadOptions(skip_rows=self.skip_rows)
        nulls = list(PANDAS_NA_VALUES if self.null_values is None else self.null_values)
        convert = pcsv.ConvertOptions(
            null_values=nulls, strings_can_be_null=True, quoted_strings_can_be_null=True
        )
        reader = pcsv.open_csv(
            open_file(), read_options=read, parse_options=parse, convert_options=convert
        )
        names = self._names(reader.schema)
        wanted = set(reader.schema.names if names is None else names)
        types = {f.name: _pandas_type(f.type) for f in reader.schema if f.name in wanted}
        overrides = {name: kind for name, kind in types.items() if kind is not None}
        if not overrides and names is None:
            return reader
        reader.close()
        convert.column_types = overrides
        if names is not None:
            convert.include_columns = names
        return pcsv.open_csv(
            open_file(), read_options=read, parse_options=parse, convert_options=convert
        )

    def _names(self, schema: pa.Schema) -> list[str] | None:
        """The columns to read, in the file's order: the ``columns`` setting's (pandas
        ``usecols``), of those the ones the graph uses (``project``); ``None``: all of them.

        The graph using none (a row count) still reads the first one, which carries the rows.
        """
        if self.columns is None and self.projected is None:
            return None
        missing = [name for name in self.columns or () if name not in schema.names]
        if missing:
            msg = (
                f"the file has no column {missing[0]!r} (setting 'columns'); its columns: "
                f"{', '.join(schema.names) or 'none'}"
            )
            raise pa.ArrowInvalid(msg)
        names = [name for name in schema.names if self.columns is None or name in self.columns]
        if self.projected is not None:
            used = [name for name in names if name in self.projected]
            names = used or names[:1]
        return names

    def _batches(
        self, batches: Iterator[pa.RecordBatch], schema: pa.Schema, resources: contextlib.ExitStack
    ) -> Generator[pa.Table, None, None]:
        with resources:
            try:
                yield from rebatch(batches, self.batch_rows, schema)
            except pa.ArrowException as exc:
                msg = f"read-file (node {self.node_id!r}): reading {str(self.path)!r} failed: {exc}"
                raise OSError(msg) from exc


def _strings(value: Any, name: str, where: str) -> list[str] | None:
    """A setting that is null or a list of strings."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        msg = f"{where}: {name!r} must be null or a list of strings; got {value!r:.80}"
        raise ValueError(msg)
    return value


def _pandas_type(kind: pa.DataType) -> pa.DataType | None:
    """The type pandas' read_csv gives a column Arrow inferred as ``kind``, if different."""
    if pa.types.is_temporal(kind):
        return pa.string()  # pandas parses no dates unless asked
    if pa.types.is_null(kind):
        return pa.float64()  # an all-missing column is float64 in pandas
    return None


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
