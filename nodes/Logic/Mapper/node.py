"""mapper: replace each packet's value with the value of an expression.

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


class Mapper(PureNode):
    """Emits ``expression``'s value on ``out``; the runtime derives the packet from the input.

    The expression is checked and compiled once, here: a refused expression fails the
    node's construction (``ExpressionError``). An expression that fails on a packet raises
    ``EvaluationError``, which the runtime turns into an ``ErrorPacket`` on ``error``.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.expression = compile_expression(self.settings["expression"])

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        return {"out": self.expression.evaluate(expression_names(inputs["in"]))}
