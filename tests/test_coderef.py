"""Function references a graph may name (``dataflow_jupyter.coderef``): one table, both ways.

The notebook below is a plain namespace, as ``__main__`` is in a kernel: functions defined in
cells (their ``__module__`` is ``"__main__"``) next to names it imported. ``mypkg`` is a
user's package, built here so that it can re-export names from elsewhere.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import sys
import types
from typing import Any

import pandas as pd
import pytest

from dataflow_jupyter import cli, coderef
from dataflow_jupyter.coderef import Refusal, resolve_reference


def _in_main(function: Any) -> Any:
    function.__module__ = "__main__"  # looks like a notebook function, but is defined here
    return function


def clean(value: Any) -> Any:
    return value


class Klass:
    pass


# A notebook: its cells run in this namespace (what ``vars(__main__)`` is in a kernel).
NOTEBOOK: dict[str, Any] = {"__name__": "__main__"}
CELLS = """
def clean(value):
    return value

lam = lambda value: value

async def afetch(value):
    return value

def _private(value):
    return value
"""
exec(compile(CELLS, "<notebook cell>", "exec"), NOTEBOOK)
NOTEBOOK.update(
    Klass=Klass,
    CONST=42,
    pd=pd,
    sys=sys,
    json=json,
    main=cli.main,  # the dataflow script's __main__ holds this: bare 'main' re-enters the CLI
    loads=json.loads,
    ex=exec,
    partial_fn=functools.partial(clean),
    disguised=_in_main(lambda value: value),  # __module__ says __main__; defined elsewhere
)


def _user_package() -> dict[str, types.ModuleType]:
    mypkg = types.ModuleType("mypkg")
    sub = types.ModuleType("mypkg.sub")
    touched: list[str] = []

    def tidy(value: Any) -> Any:
        return value

    async def fetch(value: Any) -> Any:  # pragma: no cover - refused
        return value

    def lazy(name: str) -> Any:  # a module __getattr__ (PEP 562): must never run
        touched.append(name)
        return exec

    for function in (tidy, fetch):
        function.__module__ = "mypkg"
    tidy2 = _in_main(lambda value: value)
    tidy2.__module__ = "mypkg.sub"
    vars(mypkg).update(
        tidy=tidy,
        fetch=fetch,
        _hidden=tidy,
        exit=sys.exit,  # 'from sys import exit'
        loads=json.loads,  # 'from json import loads'
        CONSTANT=3,
        Thing=Klass,
        sub=sub,
        __getattr__=lazy,
        touched=touched,
    )
    vars(sub).update(tidy2=tidy2)
    return {"mypkg": mypkg, "mypkg.sub": sub}


PACKAGES = _user_package()


def importer(name: str) -> types.ModuleType:
    """``importlib.import_module`` for real modules, the fake ``mypkg`` for the user's."""
    if name in PACKAGES:
        return PACKAGES[name]
    if name == "broken":  # a module that exits the process when imported
        raise SystemExit(3)
    return importlib.import_module(name)


