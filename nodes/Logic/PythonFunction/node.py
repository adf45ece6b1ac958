"""python-function: call a function, named by reference, on each packet's payload.

The graph stores the reference (``module:function`` or a bare name), never code.

Trust: a graph file comes from someone else, so a reference may not pick just any
importable function (``builtins:exec`` or ``os:system`` would run whatever a packet
carries). A bare name is looked up in the notebook's namespace (``__main__``): code the user
ran themselves. A ``module:function`` reference is allowed only when the module's top-level
package is listed in the ``DATAFLOW_PYTHON_MODULES`` environment variable
(comma-separated, e.g. ``math,mypkg``); otherwise building the node fails, saying so. That
check reads the reference only; the module is imported in ``setup()``, so validating a graph
(``dataflow validate``) never imports anything.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

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
        super().__init__(node_id, settings)
        check_allowed(self.settings["function"], node_id, self.version)
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


ALLOWED_MODULES_ENV = "DATAFLOW_PYTHON_MODULES"


def check_allowed(reference: str, node_id: str, version: str) -> None:
    """Refuse a ``module:function`` whose package is not allowed (see the module docstring)."""
    module_name, sep, _ = reference.partition(":")
    if not sep:
        return
    allowed = {m.strip() for m in os.environ.get(ALLOWED_MODULES_ENV, "").split(",") if m.strip()}
    package = module_name.split(".")[0]
    if package not in allowed:
        msg = (
            f"python-function {version} (node {node_id!r}): function {reference!r} is in "
            f"package {package!r}, which is not allowed. A graph file may only call functions "
            f"of packages you allow: set {ALLOWED_MODULES_ENV}={package} (comma-separated), or "
            "define the function in the notebook and reference it by name"
        )
        raise ValueError(msg)


def resolve(reference: str, node_id: str, version: str) -> Callable[[Any], Any]:
    """The callable that ``reference`` names; ``ValueError`` saying what was not found where."""
    where = f"python-function {version} (node {node_id!r})"
    module_name, sep, path = reference.partition(":")
    if not sep:
        module_name, path = "__main__", reference
    parts = path.split(".")
    private = [part for part in parts if part.startswith("_")]
    if private:
        msg = (
            f"{where}: function {reference!r} names the private attribute {private[0]!r}; "
            "reference a public function"
        )
        raise ValueError(msg)
    if sep:
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            msg = (
                f"{where}: cannot import module {module_name!r} of function {reference!r}: "
                f"{exc}. Is the package installed in this kernel's environment?"
            )
            raise ValueError(msg) from exc
    else:
        target = sys.modules.get("__main__")
    for index, part in enumerate(parts):
        try:
            target = getattr(target, part)
        except AttributeError as exc:
            raise ValueError(_not_found(where, reference, module_name, parts, index)) from exc
    if not callable(target):
        msg = (
            f"{where}: {reference!r} is not a function; it is {type(target).__name__} "
            f"{target!r:.40}"
        )
        raise ValueError(msg)
    if inspect.iscoroutinefunction(target):
        msg = (
            f"{where}: {reference!r} is a coroutine function (async def); python-function calls "
            "plain functions in a worker thread. Wrap it in a plain function or write an IONode"
        )
        raise ValueError(msg)
    return target  # type: ignore[no-any-return]


def _not_found(where: str, reference: str, module: str, parts: list[str], index: int) -> str:
    owner = ".".join(parts[:index])
    if module == "__main__" and ":" not in reference:
        text = f"{where}: cannot find function {reference!r} in the notebook's namespace (__main__)"
        if index:
            return f"{text}: {owner!r} has no attribute {parts[index]!r}"
        return (
            f"{text}; define it in a cell before running the graph, or reference it as "
            "'module:function'"
        )
    inside = f"{owner!r} in module {module!r}" if index else f"module {module!r}"
    return (
        f"{where}: cannot find function {reference!r}: {inside} has no attribute {parts[index]!r}"
    )
