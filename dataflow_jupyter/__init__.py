"""dataflow-jupyter: a node-based visual dataflow environment that lives inside Jupyter.

The names below are the public API (the README lists them). Everything else lives in its
subpackage: ``dataflow_jupyter.executors`` (executors), ``dataflow_jupyter.expressions``
(edge expressions), ``dataflow_jupyter.graph`` (the document's parts and its analysis),
``dataflow_jupyter.runtime`` (the debugger, the log, stats), ``dataflow_jupyter.state``
(state adapters), ``dataflow_jupyter.testing`` (for node-pack authors).

``GraphEditor`` is imported on first use: a headless run (``dataflow run``, a script) never
loads the widget, anywidget or ipywidgets.
"""

from typing import TYPE_CHECKING, Any

from dataflow_jupyter._version import __version__
from dataflow_jupyter.graph import Graph, GraphValidationError
from dataflow_jupyter.node import DataFlowNode, IONode, NodeContext, PureNode, StatefulNode
from dataflow_jupyter.packets import BinaryRef, DataPacket, ErrorCode, ErrorPacket
from dataflow_jupyter.ports import PortSchema, PortType
from dataflow_jupyter.registry import (
    NodeLoadError,
    NodeRegistry,
    RegistryWarning,
    UnknownNodeError,
)
from dataflow_jupyter.runtime import GraphRuntime, RunResult
from dataflow_jupyter.spec import NodeSpec, SettingsError

if TYPE_CHECKING:
    from dataflow_jupyter.widget import GraphEditor

__all__ = [
    "BinaryRef",
    "DataFlowNode",
    "DataPacket",
    "ErrorCode",
    "ErrorPacket",
    "Graph",
    "GraphEditor",
    "GraphRuntime",
    "GraphValidationError",
    "IONode",
    "NodeContext",
    "NodeLoadError",
    "NodeRegistry",
    "NodeSpec",
    "PortSchema",
    "PortType",
    "PureNode",
    "RegistryWarning",
    "RunResult",
    "SettingsError",
    "StatefulNode",
    "UnknownNodeError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """``GraphEditor`` on first use (the widget and its dependencies load only then)."""
    if name == "GraphEditor":
        from dataflow_jupyter.widget import GraphEditor  # noqa: PLC0415 - imported on first use

        globals()["GraphEditor"] = GraphEditor
        return GraphEditor
    msg = f"module 'dataflow_jupyter' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted({*globals(), "GraphEditor"})
