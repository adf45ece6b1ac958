from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pandas as pd
import pyarrow as pa
import pytest
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph, GraphValidationError, cli
from dataflow_jupyter.node import DataFlowNode, PureNode
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import GraphRuntime, RunResult
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


def notebook_function(source: str) -> Any:
    """A function as a notebook cell defines it: its globals are ``__main__``'s namespace."""
    cell: dict[str, Any] = {}
    exec(source, vars(sys.modules["__main__"]), cell)
    (function,) = cell.values()
    function.__module__ = "__main__"
    return function


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


def test_a_function_of_a_test_module(registry: NodeRegistry) -> None:
    result, fn = run_function(registry, f"{__name__}:tag", [1, "a"])
    assert result.outputs[f"{fn}.out"] == [{"tagged": 1}, {"tagged": "a"}]


def test_a_name_from_the_notebook_namespace(
    registry: NodeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    shout = notebook_function("def shout(value):\n    return value.upper() + '!'")
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
        ("builtins:str.nope", "'builtins:str.nope' is an attribute path ('str.nope')"),
        (
            "not_defined_in_the_notebook",
            "cannot find function 'not_defined_in_the_notebook' in the notebook's namespace "
            "(__main__); define it in a cell before running the graph, or reference it as "
            "'module:function'",
        ),
        ("os:_exit", "'os:_exit' names the private name '_exit'"),
        (
            f"{__name__}:NOT_A_FUNCTION",
            f"'{__name__}:NOT_A_FUNCTION' is not a function; it is int 42",
        ),
        (f"{__name__}:fetch", f"'{__name__}:fetch' is a coroutine function (async def)"),
    ],
)
def test_a_refused_reference_fails_when_the_node_is_built(
    python_function: type[DataFlowNode], reference: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        python_function("fn", {"function": reference})


def test_setup_checks_again(
    python_function: type[DataFlowNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook function removed after the node was built is refused when the run starts."""

    gone = notebook_function("def gone(value):\n    return value")
    monkeypatch.setattr(sys.modules["__main__"], "gone", gone, raising=False)
    node = python_function("fn", {"function": "gone"})
    monkeypatch.delattr(sys.modules["__main__"], "gone")
    with pytest.raises(ValueError, match="cannot find function 'gone'") as info:
        asyncio.run(node.setup())
    assert str(info.value).startswith("python-function 1.0.0 (node 'fn'): ")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("builtins:exec", "'builtins', which graphs may never call"),
        ("os:system", "'os', which graphs may never call"),
        ("importlib:import_module", "'importlib', which graphs may never call"),
        (
            "json:loads",
            "module 'json', which is not allowed (allowed: builtins, importlib, math, os)",
        ),
    ],
)
def test_a_module_that_is_not_allowed_is_refused(
    python_function: type[DataFlowNode],
    reference: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATAFLOW_PYTHON_MODULES", "math,builtins,os,importlib")  # listed, still
    with pytest.raises(SettingsError, match=re.escape(message)):
        python_function("fn", {"function": reference})


def test_a_module_that_is_not_allowed_is_never_imported(
    python_function: type[DataFlowNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAFLOW_PYTHON_MODULES", "never_imported_pkg")  # not '.sub': exact
    with pytest.raises(SettingsError, match=r"module 'never_imported_pkg\.sub', which is not"):
        python_function("fn", {"function": "never_imported_pkg.sub:f"})
    assert "never_imported_pkg" not in sys.modules


def test_an_unknown_reference_fails_validation_before_any_packet(registry: NodeRegistry) -> None:
    graph = Graph(id="fn", registry=registry)
    src = graph.add_node("values-source", settings={"values": [1]})
    fn = graph.add_node("python-function", settings={"function": "math:nope"})
    graph.connect(src, "out", fn, "in")
    with pytest.raises(GraphValidationError, match="cannot find function 'math:nope'"):
        run_graph(graph, registry)


# --- what a graph from someone else may name (issue 10); the rule: dataflow_jupyter.coderef --


@pytest.mark.parametrize(
    ("reference", "allowed", "notebook", "message"),
    [
        ("pd.core.common.builtins.exec", "", {"pd": pd}, "is an attribute path"),
        ("pd.core.common.builtins.exec", "pandas", {"pd": pd}, "is an attribute path"),
        ("json:codecs.builtins.exec", "json", {}, "is an attribute path"),
        ("json:codecs", "json", {}, "is not a function; it is the module 'codecs'"),
        ("sys.exit", "", {"sys": sys}, "is an attribute path"),
        ("sys:exit", "sys", {}, "which graphs may never call"),
        ("main", "", {"main": cli.main}, "was imported from 'dataflow_jupyter.cli'"),
        ("builtins:exec", "builtins", {}, "which graphs may never call"),
    ],
)
def test_validate_refuses_what_run_would_refuse(  # noqa: PLR0917 - fixtures and one case
    registry: NodeRegistry,
    monkeypatch: pytest.MonkeyPatch,
    reference: str,
    allowed: str,
    notebook: dict[str, Any],
    message: str,
) -> None:
    monkeypatch.setenv("DATAFLOW_PYTHON_MODULES", allowed)
    for name, value in notebook.items():
        monkeypatch.setattr(sys.modules["__main__"], name, value, raising=False)
    graph = Graph(id="fn", registry=registry)
    src = graph.add_node("values-source", settings={"values": ["1"]})
    fn = graph.add_node("python-function", settings={"function": reference}, id="fn")
    graph.connect(src, "out", fn, "in")
    (problem,) = graph.problems(registry)
    assert problem.startswith("node 'fn' (python-function 1.0.0): setting 'function': ")
    assert message in problem
    with pytest.raises(GraphValidationError, match=re.escape(message)):
        GraphRuntime(graph, registry)


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


@pytest.mark.integration
async def test_a_webhook_body_never_runs_as_code(
    registry: NodeRegistry,
    free_port: int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The issue's attack: webhook -> (edge: the body) -> python-function naming ``exec``
    through a notebook import. Before, ``validate`` said ok and the POSTed body ran."""
    monkeypatch.setattr(sys.modules["__main__"], "pd", pd, raising=False)
    marker = tmp_path / "marker"
    graph = Graph(id="hook-exec", registry=registry)
    graph.add_node("webhook-listener", settings={"port": free_port}, id="hook")
    reference = "pd.core.common.builtins.exec"
    graph.add_node("python-function", settings={"function": reference}, id="fn")
    graph.add_node("debug-log", id="sink")
    graph.connect("hook.out", "fn.in", transform="value['body']")
    graph.connect("fn.out", "sink.in")
    problems = graph.problems(registry)
    try:
        runtime: GraphRuntime | None = GraphRuntime(graph, registry)
    except GraphValidationError:
        runtime = None
    if runtime is not None:  # what happened before: the graph ran and the body was code
        await runtime.start()
        body = f"open({str(marker)!r}, 'w').write('ran')"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
            for _ in range(200):
                try:
                    url = f"http://127.0.0.1:{free_port}/webhook"
                    async with client.post(url, json=body) as answer:
                        await answer.read()
                    break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.01)
        await runtime.stop()
    assert not marker.exists(), "the request's body ran as code"
    assert runtime is None
    assert problems == [
        "node 'fn' (python-function 1.0.0): setting 'function': "
        "'pd.core.common.builtins.exec' is an attribute path ('pd.core.common.builtins.exec'); "
        "a reference names one function defined in the notebook's namespace, never an "
        "attribute of something else. Use 'module:function' for a function of an allowed "
        "module, or a name defined in the notebook"
    ]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("command", "reference", "message"),
    [
        ("-m dataflow_jupyter.cli", "main", "which is the module 'dataflow_jupyter.cli.__main__'"),
        ("dataflow", "main", "was imported from 'dataflow_jupyter.cli'"),
        ("dataflow", "sys.exit", "'sys.exit' is an attribute path"),
    ],
)
def test_the_dataflow_command_refuses_its_own_namespace(
    tmp_path: Path, command: str, reference: str, message: str
) -> None:
    """Bare ``sys.exit`` picked ``dataflow run``'s exit code; bare ``main`` re-entered the CLI.

    Whatever ``__main__`` is (``python -m dataflow_jupyter.cli`` defines ``main`` there), a
    bare name in a graph run by the command is refused by ``validate`` and ``run`` alike.
    """
    graph = Graph(id="cli-fn")
    graph.add_node("inject", settings={"value": 7}, id="src")
    graph.add_node("python-function", settings={"function": reference}, id="fn")
    graph.connect("src.out", "fn.in")
    path = tmp_path / "g.dfgraph.json"
    path.write_text(json.dumps(graph.to_dict()), encoding="utf-8")
    if command == "dataflow":
        argv = [str(Path(sys.executable).parent / "dataflow")]
    else:
        argv = [sys.executable, *command.split()]
    for verb in ("validate", "run"):
        done = subprocess.run(
            [*argv, verb, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
            env={**os.environ, "DATAFLOW_PYTHON_MODULES": ""},
        )
        assert done.returncode == 2, (verb, done.returncode, done.stdout, done.stderr)
        assert "node 'fn' (python-function 1.0.0): setting 'function': " in done.stderr
        assert message in done.stderr
