from __future__ import annotations

import no_such_dependency_xyz  # noqa: F401

from dataflow_jupyter.node import PureNode


class Echo(PureNode):
    def process(self, inputs, ctx):
        return {"out": inputs["in"]}
