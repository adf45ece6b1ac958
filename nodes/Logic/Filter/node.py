"""filter: pass a packet on unchanged when an expression is true for it, drop it otherwise.

It evaluates with ``dataflow_jupyter.expressions``, one of the modules node folders may
import (``docs/design.md`` §2): the safe evaluator is what makes an expression from a
graph file harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataflow_jupyter.expressions import compile_expression, expression_names
from dataflow_jupyter.node import NodeContext, PureNode

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket


class Filter(PureNode):
    """Emits the input packet itself on ``out`` when ``expression`` is truthy, else nothing.

    The expression is checked and compiled once, here: a refused expression fails the
    node's construction (``ExpressionError``). An expression that fails on a packet raises
    ``EvaluationError``, which the runtime turns into an ``ErrorPacket`` on ``error``.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.expression = compile_expression(self.settings["expression"])

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any] | None:
        packet = inputs["in"]
        return {"out": packet} if self.expression.test(expression_names(packet)) else None
