from __future__ import annotations

import asyncio
import re
import sys
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph
from dataflow_jupyter.node import DataFlowNode, PureNode
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import RunResult
from dataflow_jupyter.spec import SettingsError

NOT_A_FUNCTION = 42
ALLOWED = f"math,builtins,no_such_module_xyz,os,{__name__}"


@pytest.fixture(autouse=True)
def allowed_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The packages these tests reference, allowed as a user would allow theirs."""
    monkeypatch.setenv("DATAFLOW_PYTHON_MODULES", ALLOWED)


def tag(value: Any) -> Any:
    """A function in a module: referenced as '<this module>:tag'."""
    return {"tagged": value}


def keep_even(value: int) -> int | None:
    return value if value % 2 == 0 else None


def reciprocal(value: float) -> float:
    return 1 / value


def add_total(table: pa.Table) -> pa.Table:
    return table.append_column("total", pa.compute.multiply(table["p"], table["q"]))


def to_frame(table: pa.Table) -> pd.DataFrame:
    return pd.DataFrame({"n": [table.num_rows]})


async def fetch(value: Any) -> Any:  # pragma: no cover - refused before it is called
    return value


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def python_function(registry: NodeRegistry) -> type[DataFlowNode]:
    return registry.get("python-function", "1.0.0").load()


def run_function(
    registry: NodeRegistry, function: str, values: list[Any], *, tables: bool = False
) -> tuple[RunResult, str]:
    graph = Graph(id="fn", registry=registry)
    source = "table-source" if tables else "values-source"
    src = graph.add_node(source, settings={"tables" if tables else "values": values})
    fn = graph.add_node("python-function", settings={"function": function})
    graph.connect(src, "out", fn, "in")
    return run_graph(graph, registry), fn


def test_the_spec(python_function: type[DataFlowNode]) -> None:
    assert issubclass(python_function, PureNode)
    assert not python_function.process_is_async()
    spec = python_function.spec
    assert (spec.id, spec.version, spec.category) == ("python-function", "1.0.0", "Logic")
    assert [p.name for p in spec.ports.inputs] == ["in"]
    assert [(p.name, p.type.value) for p in spec.ports.outputs] == [
        ("out", "any"),
        ("error", "error_packet"),
    ]
    assert spec.execution.offload == "thread"  # a slow function never blocks the loop
    assert [(s.name, s.type, s.required) for s in spec.settings] == [("function", "code-ref", True)]


def test_module_function(registry: NodeRegistry) -> None:
    result, fn = run_function(registry, "math:sqrt", [4, 9, 2.25])
    assert result.ok
    assert result.outputs[f"{fn}.out"] == [2.0, 3.0, 1.5]


def test_a_function_of_a_test_module_and_a_dotted_attribute(registry: NodeRegistry) -> None:
    result, fn = run_function(registry, f"{__name__}:tag", [1, "a"])
    assert result.outputs[f"{fn}.out"] == [{"tagged": 1}, {"tagged": "a"}]
    result, fn = run_function(registry, "builtins:str.upper", ["abc", "Déjà"])
    assert result.outputs[f"{fn}.out"] == ["ABC", "DÉJÀ"]


def test_a_name_from_the_notebook_namespace(
    registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def shout(value: str) -> str:
        return value.upper() + "!"

    monkeypatch.setattr(sys.modules["__main__"], "shout", shout, raising=False)
    result, fn = run_function(registry, "shout", ["hi", "yo"])
    assert result.outputs[f"{fn}.out"] == ["HI!", "YO!"]
    assert result.frame(f"{fn}.out")["value"].tolist() == ["HI!", "YO!"]


def test_none_emits_nothing(registry: NodeRegistry) -> None:
    result, fn = run_function(registry, f"{__name__}:keep_even", [1, 2, 3, 4])
    assert result.outputs[f"{fn}.out"] == [2, 4]
    assert result.stats.nodes.loc[fn, "filtered"] == 2


def test_the_result_is_derived_from_the_input(registry: NodeRegistry) -> None:
    result, fn = run_function(registry, f"{__name__}:tag", [1])
    (received,) = result.frames[f"{fn}.in"]
    (sent,) = result.packets[f"{fn}.out"]
    assert (sent.trace_id, sent.parents, sent.origin_node) == (
        received.trace_id,
        (received.packet_id,),
        fn,
    )


def test_an_exception_goes_to_error(registry: NodeRegistry) -> None:
    graph = Graph(id="fn", registry=registry)
    src = graph.add_node("values-source", settings={"values": [2, 0, 4]})
    fn = graph.add_node("python-function", settings={"function": f"{__name__}:reciprocal"})
    log = graph.add_node("debug-log")
    graph.connect(src, "out", fn, "in")
    graph.connect(fn, "error", log, "in")
    result = run_graph(graph, registry)
    assert result.outputs[f"{fn}.out"] == [0.5, 0.25]
    (error,) = result.outputs[f"{log}.out"]
    assert (error.code.value, error.node_id, error.message) == (
        "NODE_EXCEPTION",
        fn,
        "division by zero",
    )
    assert error.details["exception_type"] == "ZeroDivisionError"
    assert error.packet.value == 0


def test_tables_in_and_out(registry: NodeRegistry) -> None:
    tables = [{"p": [2.0, 3.0], "q": [10, 1]}]
    result, fn = run_function(registry, f"{__name__}:add_total", tables, tables=True)
    (table,) = result.outputs[f"{fn}.out"]
    assert isinstance(table, pa.Table)
    assert table.to_pylist() == [
        {"p": 2.0, "q": 10, "total": 20.0},
        {"p": 3.0, "q": 1, "total": 3.0},
    ]
    result, fn = run_function(registry, f"{__name__}:to_frame", tables, tables=True)
    (table,) = result.outputs[f"{fn}.out"]
    assert isinstance(table, pa.Table)  # a DataFrame result travels as Arrow
    assert table.to_pylist() == [{"n": 2}]


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        (
            "no_such_module_xyz:f",
            "cannot import module 'no_such_module_xyz' of function 'no_such_module_xyz:f': "
            "No module named 'no_such_module_xyz'. Is the package installed in this kernel's "
            "environment?",
        ),
        (
            "math:no_such",
            "cannot find function 'math:no_such': module 'math' has no attribute 'no_such'",
        ),
        (
            "builtins:str.nope",
            "cannot find function 'builtins:str.nope': 'str' in module 'builtins' has no "
            "attribute 'nope'",
        ),
        (
            "not_defined_in_the_notebook",
            "cannot find function 'not_defined_in_the_notebook' in the notebook's namespace "
            "(__main__); define it in a cell before running the graph, or reference it as "
            "'module:function'",
        ),
        ("os:_exit", "function 'os:_exit' names the private attribute '_exit'"),
        (
            f"{__name__}:NOT_A_FUNCTION",
            f"'{__name__}:NOT_A_FUNCTION' is not a function; it is int 42",
        ),
        (f"{__name__}:fetch", f"'{__name__}:fetch' is a coroutine function (async def)"),
    ],
)
def test_an_unknown_reference_fails_at_setup(
    python_function: type[DataFlowNode], reference: str, message: str
) -> None:
    node = python_function("fn", {"function": reference})  # reads the reference only
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        asyncio.run(node.setup())
    assert str(info.value).startswith("python-function 1.0.0 (node 'fn'): ")


@pytest.mark.parametrize("reference", ["builtins:exec", "os:system", "importlib:import_module"])
def test_a_package_that_is_not_allowed_is_refused_without_importing(
    python_function: type[DataFlowNode], reference: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAFLOW_PYTHON_MODULES", "math")
    with pytest.raises(ValueError, match="which is not allowed") as info:
        python_function("fn", {"function": reference})
    assert "DATAFLOW_PYTHON_MODULES=" in str(info.value)


def test_validating_a_graph_imports_nothing(
    python_function: type[DataFlowNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAFLOW_PYTHON_MODULES", "never_imported_pkg")
    python_function("fn", {"function": "never_imported_pkg.sub:f"})
    assert "never_imported_pkg" not in sys.modules


def test_an_unknown_reference_fails_the_run_before_any_packet(registry: NodeRegistry) -> None:
    graph = Graph(id="fn", registry=registry)
    src = graph.add_node("values-source", settings={"values": [1]})
    fn = graph.add_node("python-function", settings={"function": "math:nope"})
    graph.connect(src, "out", fn, "in")
    with pytest.raises(RuntimeError, match="failed to set up") as info:
        run_graph(graph, registry)
    assert "cannot find function 'math:nope'" in str(info.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "setting 'function' is required"),
        ({"function": "print('hi')"}, "expects 'module:function' or a name"),
        ({"function": 3}, "expects a string"),
    ],
)
def test_code_is_not_a_reference(
    python_function: type[DataFlowNode], settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        python_function("fn", settings)
