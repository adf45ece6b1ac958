"""aggregate 2.0.0: group a stream of tables by key columns; totals over the whole input.

Modes. ``total`` (the default) reduces each incoming table to *partial aggregates* per group
and merges them with the partials so far; at end of stream (``finish``) it emits one table,
equal to pandas ``df.groupby(keys, sort=True, dropna=True).agg(...)`` on all the rows that
arrived, whatever the batch size. ``running`` merges the same way and emits the totals so far
after every table (for live streams). ``batch`` aggregates each table on its own.

Partials, per op (merged by summing unless said otherwise):
    count, count_all      n
    sum                   s (min_count=0: an all-null group sums to 0, as in pandas)
    product               p (merged by product; min_count=0: an empty product is 1)
    mean                  s, n                   -> s / n
    min, max, first, last v (merged by min, max, first, last: in arrival order)
    any, all              v (merged by any, all; nulls skipped: pandas' skipna)
    stddev, variance      n, m (mean), m2 (sum of squared deviations), merged exactly
                          (Chan et al.); variance = m2 / (n - 1), ddof=1 as pandas
    list                  l (the values, null included, in arrival order; merged by concat)
    distinct              d (distinct values, null included once, in order of first
                          appearance: pandas ``unique``; -0.0 is 0.0, as ``==`` has it)
    count_distinct        d, counted without null at the end (pandas ``nunique``)
    approximate_median    a t-digest estimate that cannot be merged: ``batch`` mode only.

Groups. With ``sort`` the result is ordered by the keys, ascending, nulls last (pandas
``sort=True``); without it, in order of first appearance (pandas ``sort=False``; each merge
orders its groups by their first row explicitly, as Arrow's ``group_by`` output order is not
the input order). Rows whose key is null are dropped (pandas ``dropna=True``) unless
``nullKeys`` is ``keep``. A float key -0.0 is 0.0. With no keys the whole input is one group
and the result has one row (also for an empty input).

State. In ``total`` and ``running`` mode the merged partials (an Arrow table: the keys, then
the parts of each aggregation, ``<index>.<part>``) live in the node's state under
``partial``, written at every firing, read back at the first firing of a run: a run with
``file`` or ``redis`` state that is stopped and started again goes on from the partials it
had (a source that starts over from the beginning counts its rows again). ``finish`` emits
the total and deletes the key.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflow_jupyter.node import NodeContext, StatefulNode
from dataflow_jupyter.nodekit.settings import settings_where
from dataflow_jupyter.packets import ErrorCode, ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket

_SUM0: Final = pc.ScalarAggregateOptions(min_count=0)
_VALID: Final = pc.CountOptions("only_valid")
_DDOF0: Final = pc.VarianceOptions(ddof=0)  # times n: the sum of squared deviations
# op -> its parts: (part name, Arrow hash aggregation, options)
PARTS: Final[dict[str, tuple[tuple[str, str, Any], ...]]] = {
    "count": (("n", "count", _VALID),),
    "count_all": (("n", "count_all", None),),
    "sum": (("s", "sum", _SUM0),),
    "product": (("p", "product", _SUM0),),
    "mean": (("s", "sum", _SUM0), ("n", "count", _VALID)),
    "min": (("v", "min", None),),
    "max": (("v", "max", None),),
    "first": (("v", "first", None),),
    "last": (("v", "last", None),),
    "any": (("v", "any", _SUM0),),
    "all": (("v", "all", _SUM0),),
    "stddev": (("n", "count", _VALID), ("m", "mean", None), ("m2", "variance", _DDOF0)),
    "variance": (("n", "count", _VALID), ("m", "mean", None), ("m2", "variance", _DDOF0)),
    "list": (("l", "list", None),),
    "distinct": (("d", "list", None),),  # made distinct in order by _distinct_rows
    "count_distinct": (("d", "list", None),),
    "approximate_median": (("v", "approximate_median", None),),
}
OPS: Final = frozenset(PARTS)
UNMERGEABLE: Final = frozenset({"approximate_median"})
# How a simple part merges; "n", "s" and the m, m2, l, d parts are handled in _merge.
_MERGE_V: Final = {
    "min": "min",
    "max": "max",
    "first": "first",
    "last": "last",
    "any": "any",
    "all": "all",
}
_FIELDS: Final = frozenset({"column", "op", "as"})
_KEY: Final = "__group"  # the key of every row when there are no keys
_ROW: Final = "__row"
_FIRST: Final = "__first"
_STATE: Final = "partial"
_SETTINGS_KEY: Final = b"dataflow.aggregate.settings"
_PYARROW_MAJOR: Final = int(pa.__version__.split(".")[0])
_MERGED_BY_ROWS: Final = frozenset({"stddev", "variance", "list", "distinct", "count_distinct"})
_THREAD_ROWS: Final = 50_000  # merges of more rows than this run in a worker thread


@dataclass(frozen=True, slots=True)
class Aggregation:
    """One aggregation of the settings: ``op`` of ``column`` (None for count_all) as ``name``."""

    column: str | None
    op: str
    name: str


class Aggregate(StatefulNode):
    """Groups and aggregates; see the module docstring for the modes, partials and state."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.where = f"aggregate (node {node_id!r})"
        problem = settings_where(self)
        self.mode: str = self.settings["mode"]
        self.sort: bool = self.settings["sort"]
        self.drop_null_keys = self.settings["nullKeys"] == "drop"
        keys = self.settings["keys"]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            msg = (
                f"{problem}: 'keys' must be a list of column names, e.g. [\"sym\"]; got "
                f"{keys!r:.80}"
            )
            raise ValueError(msg)
        if len(set(keys)) != len(keys):
            msg = f"{problem}: 'keys' lists a column twice: {keys}"
            raise ValueError(msg)
        self.keys: list[str] = keys
        aggregations = self.settings["aggregations"]
        if not isinstance(aggregations, list) or not aggregations:
            msg = (
                f"{problem}: 'aggregations' must be a non-empty list like "
                f'[{{"column": "price", "op": "mean"}}]; got {aggregations!r:.80}'
            )
            raise ValueError(msg)
        self.aggregations: list[Aggregation] = []
        for index, item in enumerate(aggregations):
            aggregation = _aggregation(item, f"{problem}: aggregations[{index}]")
            if aggregation.op in UNMERGEABLE and self.mode != "batch":
                msg = (
                    f"{problem}: aggregations[{index}]: op {aggregation.op!r} is an estimate "
                    f"that cannot be merged across tables exactly, so mode {self.mode!r} "
                    "cannot offer it; use mode 'batch' (each table on its own), or op 'list' "
                    "and compute the median downstream"
                )
                raise ValueError(msg)
            if aggregation.name in {a.name for a in self.aggregations} or (
                aggregation.name in keys
            ):
                msg = (
                    f"{problem}: aggregations[{index}] is named {aggregation.name!r}, like "
                    "another column of the result; give it another name with 'as'"
                )
                raise ValueError(msg)
            self.aggregations.append(aggregation)
        used = [*keys, *(a.column for a in self.aggregations if a.column is not None)]
        self.columns = list(dict.fromkeys(used))
        self._partial: pa.Table | None = None
        self._loaded = False
        # what the stored partials depend on: a run with other settings must not merge them
        made_of = {"keys": keys, "aggregations": [[a.column, a.op] for a in self.aggregations]}
        made_of["nullKeys"] = self.settings["nullKeys"]
        self._fingerprint = json.dumps(made_of, separators=(",", ":"))

    def columns_needed(
        self, port: str, downstream: Mapping[str, frozenset[str] | None]
    ) -> frozenset[str]:
        """Its keys and aggregated columns, whatever follows (projection pushdown)."""
        return frozenset(self.columns)

    async def setup(self) -> None:
        """Each run reads the partials from the state again, at its first firing."""
        self._partial = None
        self._loaded = False

    async def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        table = input_table(inputs["in"], where=self.where, port="in", columns=self.columns)
        if isinstance(table, ErrorPacket):
            return table
        if self.mode == "batch":
            return self._try(lambda: {"out": self.finalize(self.partial(table))})
        previous = await self._load()
        rows = table.num_rows + (previous.num_rows if previous is not None else 0)

        def merge() -> pa.Table:
            return self.merge(previous, self.partial(table))

        if rows > _THREAD_ROWS:
            merged = await asyncio.to_thread(self._try, merge)
        else:
            merged = self._try(merge)
        if isinstance(merged, ErrorPacket):
            return merged
        merged = merged.replace_schema_metadata({_SETTINGS_KEY: self._fingerprint})
        await self.state.set(_STATE, merged)
        self._partial = merged
        if self.mode == "running":
            return self._try(lambda: {"out": self.finalize(merged)})
        return None

    async def finish(self, ctx: NodeContext) -> Any:
        """Emits the total (mode ``total``) and clears the partials of the finished run."""
        if self.mode == "batch":
            return None
        partial = await self._load()
        if partial is not None:
            await self.state.delete(_STATE)
        self._partial = None
        if self.mode == "total" and partial is not None:
            return self._try(lambda: {"out": self.finalize(partial)})
        return None

    # -- the pure part: partials, merge, finalize ----------------------------------------------

    def partial(self, table: pa.Table) -> pa.Table:
        """The partial aggregates of one table: one row per group, in order of first row."""
        keys = self.keys or [_KEY]
        table = table.select(self.columns)
        for key in self.keys:
            table = _replace(table, key, _same_zero(table[key]))
        if not self.keys:
            table = table.append_column(_KEY, pa.repeat(pa.scalar(0, pa.int8()), len(table)))
        elif self.drop_null_keys and any(table[k].null_count for k in self.keys):
            valid = [pc.is_valid(table[k]) for k in self.keys]
            mask = valid[0]
            for more in valid[1:]:
                mask = pc.and_(mask, more)
            table = table.filter(mask)
        aggregations: list[tuple[Any, ...]] = []
        names: list[str] = []
        for index, aggregation in enumerate(self.aggregations):
            column: str | list[str] = aggregation.column or []
            for part, function, options in PARTS[aggregation.op]:
                spec = (column, function) if options is None else (column, function, options)
                aggregations.append(spec)
                names.append(f"{index}.{part}")
        result = _group(table, keys, aggregations, names, ordered=not self.sort)
        for index, aggregation in enumerate(self.aggregations):
            if aggregation.op in ("stddev", "variance"):
                n = pc.cast(result[f"{index}.n"], pa.float64())
                m2 = pc.fill_null(pc.multiply(result[f"{index}.m2"], n), 0.0)
                m = pc.fill_null(pc.cast(result[f"{index}.m"], pa.float64()), 0.0)
                result = _replace(result, f"{index}.m2", m2)
                result = _replace(result, f"{index}.m", m)
            elif aggregation.op in ("distinct", "count_distinct"):
                name = f"{index}.d"
                result = _replace(result, name, _distinct_rows(result[name].combine_chunks()))
        return result

    def merge(self, previous: pa.Table | None, partial: pa.Table) -> pa.Table:
        """The partials of ``previous`` then ``partial`` merged: one row per group."""
        if previous is None:
            return partial
        keys = self.keys or [_KEY]
        both = pa.concat_tables([previous, partial], promote_options="permissive")
        # the rows of each group, for the parts merged by hand (m, m2, l, d) only
        by_rows = any(a.op in _MERGED_BY_ROWS for a in self.aggregations)
        aggregations: list[tuple[Any, ...]] = []
        names: list[str] = []
        if by_rows:
            both = both.append_column(_ROW, pa.array(np.arange(len(both), dtype=np.int64)))
            aggregations.append((_ROW, "list"))
            names.append(_ROW)
        for index, aggregation in enumerate(self.aggregations):
            for part, _, _ in PARTS[aggregation.op]:
                name = f"{index}.{part}"
                if part in ("n", "s"):
                    aggregations.append((name, "sum", _SUM0))
                elif part == "p":
                    aggregations.append((name, "product", _SUM0))
                elif part == "v":
                    function = _MERGE_V[aggregation.op]
                    options = _SUM0 if function in ("any", "all") else None
                    spec = (name, function) if options is None else (name, function, options)
                    aggregations.append(spec)
                else:
                    continue  # m, m2, l, d: below, from the rows of each group
                names.append(name)
        merged = _group(both, keys, aggregations, names, ordered=not self.sort)
        columns = {name: merged[name] for name in merged.column_names if name != _ROW}
        if not by_rows:
            return pa.table({name: columns[name] for name in partial.column_names})
        rows = merged[_ROW].combine_chunks()
        group_of_row = np.empty(len(both), dtype=np.int64)
        group_of_row[pc.list_flatten(rows).to_numpy()] = pc.list_parent_indices(rows).to_numpy()
        for index, aggregation in enumerate(self.aggregations):
            if aggregation.op in ("stddev", "variance"):
                n_name, m_name, m2_name = (f"{index}.{p}" for p in ("n", "m", "m2"))
                n = _floats(both[n_name])
                m = _floats(both[m_name])
                size = len(merged)
                total_n = np.bincount(group_of_row, n, size).astype(np.float64)
                total = np.bincount(group_of_row, n * m, size).astype(np.float64)
                mean = np.divide(total, total_n, out=np.zeros_like(total), where=total_n > 0)
                spread = _floats(both[m2_name]) + n * (m - mean[group_of_row]) ** 2
                columns[m_name] = pa.array(mean)
                columns[m2_name] = pa.array(np.bincount(group_of_row, spread, size).astype(float))
            elif aggregation.op in ("list", "distinct", "count_distinct"):
                name = f"{index}.{PARTS[aggregation.op][0][0]}"
                lists = _concat_lists(both[name], rows)
                columns[name] = lists if aggregation.op == "list" else _distinct_rows(lists)
        return pa.table({name: columns[name] for name in partial.column_names})

    def finalize(self, partial: pa.Table) -> pa.Table:
        """The result table of merged partials: keys, then one column per aggregation."""
        if not self.keys and not len(partial):
            partial = self._empty_group(partial)
        if self.sort and self.keys:
            partial = partial.take(_sort_indices(partial, self.keys))
        columns = [partial[k] for k in self.keys]
        for index, aggregation in enumerate(self.aggregations):
            columns.append(_final(aggregation.op, partial, f"{index}."))
        return pa.Table.from_arrays(
            columns, names=[*self.keys, *(a.name for a in self.aggregations)]
        )

    # -- helpers -------------------------------------------------------------------------------

    def _empty_group(self, partial: pa.Table) -> pa.Table:
        """The partial of one group of no rows (an empty input without keys: one result row)."""
        columns: dict[str, pa.Array] = {_KEY: pa.array([0], pa.int8())}
        for name in partial.column_names:
            if name == _KEY:
                continue
            index, part = name.split(".")
            op = self.aggregations[int(index)].op
            kind = partial.schema.field(name).type
            if part in ("n", "s", "m", "m2"):
                value: Any = 0
            elif part == "p":
                value = 1
            elif part in ("l", "d"):
                value = []
            elif op in ("any", "all"):
                value = op == "all"
            else:
                value = None
            columns[name] = pa.array([value], kind)
        return pa.table(columns)

    async def _load(self) -> pa.Table | None:
        if not self._loaded:
            stored = await self.state.get(_STATE)
            if stored is not None and not isinstance(stored, pa.Table):
                msg = (
                    f"{self.where}: state key {_STATE!r} holds {type(stored).__name__}, not the "
                    "Arrow table of partial aggregates; delete the key to start afresh"
                )
                raise TypeError(msg)
            if stored is not None:
                made_by = (stored.schema.metadata or {}).get(_SETTINGS_KEY, b"").decode()
                if made_by != self._fingerprint:
                    msg = (
                        f"{self.where}: the partial aggregates in the state (key {_STATE!r}) "
                        f"were made with other settings ({made_by or 'unknown'}); these are "
                        f"{self._fingerprint}. Delete the key (or use another state) to start "
                        "afresh, or run with the settings that made them"
                    )
                    raise ValueError(msg)
            self._partial = stored
            self._loaded = True
        return self._partial

    def _try(self, compute: Any) -> Any:
        try:
            return compute()
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            ops = ", ".join(f"{a.op}({a.column or ''})" for a in self.aggregations)
            msg = f"{self.where}: cannot compute {ops}: {exc}"
            return ErrorPacket(ErrorCode.VALIDATION, msg)


