"""join 2.0.0: a hash join with pandas ``merge`` semantics, the right side as build side.

Build. Tables arriving on ``right`` are collected until that port finishes (every edge into
it ended: ``input_finished('right')``). Then the right table is indexed: each key column is
dictionary-encoded (null is a value of its own: pandas matches null keys with null keys), the
codes of several keys are combined into one, and the right rows are ordered by code.

Probe. A table on ``left`` that arrives before the right side is complete waits in memory;
afterwards each left table is joined on arrival and the result sent on ``out`` (one table
per left table). Each left row gives its matches in the order of the right rows; with
``how`` ``left`` or ``outer`` a left row without match gives one row with nulls on the right.
With ``right`` or ``outer`` the right rows that matched no left row are sent in one more
table when ``left`` finishes too (``finish``), with nulls on the left.

Rows and columns as pandas ``left.merge(right, how=..., left_on=keys, right_on=rightKeys,
suffixes=(leftSuffix, rightSuffix))``: a key named the same on both sides appears once (on
the left's place; from the right for right-only rows); keys named differently are both kept;
other columns present on both sides get the suffixes. Row order: ``inner`` and ``left`` as
pandas (left order, then right order); ``right`` and ``outer`` send matches in left order and
the right-only rows last, where pandas orders by the right rows (``right``) or sorts by key
(``outer``): sort downstream to compare. Integer columns that get nulls stay integers.

Memory: the whole right side and the left tables that arrive before it is complete; nothing
goes to the state adapter, so a restarted run collects the right side again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflow_jupyter.node import NodeContext, StatefulNode
from dataflow_jupyter.nodekit.settings import column_names, settings_where
from dataflow_jupyter.packets import ErrorCode, ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket

HOWS: Final = ("inner", "left", "right", "outer")
_ARROW_ERRORS: Final = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)

Ints = np.ndarray[Any, np.dtype[np.int64]]


class Join(StatefulNode):
    """Collects ``right``, then joins each ``left`` table to it; see the module docstring."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.where = f"join (node {node_id!r})"
        problem = settings_where(self)
        self.keys = _key_list(self.settings["keys"], "keys", problem)
        right = self.settings["rightKeys"]
        self.right_keys = self.keys if right is None else _key_list(right, "rightKeys", problem)
        if len(self.right_keys) != len(self.keys):
            msg = (
                f"{problem}: 'keys' has {len(self.keys)} columns but 'rightKeys' has "
                f"{len(self.right_keys)}; they are matched pairwise"
            )
            raise ValueError(msg)
        self.how: str = self.settings["how"]
        self.suffixes: tuple[str, str] = (self.settings["leftSuffix"], self.settings["rightSuffix"])
        # a key named the same on both sides appears once
        self.shared = {k for k, r in zip(self.keys, self.right_keys, strict=True) if k == r}
        self._reset()

    def _reset(self) -> None:
        self._right: list[pa.Table] = []
        self._waiting: list[pa.Table] = []
        self._index: _Index | None = None
        self._matched: np.ndarray[Any, np.dtype[np.bool_]] | None = None
        self._left_schema: pa.Schema | None = None
        self._seen: dict[str, str] = {}

    async def setup(self) -> None:
        """Each run collects its right side afresh."""
        self._reset()

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        arrived = [p for p, packet in inputs.items() if self._seen.get(p) != packet.packet_id]
        port = arrived[0] if arrived else next(iter(inputs))
        packet = inputs[port]
        self._seen[port] = packet.packet_id
        keys = self.right_keys if port == "right" else self.keys
        table = input_table(packet, where=self.where, port=port, columns=keys)
        if isinstance(table, ErrorPacket):
            return table
        if port == "right":
            if self._index is not None:
                msg = f"{self.where}: a table came on 'right' after that port had finished"
                return ErrorPacket(ErrorCode.VALIDATION, msg)
            self._right.append(table)
            return None
        if self._index is None:
            self._waiting.append(table)
            return None
        return self._result([table])

    def input_finished(self, port: str, ctx: NodeContext) -> Any:
        """When ``right`` finishes: index it and join the left tables that waited."""
        if port != "right":
            return None
        self.build()
        waiting, self._waiting = self._waiting, []
        return self._result(waiting) if waiting else None

    def finish(self, ctx: NodeContext) -> Any:
        """With ``right``/``outer``: the right rows that matched no left row."""
        tables: list[pa.Table] = []
        if self._index is None:  # 'right' finished without input_finished: build now
            waited = self.input_finished("right", ctx)
            if isinstance(waited, ErrorPacket):
                return waited
            if waited is not None:
                tables.append(waited["out"])
        try:
            if self.how in ("right", "outer"):
                tables.append(self.unmatched())
        except _ARROW_ERRORS as exc:
            return ErrorPacket(ErrorCode.VALIDATION, f"{self.where}: {exc}")
        if not tables:
            return None
        return {
            "out": tables[0]
            if len(tables) == 1
            else pa.concat_tables(tables, promote_options="permissive")
        }

    # -- the pure part: build, probe, unmatched ------------------------------------------------

    def build(self) -> None:
        """Index the collected right tables (called once, when ``right`` finishes)."""
        if self._right:
            right = pa.concat_tables(self._right, promote_options="permissive")
        else:  # no right table at all: no columns to add, nothing matches
            right = pa.table({k: pa.array([], pa.null()) for k in self.right_keys})
        self._right = []
        self._index = _Index(right.combine_chunks(), self.right_keys)
        self._matched = np.zeros(len(right), dtype=np.bool_)

    def probe(self, left: pa.Table) -> pa.Table:
        """``left`` joined to the right side (built): the rows of a ``merge`` for these rows."""
        assert self._index is not None  # build() came first
        assert self._matched is not None
        if self._left_schema is None:
            self._left_schema = left.schema
        elif self._left_schema != left.schema:  # e.g. a column all null in one table
            schemas = [self._left_schema, left.schema]
            self._left_schema = pa.unify_schemas(schemas, promote_options="permissive")
        index = self._index
        codes = index.codes_of(left, self.keys)
        counts = np.where(codes >= 0, index.counts[np.maximum(codes, 0)], 0)
        rows = np.maximum(counts, 1) if self.how in ("left", "outer") else counts
        left_rows = np.repeat(np.arange(len(left), dtype=np.int64), rows)
        starts = np.repeat(np.cumsum(rows) - rows, rows)
        within = np.arange(len(left_rows), dtype=np.int64) - starts
        matched = np.repeat(counts > 0, rows)
        right_rows = np.full(len(left_rows), -1, dtype=np.int64)
        first = index.starts[np.repeat(codes, rows)[matched]]
        right_rows[matched] = index.order[first + within[matched]]
        self._matched[right_rows[matched]] = True
        return self._assemble(left.take(pa.array(left_rows)), _take(index.table, right_rows))

    def unmatched(self) -> pa.Table:
        """The right rows no left row matched, with nulls (or the right's key) on the left."""
        assert self._index is not None
        assert self._matched is not None
        right = self._index.table
        rows = np.flatnonzero(~self._matched)
        taken = right.take(pa.array(rows, pa.int64()))
        if self._left_schema is None:  # no left table came: the left's columns are unknown
            schema = pa.schema([right.schema.field(r).with_name(k) for k, r in self._pairs()])
        else:
            schema = self._left_schema
        by_key = dict(zip(self.keys, self.right_keys, strict=True))
        left_columns = []
        for field in schema:
            if field.name in self.shared:
                column = taken[by_key[field.name]]
                if field.type not in (column.type, pa.null()):  # a null-typed left key: as is
                    column = column.cast(field.type)
                left_columns.append(column)
            else:
                left_columns.append(pa.nulls(len(rows), field.type))
        return self._assemble(pa.Table.from_arrays(left_columns, names=schema.names), taken)

    # -- helpers -------------------------------------------------------------------------------

    def _pairs(self) -> list[tuple[str, str]]:
        return [(k, r) for k, r in zip(self.keys, self.right_keys, strict=True) if k == r]

    def _result(self, tables: list[pa.Table]) -> Any:
        try:
            joined = [self.probe(table) for table in tables]
            return {
                "out": joined[0]
                if len(joined) == 1
                else pa.concat_tables(joined, promote_options="permissive")
            }
        except _ARROW_ERRORS as exc:
            msg = f"{self.where}: cannot join on {self.keys} = {self.right_keys}: {exc}"
            return ErrorPacket(ErrorCode.VALIDATION, msg)

    def _assemble(self, left: pa.Table, right: pa.Table) -> pa.Table:
        """The output columns: the left's, then the right's but its shared keys; suffixes."""
        right_names = [n for n in right.column_names if n not in self.shared]
        overlap = set(left.column_names) & set(right_names)
        left_suffix, right_suffix = self.suffixes
        if overlap and left_suffix == right_suffix:
            msg = (
                f"columns {sorted(overlap)} are on both sides and leftSuffix equals rightSuffix "
                f"({left_suffix!r}); set different suffixes"
            )
            raise pa.ArrowInvalid(msg)
        names = [n + left_suffix if n in overlap else n for n in left.column_names]
        names += [n + right_suffix if n in overlap else n for n in right_names]
        if len(set(names)) != len(names):
            msg = f"the joined table would have a column twice: {names}; change the suffixes"
            raise pa.ArrowInvalid(msg)
        columns = [*left.columns, *(right[n] for n in right_names)]
        return pa.Table.from_arrays(columns, names=names)