OK = None
# (reference, allowed modules, None when it is allowed, else a fragment of the reason)
TABLE: list[tuple[Any, str, str | None]] = [
    # allowed
    ("clean", "", OK),
    ("lam", "", OK),
    ("json:loads", "json", OK),
    ("json:dumps", "json,math", OK),
    ("math:sqrt", "math", OK),
    ("math:floor", "math", OK),
    ("mypkg:tidy", "mypkg", OK),
    ("mypkg.sub:tidy2", "mypkg.sub", OK),
    # the paths: attribute walks, process control, the CLI
    ("pd.core.common.builtins.exec", "", "is an attribute path ('pd.core.common.builtins.exec')"),
    ("pd.core.common.builtins.exec", "pandas", "is an attribute path"),
    ("json:codecs.builtins.exec", "json", "is an attribute path ('codecs.builtins.exec')"),
    ("json:codecs", "json", "is not a function; it is the module 'codecs'"),
    ("sys.exit", "", "is an attribute path ('sys.exit')"),
    ("sys.exit", "sys", "is an attribute path"),
    ("sys:exit", "sys", "'sys', which graphs may never call"),
    ("main", "", "was imported from 'dataflow_jupyter.cli', not defined in the notebook"),
    ("dataflow_jupyter.cli:main", "dataflow_jupyter.cli", "which graphs may never call"),
    ("builtins:exec", "builtins", "'builtins', which graphs may never call"),
    ("builtins:exec", "", "which graphs may never call"),
    ("builtins:str.upper", "builtins", "is an attribute path"),
    ("exec", "", "cannot find function 'exec' in the notebook's namespace"),
    ("ex", "", "is the builtin 'exec', not a function defined there"),
    ("os:system", "os", "'os', which graphs may never call"),
    ("os:_exit", "os", "names the private name '_exit'"),
    ("posix:system", "posix", "which graphs may never call"),
    ("subprocess:run", "subprocess", "which graphs may never call"),
    ("importlib:import_module", "importlib", "which graphs may never call"),
    ("runpy:run_path", "runpy", "which graphs may never call"),
    ("code:interact", "code", "which graphs may never call"),
    ("ctypes:CDLL", "ctypes", "which graphs may never call"),
    ("timeit:timeit", "timeit", "which graphs may never call"),
    ("pickle:loads", "pickle", "which graphs may never call"),
    ("signal:raise_signal", "signal", "which graphs may never call"),
    # the allow-list names modules exactly
    ("json:load", "", "is in module 'json', which is not allowed (allowed: none)"),
    ("json.decoder:JSONDecoder", "json", "module 'json.decoder', which is not allowed"),
    ("mypkg.sub:tidy2", "mypkg", "module 'mypkg.sub', which is not allowed"),
    ("MYPKG:tidy", "mypkg", "module 'MYPKG', which is not allowed"),
    ("no_such_module_xyz:f", "no_such_module_xyz", "cannot import module 'no_such_module_xyz'"),
    ("broken:f", "broken", "importing module 'broken' of function 'broken:f' failed: SystemExit"),
    # a module's function is defined in that module
    ("mypkg:exit", "mypkg", "is defined in module 'sys', not in 'mypkg'"),
    ("mypkg:loads", "mypkg", "is defined in module 'json', not in 'mypkg'"),
    ("mypkg:CONSTANT", "mypkg", "is not a function; it is int 3"),
    ("mypkg:Thing", "mypkg", "is not a function; it is the class 'Klass'"),
    ("mypkg:sub", "mypkg", "is not a function; it is the module 'mypkg.sub'"),
    ("mypkg:fetch", "mypkg", "is a coroutine function (async def)"),
    ("mypkg:missing", "mypkg", "module 'mypkg' has no attribute 'missing'"),
    ("mypkg:_hidden", "mypkg", "names the private name '_hidden'"),
    ("json.decoder:JSONDecoder", "json.decoder", "it is the class 'JSONDecoder'"),
    ("json:JSONDecodeError", "json", "it is the class 'JSONDecodeError'"),
    ("math:pi", "math", "is not a function; it is float 3.14"),
    # a bare name is a function defined in the notebook
    ("pd", "", "is the module 'pandas', not a function defined there"),
    ("Klass", "", "is the class 'Klass', not a function defined there"),
    ("CONST", "", "is int 42, not a function defined there"),
    ("partial_fn", "", "is partial functools.partial("),
    ("afetch", "", "is a coroutine function (async def)"),
    ("loads", "", "was imported from 'json', not defined in the notebook"),
    ("no_such", "", "cannot find function 'no_such' in the notebook's namespace (__main__)"),
    ("_private", "", "names the private name '_private'"),
    ("disguised", "", "was not defined there (its globals are another module's"),
    # not references at all
    ("_mypkg:f", "_mypkg", "is not a dotted module name of public identifiers"),
    ("mypkg.:tidy", "mypkg", "is not a dotted module name"),
    (":tidy", "", "is not a dotted module name"),
    ("mypkg :tidy", "mypkg", "is not a dotted module name"),
    ("mypkg:", "mypkg", "is not a reference: expected 'module:function'"),
    ("a:b:c", "a", "is not a reference"),
    ("print('hi')", "", "is not a reference"),
    ("", "", "is not a reference"),
    (42, "", "a function reference must be a string; got int"),
]