def _group(
    table: pa.Table,
    keys: list[str],
    aggregations: list[tuple[Any, ...]],
    names: list[str],
    *,
    ordered: bool,
) -> pa.Table:
    """``table.group_by(keys)``, aggregates named ``names``, keys first, one row per group;
    ``ordered``: in the order of the group's first row (Arrow's own output order is not
    that), else in Arrow's order (the result is sorted by key at the end anyway)."""
    if ordered:
        table = table.append_column(_FIRST, pa.array(np.arange(len(table), dtype=np.int64)))
        aggregations = [*aggregations, (_FIRST, "min")]
        names = [*names, _FIRST]
    result = table.group_by(keys, use_threads=False).aggregate(aggregations)
    count = len(keys)
    columns = result.columns
    if result.column_names[:count] == keys:
        key_columns, aggregated = columns[:count], columns[count:]
    else:  # older pyarrow puts the keys last
        aggregated, key_columns = columns[: len(columns) - count], columns[len(columns) - count :]
    grouped = pa.Table.from_arrays([*key_columns, *aggregated], names=[*keys, *names])
    if not ordered:
        return grouped
    order = pc.sort_indices(grouped[_FIRST])
    return grouped.drop_columns([_FIRST]).take(order)


def _final(op: str, partial: pa.Table, prefix: str) -> pa.ChunkedArray | pa.Array:
    """The result column of ``op`` from its parts (columns ``prefix + part``)."""
    if op in ("count", "count_all"):
        return partial[prefix + "n"]
    if op == "sum":
        return partial[prefix + "s"]
    if op == "product":
        return partial[prefix + "p"]
    if op == "mean":
        n = partial[prefix + "n"]
        total = pc.cast(partial[prefix + "s"], pa.float64())
        return pc.if_else(pc.greater(n, 0), pc.divide(total, pc.cast(n, pa.float64())), None)
    if op in ("stddev", "variance"):
        n = pc.cast(partial[prefix + "n"], pa.float64())
        variance = pc.if_else(
            pc.greater(n, 1), pc.divide(partial[prefix + "m2"], pc.subtract(n, 1.0)), None
        )
        return pc.sqrt(variance) if op == "stddev" else variance
    if op == "count_distinct":
        lists = partial[prefix + "d"].combine_chunks()
        values = pc.list_flatten(lists)
        parents = pc.list_parent_indices(lists).to_numpy()
        valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
        return pa.array(np.bincount(parents[valid], minlength=len(lists)).astype(np.int64))
    if op == "list":
        return partial[prefix + "l"]
    if op == "distinct":
        return partial[prefix + "d"]
    return partial[prefix + "v"]


