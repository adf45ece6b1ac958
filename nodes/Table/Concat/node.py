"""concat: stack the rows of two tables (``pyarrow.concat_tables``, no copy of the data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dataflow_jupyter.node import NodeContext, PureNode
from dataflow_jupyter.packets import ErrorCode, ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from dataflow_jupyter.packets import DataPacket


class Concat(PureNode):
    """Emits the rows of ``a`` then those of ``b`` on ``out``, unifying schemas per ``promote``."""

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        where = f"concat (node {self.node_id!r})"
        tables = []
        for port in ("a", "b"):
            table = input_table(inputs[port], where=where, port=port)
            if isinstance(table, ErrorPacket):
                return table
            tables.append(table)
        try:
            return {"out": pa.concat_tables(tables, promote_options=self.settings["promote"])}
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            a, b = (t.schema for t in tables)
            hint = "" if self.settings["promote"] == "permissive" else "; try promote 'permissive'"
            msg = (
                f"{where}: cannot stack a table with columns ({_columns(a)}) and one with "
                f"({_columns(b)}): {exc}{hint}"
            )
            return ErrorPacket(ErrorCode.VALIDATION, msg)


def _columns(schema: pa.Schema) -> str:
    return ", ".join(f"{field.name}: {field.type}" for field in schema)
