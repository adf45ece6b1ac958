"""python-function: call a function, named by reference, on each packet's payload.

The graph stores the reference (``module:function`` or a bare name), never code.

Trust: a graph file comes from someone else, so a reference may not pick just any
importable function (``builtins:exec`` or ``os:system`` would run whatever a packet
carries). The rules live in ``dataflow_jupyter.coderef`` (the ``code-ref`` setting type): a
bare name is a function defined in the notebook (``__main__``), a ``module:function`` is a
function defined in a module listed exactly in ``DATAFLOW_PYTHON_MODULES``; no attribute
paths, no builtins, never process control. ``Graph.validate`` and this node's constructor
check the reference (the ``code-ref`` setting type runs ``coderef.reference_problem``,
which imports only a module the user listed); ``setup()`` resolves the function with
``coderef.resolve_reference``. Besides ``node``/``packets``, this node imports
``dataflow_jupyter.coderef`` so that validation and the run apply one rule.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from dataflow_jupyter import coderef
from dataflow_jupyter.node import NodeContext, PureNode
from dataflow_jupyter.packets import BinaryRef

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from dataflow_jupyter.packets import DataPacket


class PythonFunction(PureNode):
    """Emits ``fn(payload)`` on ``out``; ``None`` emits nothing, an exception goes to ``error``.

    ``payload`` is the packet's Arrow table when it has one (a ``BinaryRef`` is read, memory
    mapped), else its value. A pandas DataFrame result is converted to an Arrow table so it
    flows into table nodes. Coroutine functions are refused: the call runs in a worker
    thread, where there is no loop to await on.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)  # the code-ref setting checks the reference
        self.function: Callable[[Any], Any] | None = None

    async def setup(self) -> None:
        self.function = resolve(self.settings["function"], self.node_id, self.version)

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any] | None:
        packet = inputs["in"]
        payload = packet.payload
        if isinstance(payload, BinaryRef):
            payload = payload.read()
        if self.function is None:  # called without setup(), e.g. straight from a test
            self.function = resolve(self.settings["function"], self.node_id, self.version)
        result = self.function(payload)
        if result is None:
            return None
        if isinstance(result, pd.DataFrame):
            result = pa.Table.from_pandas(result, preserve_index=False)
        return {"out": result}


def resolve(reference: str, node_id: str, version: str) -> Callable[[Any], Any]:
    """The function ``reference`` names (importing its module); ``ValueError`` when refused."""
    found = coderef.resolve_reference(
        reference,
        main=coderef.main_namespace(),
        allowed=coderef.allowed_modules(),
        importer=importlib.import_module,
    )
    if isinstance(found, coderef.Refusal):
        msg = f"python-function {version} (node {node_id!r}): {found.reason}"
        raise ValueError(msg)
    return found
