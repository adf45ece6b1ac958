"""sort: every table until end of stream, as one table sorted like pandas ``sort_values``.

Tables are kept as they arrive (no copy) and concatenated at ``finish``; the sort is stable
(pandas ``kind='stable'``), so rows with equal keys keep their arrival order. Nulls go
first or last in each sort column (pandas ``na_position``). The rows live in memory, not in
the state adapter: a restarted run collects them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from dataflow_jupyter.node import NodeContext, StatefulNode
from dataflow_jupyter.nodekit.settings import column_names, settings_where
from dataflow_jupyter.packets import ErrorCode, ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket

_PYARROW_MAJOR: Final = int(pa.__version__.split(".")[0])
_ARROW_ERRORS: Final = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


class Sort(StatefulNode):
    """Collects ``in`` and emits the rows sorted at end of stream; see the module docstring."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.where = f"sort (node {node_id!r})"
        problem = settings_where(self)
        example = '["species", "body_mass_g"]'
        listed = column_names(self.settings["by"], setting="by", where=problem, example=example)
        self.by: list[str] = listed
        ascending = self.settings["ascending"]
        if isinstance(ascending, bool):
            ascending = [ascending] * len(listed)
        if (
            not isinstance(ascending, list)
            or len(ascending) != len(listed)
            or not all(isinstance(a, bool) for a in ascending)
        ):
            msg = (
                f"{problem}: 'ascending' must be true, false or a list of {len(listed)} "
                f"booleans, one per 'by' column; got {self.settings['ascending']!r:.80}"
            )
            raise ValueError(msg)
        self.ascending: list[bool] = ascending
        self.nulls = "at_end" if self.settings["naPosition"] == "last" else "at_start"
        self._tables: list[pa.Table] = []

    async def setup(self) -> None:
        """Each run collects afresh."""
        self._tables = []

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        table = input_table(inputs["in"], where=self.where, port="in", columns=self.by)
        if isinstance(table, ErrorPacket):
            return table
        self._tables.append(table)
        return None

    def finish(self, ctx: NodeContext) -> Any:
        """Sends every row collected, sorted, as one table."""
        tables, self._tables = self._tables, []
        try:
            return {"out": self.sorted(tables)}
        except _ARROW_ERRORS as exc:
            msg = f"{self.where}: cannot sort the tables by {self.by}: {exc}"
            return ErrorPacket(ErrorCode.VALIDATION, msg)

    def sorted(self, tables: list[pa.Table]) -> pa.Table:
        """``tables`` stacked and sorted by the settings (stable)."""
        if not tables:
            return pa.table({})
        table = pa.concat_tables(tables, promote_options="default")
        orders = ["ascending" if a else "descending" for a in self.ascending]
        if _PYARROW_MAJOR >= 25:
            keys = [(c, o, self.nulls) for c, o in zip(self.by, orders, strict=True)]
            order = pc.sort_indices(table, sort_keys=keys)
        else:
            keys2 = list(zip(self.by, orders, strict=True))
            order = pc.sort_indices(table, sort_keys=keys2, null_placement=self.nulls)
        return table.take(order)
