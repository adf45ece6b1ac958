from __future__ import annotations

from dataflow_jupyter.node import PureNode


class Echo(PureNode):
    def process(self, inputs, ctx):
        return {"out": inputs["in"]}
