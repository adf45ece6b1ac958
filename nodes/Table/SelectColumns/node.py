"""select-columns: keep the listed columns of each table, in the listed order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataflow_jupyter.node import NodeContext, PureNode
from dataflow_jupyter.packets import ErrorCode, ErrorPacket

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket


class SelectColumns(PureNode):
    """Emits ``table.select(columns)`` on ``out``; a missing column is an ``ErrorPacket``."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        columns = self.settings["columns"]
        self.where = f"select-columns (node {node_id!r})"
        if (
            not isinstance(columns, list)
            or not columns
            or not all(isinstance(c, str) for c in columns)
            or len(set(columns)) != len(columns)
        ):
            msg = (
                f"settings of select-columns {self.version} (node {node_id!r}): 'columns' must "
                f'be a non-empty list of distinct column names, e.g. ["sym", "price"]; got '
                f"{columns!r:.80}"
            )
            raise ValueError(msg)
        self.columns: list[str] = columns

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        table = inputs["in"].table()
        if table is None:
            return not_a_table(self.where, "in", inputs["in"])
        missing = [name for name in self.columns if name not in table.column_names]
        if missing:
            msg = (
                f"{self.where}: the table has no column {missing[0]!r}; its columns: "
                f"{', '.join(table.column_names) or 'none'}"
            )
            return ErrorPacket(ErrorCode.VALIDATION, msg)
        return {"out": table.select(self.columns)}


def not_a_table(where: str, port: str, packet: DataPacket) -> ErrorPacket:
    """The error for a packet whose payload is not a table."""
    got = type(packet.payload).__name__
    msg = (
        f"{where} port {port!r} expects an Arrow table; got {got}. Send a pa.Table (e.g. from "
        "read-file) or a list of row dicts"
    )
    return ErrorPacket(ErrorCode.TYPE_MISMATCH, msg)
