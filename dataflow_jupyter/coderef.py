"""Function references (setting type ``code-ref``): which functions a graph file may name.

A graph file comes from someone else, and a ``code-ref`` setting (python-function's
``function``) names a function that will be called on every packet, with the packet's
payload: a reference that reached ``exec`` would run whatever a webhook's body says. So a
reference names exactly one function, found without walking attributes, in one of two
places:

``name``
    a function the user defined in the notebook: ``name`` is one identifier (no dots), and
    ``__main__``'s namespace holds a plain Python function under it whose ``__module__`` is
    ``"__main__"`` and whose globals are that namespace. An imported name (``pd``, ``sys``,
    the CLI's own ``main``), a class, a builtin or a module attribute path
    (``pd.core.common.builtins.exec``) is refused, and so is every bare name when
    ``__main__`` is a module of a denied package run with ``python -m`` (``python -m
    dataflow_jupyter.cli`` defines ``main`` in ``__main__``).
``module:function``
    ``module`` is a dotted module name listed *exactly* in ``DATAFLOW_PYTHON_MODULES``
    (comma-separated; listing ``mypkg`` does not allow ``mypkg.sub``), and not one of
    ``DENIED_MODULES`` (process control, code loading, files and the interpreter itself),
    whatever the list says. ``function`` is one identifier (``json:codecs.builtins.exec`` is
    refused), found in the module's own namespace (``vars(module)``: no module
    ``__getattr__`` runs), and it is a function defined in that module: a Python function or
    a builtin whose ``__module__`` is that very module. ``json:codecs`` (a module) or a name
    the module imported from elsewhere (``mypkg:exit`` after ``from sys import exit``) is
    refused.

No segment may start with ``_``, and coroutine functions are refused (the call runs in a
worker thread). A user widens what graphs may call in their own environment
(``DATAFLOW_PYTHON_MODULES``), never from a graph file.

One rule, one function: ``resolve_reference`` is pure (the namespace, the allow-list and the
importer are arguments) and is what the node runs in ``setup()``. ``reference_problem``
runs it with this process's namespace, allow-list and ``importlib``: it is what
``Graph.validate`` (through the ``code-ref`` setting type) and node construction run, so
validating refuses exactly what running would. Only a module the user listed is ever
imported, and only after every check that needs no import passed.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

__all__ = [
    "ALLOWED_MODULES_ENV",
    "DENIED_MODULES",
    "Refusal",
    "allowed_modules",
    "main_namespace",
    "reference_problem",
    "resolve_reference",
]

ALLOWED_MODULES_ENV: Final = "DATAFLOW_PYTHON_MODULES"

# Top-level packages a graph may never call into, even when the allow-list names them:
# the interpreter and process control, code loading and running, files, processes, sockets,
# serialisation that runs code, and this package (its CLI would re-enter itself).
DENIED_MODULES: Final = frozenset(
    {
        *("builtins", "sys", "os", "posix", "nt", "posixpath", "ntpath", "subprocess"),
        *("importlib", "runpy", "code", "codeop", "ctypes", "pkgutil", "zipimport", "site"),
        *("sysconfig", "shutil", "signal", "pty", "tty", "termios", "fcntl", "resource"),
        *("multiprocessing", "threading", "concurrent", "asyncio", "socket", "ssl", "select"),
        *("selectors", "mmap", "pickle", "marshal", "shelve", "copyreg", "gc", "inspect"),
        *("types", "pdb", "bdb", "atexit", "faulthandler", "webbrowser", "io", "tempfile"),
        *("pathlib", "glob", "fileinput", "timeit", "doctest", "cProfile", "profile"),
        *("trace", "tracemalloc", "pydoc", "compileall", "py_compile", "zipapp", "venv"),
        *("ensurepip", "pip", "setuptools", "distutils", "logging", "operator", "functools"),
        *("weakref", "http", "urllib", "socketserver", "xmlrpc", "ftplib", "smtplib"),
        *("IPython", "ipykernel", "jupyter_client", "dataflow_jupyter"),
    }
)

_IDENTIFIER: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_HINT_MAIN: Final = (
    "define it in a cell before running the graph, or reference it as 'module:function'"
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a reference is refused: what was wrong and what to do instead."""

    reason: str


