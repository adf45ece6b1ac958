"""join: a hash join of two tables on key columns (``pyarrow.Table.join``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from dataflow_jupyter.node import NodeContext, PureNode
from dataflow_jupyter.nodekit.settings import column_names, settings_where
from dataflow_jupyter.packets import ErrorCode, ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket

JOIN_TYPES: Final = {
    "inner": "inner",
    "left": "left outer",
    "right": "right outer",
    "outer": "full outer",
}


class Join(PureNode):
    """Emits ``left.join(right, keys, ...)`` on ``out``; key problems become ``ErrorPacket``s."""

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

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        tables: dict[str, pa.Table] = {}
        for port, keys in (("left", self.keys), ("right", self.right_keys)):
            table = input_table(inputs[port], where=self.where, port=port)
            if isinstance(table, ErrorPacket):
                return table
            missing = [key for key in keys if key not in table.column_names]
            if missing:
                msg = (
                    f"{self.where}: the {port} table has no key column {missing[0]!r}; its "
                    f"columns: {', '.join(table.column_names) or 'none'}"
                )
                return ErrorPacket(ErrorCode.VALIDATION, msg)
            tables[port] = table
        try:
            joined = tables["left"].join(
                tables["right"],
                keys=self.keys,
                right_keys=self.right_keys,
                join_type=JOIN_TYPES[self.settings["how"]],
                left_suffix=self.settings["leftSuffix"] or None,
                right_suffix=self.settings["rightSuffix"] or None,
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            msg = f"{self.where}: cannot join on {self.keys} = {self.right_keys}: {exc}"
            return ErrorPacket(ErrorCode.VALIDATION, msg)
        return {"out": joined}


def _key_list(keys: Any, name: str, problem: str) -> list[str]:
    """A key setting: a column name or a list of distinct ones."""
    return column_names(keys, setting=name, where=problem, example='"sym" or ["sym", "day"]')