def _sort_indices(table: pa.Table, keys: list[str]) -> pa.Array:
    """Row order by ``keys``, ascending, nulls last (per key from pyarrow 25 on)."""
    if _PYARROW_MAJOR >= 25:
        return pc.sort_indices(table, sort_keys=[(k, "ascending", "at_end") for k in keys])
    return pc.sort_indices(
        table, sort_keys=[(k, "ascending") for k in keys], null_placement="at_end"
    )


def _floats(column: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(), dtype=np.float64)


def _replace(table: pa.Table, name: str, column: Any) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, column)


def _concat_lists(lists: pa.ChunkedArray, rows: pa.ListArray) -> pa.ListArray:
    """Per group, the lists of its rows (``rows``: the row numbers of each group) joined."""
    flat = pc.list_flatten(rows).to_numpy()
    parents = pc.list_parent_indices(rows).to_numpy()
    order = np.lexsort((flat, parents))  # each group's rows in input order
    flat, parents = flat[order], parents[order]
    taken = lists.combine_chunks().take(pa.array(flat))
    lengths = pc.list_value_length(taken).to_numpy(zero_copy_only=False)
    sizes = np.bincount(parents, weights=lengths, minlength=len(rows)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pc.list_flatten(taken))


def _distinct_rows(lists: pa.ListArray) -> pa.ListArray:
    """Each list's distinct values (null once), in order of first appearance.

    The exploded (list, value) pairs, one per distinct pair, ordered by the position of its
    first appearance: the lists come in order and each list's values in theirs.
    """
    parents = pc.list_parent_indices(lists)
    values = pc.list_flatten(lists)
    index = np.arange(len(parents), dtype=np.int64)
    exploded = pa.table({"p": parents, "v": _same_zero(values), "i": index})
    pairs = exploded.group_by(["p", "v"], use_threads=False).aggregate([("i", "min")])
    first = pc.sort_indices(pairs["i_min"])
    sizes = np.bincount(pairs["p"].take(first).to_numpy(), minlength=len(lists))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    firsts = pairs["i_min"].take(first).combine_chunks()
    return pa.ListArray.from_arrays(pa.array(offsets), values.take(firsts))


