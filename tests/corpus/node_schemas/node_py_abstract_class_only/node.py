from __future__ import annotations

from dataflow_jupyter.node import PureNode


class Unfinished(PureNode):
    pass
