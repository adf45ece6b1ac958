"""aggregate: group a table by key columns and aggregate others (``Table.group_by``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from dataflow_jupyter.node import NodeContext, PureNode
from dataflow_jupyter.nodekit.settings import settings_where
from dataflow_jupyter.packets import ErrorCode, ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket

OPS: Final = frozenset(
    {
        *("sum", "mean", "min", "max", "count", "count_distinct", "count_all"),
        *("stddev", "variance", "product", "first", "last", "approximate_median"),
        *("any", "all", "list", "distinct"),
    }
)
_NEED_KEYS: Final = frozenset({"list", "distinct"})
_FIELDS: Final = frozenset({"column", "op", "as"})


class Aggregate(PureNode):
    """Emits one row per group on ``out``: the keys, then the aggregations in order.

    Groups are computed single-threaded, which keeps them in the order of their first row.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.where = f"aggregate (node {node_id!r})"
        problem = settings_where(self)
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
        self.pairs: list[tuple[str | list[str], str]] = []
        self.names: list[str] = []
        aggregations = self.settings["aggregations"]
        if not isinstance(aggregations, list) or not aggregations:
            msg = (
                f"{problem}: 'aggregations' must be a non-empty list like "
                f'[{{"column": "price", "op": "mean"}}]; got {aggregations!r:.80}'
            )
            raise ValueError(msg)
        for index, item in enumerate(aggregations):
            column, op, name = _aggregation(item, f"{problem}: aggregations[{index}]")
            if op in _NEED_KEYS and not keys:
                msg = f"{problem}: aggregations[{index}]: op {op!r} needs group keys"
                raise ValueError(msg)
            if name in self.names or name in keys:
                msg = (
                    f"{problem}: aggregations[{index}] is named {name!r}, like another column "
                    "of the result; give it another name with 'as'"
                )
                raise ValueError(msg)
            self.pairs.append(([] if column is None else column, op))
            self.names.append(name)
        self.columns = [*keys, *(c for c, _ in self.pairs if isinstance(c, str))]

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        table = input_table(inputs["in"], where=self.where, port="in", columns=self.columns)
        if isinstance(table, ErrorPacket):
            return table
        try:
            result = table.group_by(self.keys, use_threads=False).aggregate(self.pairs)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            ops = ", ".join(f"{op}({c or ''})" for c, op in self.pairs)
            msg = f"{self.where}: cannot compute {ops}: {exc}"
            return ErrorPacket(ErrorCode.VALIDATION, msg)
        # The result holds the keys (first or last, by pyarrow version) and the aggregates in
        # the order asked for; their names (<column>_<op>) may repeat or equal a key's.
        count = len(self.keys)
        columns = result.columns
        if result.column_names[:count] == self.keys:
            keys, aggregated = columns[:count], columns[count:]
        else:
            aggregated, keys = columns[: len(columns) - count], columns[len(columns) - count :]
        return {"out": pa.Table.from_arrays(keys + aggregated, names=self.keys + self.names)}


def _aggregation(item: Any, where: str) -> tuple[str | None, str, str]:
    """``(column, op, output name)`` of one aggregation; ``ValueError`` saying what is wrong."""
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
    return column, op, name
