"""select-columns: keep the listed columns of each table, in the listed order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataflow_jupyter.node import NodeContext, PureNode
from dataflow_jupyter.nodekit.settings import column_names, settings_where
from dataflow_jupyter.packets import ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket


class SelectColumns(PureNode):
    """Emits ``table.select(columns)`` on ``out``; a missing column is an ``ErrorPacket``."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.where = f"select-columns (node {node_id!r})"
        self.columns: list[str] = column_names(
            self.settings["columns"],
            setting="columns",
            where=settings_where(self),
            example='["sym", "price"]',
            one_name=False,
        )

    def columns_needed(
        self, port: str, downstream: Mapping[str, frozenset[str] | None]
    ) -> frozenset[str]:
        """Its ``columns``, whatever follows (projection pushdown)."""
        return frozenset(self.columns)

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        table = input_table(inputs["in"], where=self.where, port="in", columns=self.columns)
        if isinstance(table, ErrorPacket):
            return table
        return {"out": table.select(self.columns)}
