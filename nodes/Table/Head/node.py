"""head: the first ``n`` rows of a stream of tables (pandas ``head(n)``), then stop upstream.

Each table is passed on as it comes (no copy; the one that reaches ``n`` rows is sliced).
Once ``n`` rows have passed the node calls ``ctx.done()``: the runtime delivers it nothing
more, and an upstream node whose every output leads to finished nodes is finished too (a
read-file source stops reading). The count lives in memory: a restarted run starts over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataflow_jupyter.node import NodeContext, StatefulNode
from dataflow_jupyter.packets import ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket


class Head(StatefulNode):
    """Emits tables until ``n`` rows have passed, then says it is done."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.where = f"head (node {node_id!r})"
        self.n: int = self.settings["n"]
        self._passed = 0

    async def setup(self) -> None:
        """Each run counts from zero."""
        self._passed = 0

    def columns_needed(
        self, port: str, downstream: Mapping[str, frozenset[str] | None]
    ) -> frozenset[str] | None:
        """What ``out``'s consumers use: the rows are cut, the columns pass (pushdown)."""
        return downstream.get("out")

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        table = input_table(inputs["in"], where=self.where, port="in")
        if isinstance(table, ErrorPacket):
            return table
        if self._passed >= self.n and self.n:  # only if the runtime delivered after done()
            return None
        rest = self.n - self._passed
        if table.num_rows > rest:
            table = table.slice(0, rest)
        self._passed += table.num_rows
        if self._passed >= self.n:
            ctx.done()
        return {"out": table}
