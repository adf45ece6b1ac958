"""concat: stack the rows of two tables (``pyarrow.concat_tables``, no copy of the data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dataflow_jupyter.node import NodeContext, PureNode
from dataflow_jupyter.packets import ErrorCode, ErrorPacket

if TYPE_CHECKING:
    from dataflow_jupyter.packets import DataPacket


class Concat(PureNode):
    """Emits the rows of ``a`` then those of ``b`` on ``out``, unifying schemas per ``promote``."""

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        where = f"concat (node {self.node_id!r})"
        tables = []
        for port in ("a", "b"):
            table = inputs[port].table()
            if table is None:
                return not_a_table(where, port, inputs[port])
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


def not_a_table(where: str, port: str, packet: DataPacket) -> ErrorPacket:
    """The error for a packet whose payload is not a table."""
    got = type(packet.payload).__name__
    msg = (
        f"{where} port {port!r} expects an Arrow table; got {got}. Send a pa.Table (e.g. from "
        "read-file) or a list of row dicts"
    )
    return ErrorPacket(ErrorCode.TYPE_MISMATCH, msg)
