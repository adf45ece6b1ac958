"""switch: route each packet to the output of the first rule that is true for it.

Ports are fixed by the schema, so a switch has four rule outputs, ``out1`` .. ``out4``, and
``otherwise``; ``rules`` is a list of up to four expressions. It evaluates them with
``dataflow_jupyter.expressions``, one of the modules node folders may import
(``docs/design.md`` §2): the safe evaluator is what makes an expression from a graph file
harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter.expressions import compile_expression, expression_names
from dataflow_jupyter.node import NodeContext, PureNode
from dataflow_jupyter.nodekit.settings import settings_where

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket

MAX_RULES: Final = 4


class Switch(PureNode):
    """Emits the input packet on ``out{i}`` of the first true rule ``i``, else on ``otherwise``.

    The rules are checked and compiled once, here: a refused expression fails the node's
    construction (``ExpressionError``). A rule that fails on a packet raises
    ``EvaluationError``, which the runtime turns into an ``ErrorPacket`` on ``error``; the
    rules after it are not tried.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        rules = self.settings["rules"]
        where = settings_where(self)
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            msg = (
                f"{where}: 'rules' must be a list of expression strings, e.g. "
                f"[\"value['price'] > 100\"]; got {rules!r:.80}"
            )
            raise ValueError(msg)
        if len(rules) > MAX_RULES:
            msg = (
                f"{where}: 'rules' has {len(rules)} expressions, but a switch has {MAX_RULES} "
                "rule outputs (out1..out4); chain a second switch on 'otherwise' for more"
            )
            raise ValueError(msg)
        self.rules = [
            (f"out{index}", compile_expression(text)) for index, text in enumerate(rules, 1)
        ]

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        packet = inputs["in"]
        names = expression_names(packet)
        for port, rule in self.rules:
            if rule.test(names):
                return {port: packet}
        return {"otherwise": packet}