class _Index:
    """The right table's rows by key code; ``codes_of`` gives a left table's codes."""

    def __init__(self, table: pa.Table, keys: list[str]) -> None:
        self.table = table
        self.dictionaries: list[pa.Array] = []
        self.steps: list[Ints] = []  # per extra key: the sorted combined codes seen on the right
        code: Ints = np.zeros(len(table), dtype=np.int64)
        for position, key in enumerate(keys):
            column = _same_zero(table[key])
            if len(column):
                encoded = pc.dictionary_encode(column, null_encoding="encode").combine_chunks()
                dictionary = encoded.dictionary
                key_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            else:
                dictionary = pa.array([], column.type)
                key_codes = np.zeros(0, dtype=np.int64)
            self.dictionaries.append(dictionary)
            if position == 0:
                code = key_codes
            else:
                combined = code * len(dictionary) + key_codes
                uniques, code = np.unique(combined, return_inverse=True)
                self.steps.append(uniques)
        groups = int(code.max()) + 1 if len(code) else 0
        self.order: Ints = np.argsort(code, kind="stable").astype(np.int64)
        self.counts: Ints = np.bincount(code, minlength=groups).astype(np.int64)
        self.starts: Ints = (np.cumsum(self.counts) - self.counts).astype(np.int64)
        if not len(self.counts):  # nothing on the right: every left code is -1
            self.counts = np.zeros(1, dtype=np.int64)
            self.starts = np.zeros(1, dtype=np.int64)

    def codes_of(self, left: pa.Table, keys: list[str]) -> Ints:
        """Each left row's right code, -1 where no right row has its key."""
        code: Ints = np.zeros(len(left), dtype=np.int64)
        for position, (key, known) in enumerate(zip(keys, self.dictionaries, strict=True)):
            values, dictionary = _same_zero(left[key]), known
            if dictionary.type == pa.null():
                dictionary = dictionary.cast(values.type)
            elif values.type != dictionary.type:
                values = values.cast(dictionary.type)  # pandas joins 1 with 1.0; 'x' fails
            found = pc.index_in(values, value_set=dictionary, skip_nulls=False)
            key_codes = found.to_numpy(zero_copy_only=False)
            key_codes = np.where(np.isnan(key_codes), -1, key_codes).astype(np.int64)
            if position == 0:
                code = key_codes
                continue
            uniques = self.steps[position - 1]
            combined = code * len(dictionary) + key_codes
            slot = np.searchsorted(uniques, combined)
            found_slot = (slot < len(uniques)) & (code >= 0) & (key_codes >= 0)
            found_slot[found_slot] = uniques[slot[found_slot]] == combined[found_slot]
            code = np.where(found_slot, slot, -1)
        return code


def _same_zero(values: Any) -> Any:
    """Floats with -0.0 made 0.0: pandas (and ==) holds them equal, Arrow's hashing not."""
    if pa.types.is_floating(values.type):
        return pc.add(values, pa.scalar(0.0, values.type))
    return values


def _take(table: pa.Table, rows: Any) -> pa.Table:
    """``table``'s rows at ``rows``; -1 gives a row of nulls."""
    rows = np.asarray(rows, dtype=np.int64)
    return table.take(pa.array(rows, mask=rows < 0))


def _key_list(keys: Any, name: str, problem: str) -> list[str]:
    """A key setting: a column name or a list of distinct ones."""
    return column_names(keys, setting=name, where=problem, example='"sym" or ["sym", "day"]')
