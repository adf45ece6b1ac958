from __future__ import annotations

from dataflow_jupyter.node import PureNode


class First(PureNode):
    def process(self, inputs, ctx):
        return {"out": inputs["in"]}


class Second(PureNode):
    def process(self, inputs, ctx):
        return None