def allowed_modules(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The modules listed in ``DATAFLOW_PYTHON_MODULES`` (comma-separated, exact names)."""
    text = (os.environ if environ is None else environ).get(ALLOWED_MODULES_ENV, "")
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def main_namespace() -> Mapping[str, Any]:
    """The namespace of ``__main__`` (a notebook's user namespace; empty when there is none)."""
    main = sys.modules.get("__main__")
    return vars(main) if main is not None else {}


def reference_problem(reference: object) -> str | None:
    """Why ``reference`` is refused in this process, or ``None`` (validation runs this).

    The same rule as the run: this process's allow-list and ``__main__``, and an allowed
    module is imported to look at its function (only a module the user listed).
    """
    found = resolve_reference(
        reference, main=main_namespace(), allowed=allowed_modules(), importer=import_module
    )
    return found.reason if isinstance(found, Refusal) else None


def resolve_reference(
    reference: object,
    *,
    main: Mapping[str, Any],
    allowed: Collection[str],
    importer: Callable[[str], ModuleType],
) -> Callable[..., Any] | Refusal:
    """The function ``reference`` names, or a ``Refusal`` saying why it may not be called.

    ``main`` is the notebook's namespace, ``allowed`` the allow-list, ``importer`` imports a
    module by name (``importlib.import_module``); it is called only for an allowed module.
    """
    parsed = _parse(reference, allowed)
    if isinstance(parsed, Refusal):
        return parsed
    module_name, name = parsed
    if module_name is None:
        return _main_function(reference, name, main)
    try:
        module: Any = importer(module_name)
    except ImportError as exc:
        return Refusal(
            f"cannot import module {module_name!r} of function {reference!r}: {exc}. Is the "
            "package installed in this kernel's environment?"
        )
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - an allowed module failed to import
        return Refusal(
            f"importing module {module_name!r} of function {reference!r} failed: "
            f"{type(exc).__name__}: {exc}"
        )
    if not isinstance(module, ModuleType):
        return Refusal(f"{module_name!r} is not a module")
    namespace = vars(module)  # no module __getattr__ runs
    if name not in namespace:
        return Refusal(
            f"cannot find function {reference!r}: module {module_name!r} has no attribute {name!r}"
        )
    target = namespace[name]
    plain = inspect.isfunction(target) or inspect.isbuiltin(target)
    if not plain:
        return Refusal(
            f"{reference!r} is not a function; it is {_kind(target)}. Reference a function "
            f"defined in {module_name!r}"
        )
    home = getattr(target, "__module__", None)
    if home != module_name:
        return Refusal(
            f"{reference!r} is defined in module {home!r}, not in {module_name!r}: a reference "
            "names a function where it is defined. Reference it there (and allow that module) "
            "or wrap it in a function of your own"
        )
    return _callable_checked(reference, target)


def _parse(reference: object, allowed: Collection[str]) -> tuple[str | None, str] | Refusal:
    """``(module or None, name)`` after the checks that need no lookup."""
    if not isinstance(reference, str):
        return Refusal(f"a function reference must be a string; got {type(reference).__name__}")
    module_name, sep, name = reference.partition(":")
    if not sep:
        module_name, name = "", reference
    if not _IDENTIFIER.fullmatch(name):
        return Refusal(_bad_name(reference, name, bare=not sep))
    if not sep:
        return None, name
    segments = module_name.split(".")
    if not all(_IDENTIFIER.fullmatch(segment) for segment in segments):
        return Refusal(
            f"{reference!r} names the module {module_name!r}, which is not a dotted module "
            "name of public identifiers (no segment may start with '_')"
        )
    if segments[0] in DENIED_MODULES:
        return Refusal(
            f"{reference!r} is in {segments[0]!r}, which graphs may never call (process "
            "control, code loading, files and the interpreter are off limits, whatever "
            f"{ALLOWED_MODULES_ENV} says); define a function of your own that does what you "
            "need, in a module you allow"
        )
    if module_name not in allowed:
        listed = ", ".join(sorted(allowed)) or "none"
        return Refusal(
            f"function {reference!r} is in module {module_name!r}, which is not allowed "
            f"(allowed: {listed}). A graph file may only call functions of modules you list: "
            f"set {ALLOWED_MODULES_ENV}={module_name} (comma-separated, exact module names), "
            "or define the function in the notebook and reference it by name"
        )
    return module_name, name


def _bad_name(reference: str, name: str, *, bare: bool) -> str:
    if name.startswith("_"):
        return f"{reference!r} names the private name {name!r}; reference a public function"
    if "." in name:
        where = "the notebook's namespace" if bare else "its module"
        return (
            f"{reference!r} is an attribute path ({name!r}); a reference names one function "
            f"defined in {where}, never an attribute of something else. Use 'module:function' "
            "for a function of an allowed module, or a name defined in the notebook"
        )
    return f"{reference!r} is not a reference: expected 'module:function' or a function's name"


def _main_function(
    reference: object, name: str, main: Mapping[str, Any]
) -> Callable[..., Any] | Refusal:
    spec = main.get("__spec__")
    running = getattr(spec, "name", None)
    if isinstance(running, str) and running.split(".")[0] in DENIED_MODULES:
        return Refusal(
            f"{reference!r} names a function of __main__, which is the module {running!r} "
            "(a program run with 'python -m'), not a notebook: a bare name only ever names a "
            "function the user defined in a notebook or script; reference 'module:function'"
        )
    if name not in main:
        return Refusal(
            f"cannot find function {reference!r} in the notebook's namespace (__main__); "
            + _HINT_MAIN
        )
    target = main[name]
    if not inspect.isfunction(target):
        return Refusal(
            f"{reference!r} in the notebook's namespace is {_kind(target)}, not a function "
            f"defined there; {_HINT_MAIN}"
        )
    home = getattr(target, "__module__", None)
    if home != "__main__":
        return Refusal(
            f"{reference!r} in the notebook's namespace was imported from {home!r}, not "
            f"defined in the notebook: reference it as '{home}:{target.__name__}' and allow "
            f"that module in {ALLOWED_MODULES_ENV}, or define a function in a cell"
        )
    if getattr(target, "__globals__", None) is not main:
        return Refusal(
            f"{reference!r} in the notebook's namespace was not defined there (its globals are "
            "another module's, e.g. a decorator's wrapper); define a plain function in a cell "
            "that calls it"
        )
    return _callable_checked(reference, target)


def _callable_checked(reference: object, target: Any) -> Callable[..., Any] | Refusal:
    if inspect.iscoroutinefunction(target):
        return Refusal(
            f"{reference!r} is a coroutine function (async def); python-function calls "
            "plain functions in a worker thread. Wrap it in a plain function or write an IONode"
        )
    function: Callable[..., Any] = target
    return function


def _kind(value: Any) -> str:
    if isinstance(value, ModuleType):
        return f"the module {value.__name__!r}"
    if isinstance(value, type):
        return f"the class {value.__name__!r}"
    if inspect.isbuiltin(value):
        return f"the builtin {getattr(value, '__name__', '?')!r}"
    return f"{type(value).__name__} {value!r:.40}"
