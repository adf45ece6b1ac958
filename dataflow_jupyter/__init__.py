"""dataflow-jupyter: a node-based visual dataflow environment that lives inside Jupyter."""

from dataflow_jupyter._version import __version__
from dataflow_jupyter.executors import Executor, LocalExecutor
from dataflow_jupyter.expressions import (
    EvaluationError,
    Expression,
    ExpressionBudgetError,
    ExpressionError,
    compile_expression,
)
from dataflow_jupyter.graph import (
    Graph,
    GraphAnalysis,
    GraphEdge,
    GraphNode,
    GraphSchema,
    GraphValidationError,
    graph_json_schema,
)
from dataflow_jupyter.node import DataFlowNode, IONode, NodeContext, PureNode, StatefulNode
from dataflow_jupyter.packets import BinaryRef, DataPacket, ErrorCode, ErrorPacket
from dataflow_jupyter.registry import (
    NodeLoadError,
    NodeRegistry,
    NodeType,
    RegistryProblem,
    RegistryWarning,
    UnknownNodeError,
)
from dataflow_jupyter.runtime import (
    DeadLetterQueue,
    Debugger,
    ExecutionLog,
    GraphRuntime,
    RunResult,
    Stats,
    Step,
)
from dataflow_jupyter.spec import NodeSpec, SettingsError, node_spec_json_schema
from dataflow_jupyter.state import (
    FileState,
    MemoryState,
    StateAdapter,
    StateCorruptError,
    StateKeyError,
)
from dataflow_jupyter.types import PortSchema, PortType
from dataflow_jupyter.widget import GraphEditor

__all__ = [
    "BinaryRef",
    "DataFlowNode",
    "DataPacket",
    "DeadLetterQueue",
    "Debugger",
    "ErrorCode",
    "ErrorPacket",
    "EvaluationError",
    "ExecutionLog",
    "Executor",
    "Expression",
    "ExpressionBudgetError",
    "ExpressionError",
    "FileState",
    "Graph",
    "GraphAnalysis",
    "GraphEdge",
    "GraphEditor",
    "GraphNode",
    "GraphRuntime",
    "GraphSchema",
    "GraphValidationError",
    "IONode",
    "LocalExecutor",
    "MemoryState",
    "NodeContext",
    "NodeLoadError",
    "NodeRegistry",
    "NodeSpec",
    "NodeType",
    "PortSchema",
    "PortType",
    "PureNode",
    "RegistryProblem",
    "RegistryWarning",
    "RunResult",
    "SettingsError",
    "StateAdapter",
    "StateCorruptError",
    "StateKeyError",
    "StatefulNode",
    "Stats",
    "Step",
    "UnknownNodeError",
    "__version__",
    "compile_expression",
    "graph_json_schema",
    "node_spec_json_schema",
]