def _same_zero(values: Any) -> Any:
    """Floats with -0.0 made 0.0: pandas (and ==) holds them equal, Arrow's hashing not."""
    if pa.types.is_floating(values.type):
        return pc.add(values, pa.scalar(0.0, values.type))
    return values


def _aggregation(item: Any, where: str) -> Aggregation:
    """One aggregation of the settings; ``ValueError`` saying what is wrong."""
    if not isinstance(item, dict):
        msg = (
            f'{where} must be an object like {{"column": "price", "op": "mean"}}; got {item!r:.60}'
        )
        raise ValueError(msg)
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        msg = f"{where} has unknown field {unknown[0]!r}; the fields are column, op and as"
        raise ValueError(msg)
    op = item.get("op")
    if op not in OPS:
        msg = f"{where}: op {op!r} is not one of {', '.join(sorted(OPS))}"
        raise ValueError(msg)
    column = item.get("column")
    if op == "count_all":
        if column is not None:
            msg = f"{where}: count_all counts rows and takes no column; use count for non-nulls"
            raise ValueError(msg)
    elif not isinstance(column, str):
        msg = f"{where}: op {op!r} needs a 'column' (a column name); got {column!r:.60}"
        raise ValueError(msg)
    name = item.get("as", "count_all" if column is None else f"{column}_{op}")
    if not isinstance(name, str) or not name:
        msg = f"{where}: 'as' must be a non-empty column name; got {name!r:.60}"
        raise ValueError(msg)
    return Aggregation(column, op, name)