def _allowed(text: str) -> frozenset[str]:
    return coderef.allowed_modules({coderef.ALLOWED_MODULES_ENV: text})


def test_the_table_is_big_enough() -> None:
    assert len(TABLE) >= 40
    assert sum(expected is OK for _, _, expected in TABLE) >= 8
    assert len({(ref, allowed) for ref, allowed, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(
    ("reference", "allowed", "expected"),
    TABLE,
    ids=[f"{i:02d}:{ref}@{allowed}" for i, (ref, allowed, _) in enumerate(TABLE)],
)
def test_resolve_reference(reference: Any, allowed: str, expected: str | None) -> None:
    found = resolve_reference(
        reference, main=NOTEBOOK, allowed=_allowed(allowed), importer=importer
    )
    if expected is OK:
        assert callable(found)
        assert not isinstance(found, Refusal)
    else:
        assert isinstance(found, Refusal), f"{reference!r} was allowed: {found!r}"
        assert expected in found.reason


def test_allowed_references_are_the_functions_themselves() -> None:
    def find(reference: str, allowed: str = "") -> Any:
        return resolve_reference(
            reference, main=NOTEBOOK, allowed=_allowed(allowed), importer=importer
        )

    assert find("clean") is NOTEBOOK["clean"]
    assert find("math:sqrt", "math") is math.sqrt
    assert find("json:loads", "json") is json.loads
    assert find("mypkg:tidy", "mypkg") is vars(PACKAGES["mypkg"])["tidy"]


def test_a_module_getattr_never_runs() -> None:
    found = resolve_reference("mypkg:lazy", main={}, allowed={"mypkg"}, importer=importer)
    assert isinstance(found, Refusal)
    assert "module 'mypkg' has no attribute 'lazy'" in found.reason
    assert vars(PACKAGES["mypkg"])["touched"] == []


def test_a_module_that_is_not_allowed_is_never_imported() -> None:
    imported: list[str] = []

    def spy(name: str) -> types.ModuleType:
        imported.append(name)
        return importer(name)

    for reference in ("os:system", "json:load", "json:codecs.builtins.exec", "mypkg.sub:tidy2"):
        assert isinstance(
            resolve_reference(reference, main={}, allowed={"mypkg"}, importer=spy), Refusal
        )
    assert imported == []


def test_the_allow_list_is_read_from_the_environment() -> None:
    assert coderef.allowed_modules({}) == frozenset()
    env = {coderef.ALLOWED_MODULES_ENV: " json , mypkg.sub,, "}
    assert coderef.allowed_modules(env) == {"json", "mypkg.sub"}


def test_reference_problem_uses_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(coderef.ALLOWED_MODULES_ENV, "json")
    assert coderef.reference_problem("json:loads") is None
    assert "is an attribute path" in str(coderef.reference_problem("json:codecs.builtins.exec"))
    main = sys.modules["__main__"]
    cell: dict[str, Any] = {}
    exec("def nb_fn(value):\n    return value", vars(main), cell)
    nb_fn = cell["nb_fn"]
    nb_fn.__module__ = "__main__"
    monkeypatch.setattr(main, "nb_fn", nb_fn, raising=False)
    assert coderef.reference_problem("nb_fn") is None
    monkeypatch.delenv(coderef.ALLOWED_MODULES_ENV)
    assert "which is not allowed" in str(coderef.reference_problem("json:loads"))


def test_no_bare_name_when_main_is_this_package_run_with_python_m() -> None:
    """``python -m dataflow_jupyter.cli``: the CLI's own functions are defined in __main__."""
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__spec__": types.SimpleNamespace(name="dataflow_jupyter.cli"),
    }
    exec("def main(argv=None):\n    return 0", namespace)
    found = resolve_reference("main", main=namespace, allowed=(), importer=importer)
    assert isinstance(found, Refusal)
    assert "__main__, which is the module 'dataflow_jupyter.cli'" in found.reason
