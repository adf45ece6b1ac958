"""collect: every table until end of stream, as one table (pandas ``pd.concat``).

Tables are kept as they arrive and stacked at ``finish`` without copying their data. The
rows live in memory, not in the state adapter: a restarted run collects them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dataflow_jupyter.node import NodeContext, StatefulNode
from dataflow_jupyter.packets import ErrorCode, ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from dataflow_jupyter.packets import DataPacket


class Collect(StatefulNode):
    """Collects ``in``; at end of stream emits one table of every row."""

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.where = f"collect (node {node_id!r})"
        self._tables: list[pa.Table] = []

    async def setup(self) -> None:
        """Each run collects afresh."""
        self._tables = []

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        table = input_table(inputs["in"], where=self.where, port="in")
        if isinstance(table, ErrorPacket):
            return table
        self._tables.append(table)
        return None

    def finish(self, ctx: NodeContext) -> Any:
        """Sends every table collected, stacked in arrival order."""
        tables, self._tables = self._tables, []
        if not tables:
            return {"out": pa.table({})}
        try:
            return {"out": pa.concat_tables(tables, promote_options=self.settings["promote"])}
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            schemas = "; ".join(sorted({str(t.schema).replace("\n", ", ") for t in tables}))
            hint = "" if self.settings["promote"] == "permissive" else "; try promote 'permissive'"
            msg = f"{self.where}: cannot stack tables with columns {schemas:.300}: {exc}{hint}"
            return ErrorPacket(ErrorCode.VALIDATION, msg)
