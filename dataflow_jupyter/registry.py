"""NodeRegistry: discovery of node packs and version-aware lookup.

A node pack is a folder tree holding node folders; a node folder holds ``schema.json`` and
``node.py``. One folder is one version of one node type; the registry keys node types by
``(id, version)`` and keeps several versions of one id side by side.

Discovery order (``NodeRegistry.default()``):

1. the built-in ``nodes/`` (inside the wheel, or next to the package in a source checkout);
2. the folders in ``DATAFLOW_NODES_PATH`` (``os.pathsep``-separated);
3. ``./nodes`` in the working directory (next to the notebook or where the CLI runs);
4. packages declaring the entry point group ``dataflow_jupyter.nodes``, whose object is a
   folder path, a package (its folder is scanned) or a callable returning path(s).

A folder reached twice is scanned once. Scanning reads ``schema.json`` files only; ``node.py``
is imported on first ``NodeType.load()``. A broken folder (not UTF-8, bad JSON, a schema
violation, ``minRuntime`` above ours, no ``node.py``, a duplicate ``(id, version)``, an import
error) becomes a ``RegistryProblem`` with its path and reason and a ``RegistryWarning``; it
never stops the others from loading. On a duplicate the first one found wins.

``schema.json`` is read as a regular file of at most 1 MiB (a FIFO or a link to a device is
a problem, not a hang; a UTF-8 byte order mark is accepted, as in graph files). Importing a
``node.py`` and loading an entry point go through ``_packcall``: ``sys.exit``, a raised
``KeyboardInterrupt`` or an import past ``import_timeout`` seconds (``None``: no limit; the
CLI sets one) become problems too. An entry point that gives anything but folders is one.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import sys
import threading
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
from pydantic import ValidationError

from dataflow_jupyter._packcall import PackCallError, call_pack_code
from dataflow_jupyter._version import __version__
from dataflow_jupyter.dataroot import FileTooLargeError, read_limited
from dataflow_jupyter.node import DataFlowNode, IONode, PureNode, StatefulNode
from dataflow_jupyter.ports import parse_semver
from dataflow_jupyter.spec import NodeSpec, format_validation_error

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "ENTRY_POINT_GROUP",
    "NODES_PATH_ENV",
    "NodeLoadError",
    "NodeRegistry",
    "NodeType",
    "RegistryProblem",
    "RegistryWarning",
    "UnknownNodeError",
]

ENTRY_POINT_GROUP: Final = "dataflow_jupyter.nodes"
NODES_PATH_ENV: Final = "DATAFLOW_NODES_PATH"
_MAX_SCHEMA_BYTES: Final = 1 << 20
_BASE_CLASSES: Final = frozenset({DataFlowNode, PureNode, StatefulNode, IONode})


class RegistryWarning(UserWarning):
    """A node folder could not be loaded; the registry goes on without it."""


class UnknownNodeError(LookupError):
    """No node type with that id, or not in that version."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NodeLoadError(ImportError):
    """A node folder's ``node.py`` could not be imported or has no single node class."""


@dataclass(frozen=True, slots=True)
class RegistryProblem:
    """A node folder that could not be loaded: where, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class NodeType:
    """One installed ``(id, version)``: its spec now, its class on first ``load()``."""

    __slots__ = (
        "_error",
        "_import_timeout",
        "_lock",
        "_node_class",
        "_on_problem",
        "path",
        "source",
        "spec",
    )

    def __init__(
        self,
        spec: NodeSpec,
        path: Path | None,
        source: str,
        node_class: type[DataFlowNode] | None = None,
        on_problem: Any = None,
        *,
        import_timeout: float | None = None,
    ) -> None:
        self.spec = spec
        self._import_timeout = import_timeout
        self.path = path
        self.source = source
        self._node_class = node_class
        self._on_problem = on_problem
        self._error: NodeLoadError | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<NodeType {self.spec.id} {self.spec.version} from {self.path or self.source}>"

    @property
    def has_class(self) -> bool:
        """Whether a class comes with the spec (``False`` for a spec registered alone)."""
        return self._node_class is not None or self.path is not None

    def load(self) -> type[DataFlowNode]:
        """The node class, importing ``node.py`` the first time; ``NodeLoadError`` if broken."""
        with self._lock:
            if self._error is not None:  # reported once; every later call fails the same way
                raise self._error
            if self._node_class is None:
                try:
                    self._node_class = self._import()
                except NodeLoadError as exc:
                    self._error = exc
                    if self._on_problem is not None and self.path is not None:
                        self._on_problem(self.path, str(exc))
                    raise
            return self._node_class

    def _import(self) -> type[DataFlowNode]:
        if self.path is None:
            msg = f"{self.spec.id} {self.spec.version} was registered without a node class"
            raise NodeLoadError(msg)
        file = self.path / "node.py"
        safe = re.sub(r"\W", "_", f"{self.spec.id}_{self.spec.version}")
        module_name = f"dataflow_jupyter_nodes.{safe}"
        module_spec = importlib.util.spec_from_file_location(module_name, file)
        if module_spec is None or module_spec.loader is None:
            msg = f"cannot import {file}"
            raise NodeLoadError(msg)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        loader = module_spec.loader
        try:  # sys.exit, KeyboardInterrupt or a sleep in node.py: a problem (see _packcall)
            what = f"importing {file}"
            call_pack_code(
                lambda: loader.exec_module(module), what=what, timeout=self._import_timeout
            )
        except PackCallError as exc:
            sys.modules.pop(module_name, None)
            raise NodeLoadError(str(exc)) from exc
        classes = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, DataFlowNode)
            and obj not in _BASE_CLASSES
            and obj.__module__ == module_name
            and not inspect.isabstract(obj)
        ]
        if len(classes) != 1:
            names = ", ".join(sorted(c.__name__ for c in classes)) or "none"
            msg = (
                f"{file} must define exactly one concrete subclass of PureNode, StatefulNode "
                f"or IONode; found {names}"
            )
            raise NodeLoadError(msg)
        node_class = classes[0]
        node_class.spec = self.spec
        return node_class


class NodeRegistry:
    """The installed node types, by ``(id, version)``.

    ``NodeRegistry.default()`` discovers every place listed in the module docstring;
    ``NodeRegistry(paths=[...])`` the built-in nodes and the given folders only.
    """

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]] = (),
        *,
        include_builtin: bool = True,
        include_env: bool = False,
        include_cwd: bool = False,
        include_entry_points: bool = False,
        runtime_version: str = __version__,
        import_timeout: float | None = None,
    ) -> None:
        self.problems: list[RegistryProblem] = []
        # Seconds a node.py import or an entry point may take (None: no limit; the CLI sets one).
        self.import_timeout = import_timeout
        self._types: dict[tuple[str, str], NodeType] = {}
        self._runtime = parse_semver(runtime_version)
        self._runtime_text = runtime_version
        self._scanned: set[Path] = set()
        if include_builtin:
            self.add_path(builtin_nodes_path(), source="builtin")
        if include_env:
            for entry in os.environ.get(NODES_PATH_ENV, "").split(os.pathsep):
                if entry.strip():
                    self.add_path(entry.strip(), source=NODES_PATH_ENV)
        if include_cwd and (Path.cwd() / "nodes").is_dir():
            self.add_path(Path.cwd() / "nodes", source="cwd")
        for path in paths:
            self.add_path(path, source="path")
        if include_entry_points:
            self._add_entry_points()

    @classmethod
    def default(cls, *, import_timeout: float | None = None) -> NodeRegistry:
        """Every node type installed: built-in, environment, ``./nodes``, entry points."""
        return cls(
            include_env=True,
            include_cwd=True,
            include_entry_points=True,
            import_timeout=import_timeout,
        )

    # -- discovery ---------------------------------------------------------------------------

    def add_path(self, path: str | os.PathLike[str], *, source: str = "path") -> None:
        """Scan a node pack (or a single node folder) and register what it holds."""
        root = Path(path).expanduser()
        if not root.is_dir():
            self._problem(root, f"node folder does not exist or is not a folder ({source})")
            return
        resolved = root.resolve()
        if resolved in self._scanned:
            return
        self._scanned.add(resolved)
        schemas = sorted(
            p
            for p in root.rglob("schema.json")
            if not any(part.startswith((".", "__")) for part in p.relative_to(root).parts[:-1])
        )
        for schema_file in schemas:
            self._add_folder(schema_file.parent, source)

    def _add_folder(self, folder: Path, source: str) -> None:
        spec = self._read_spec(folder / "schema.json")
        if spec is None:
            return
        if not (folder / "node.py").is_file():
            self._problem(folder, "no node.py next to schema.json")
            return
        if parse_semver(spec.compatibility.min_runtime) > self._runtime:
            self._problem(
                folder,
                f"{spec.id} {spec.version} needs runtime >= {spec.compatibility.min_runtime}; "
                f"this is dataflow-jupyter {self._runtime_text}. Upgrade the package or use an "
                "older version of the node",
            )
            return
        existing = self._types.get(spec.key)
        if existing is not None:
            self._problem(
                folder,
                f"duplicate node type {spec.id} {spec.version}: already loaded from "
                f"{existing.path}; keeping that one",
            )
            return
        self._types[spec.key] = NodeType(
            spec, folder, source, on_problem=self._problem, import_timeout=self.import_timeout
        )

    def _read_spec(self, file: Path) -> NodeSpec | None:
        folder = file.parent
        try:
            text = read_limited(file, _MAX_SCHEMA_BYTES).decode("utf-8-sig")
        except FileTooLargeError:
            self._problem(folder, "schema.json holds more than 1 MiB; the limit is 1 MiB")
            return None
        except UnicodeDecodeError as exc:
            self._problem(folder, f"schema.json is not UTF-8 (byte {exc.start}): {exc.reason}")
            return None
        except OSError as exc:
            self._problem(folder, f"cannot read schema.json: {exc.strerror or exc}")
            return None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            self._problem(
                folder,
                f"schema.json is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            )
            return None
        except RecursionError:
            self._problem(folder, "schema.json is nested too deeply to read")
            return None
        if not isinstance(document, dict):
            got = type(document).__name__
            self._problem(folder, f"schema.json must hold a JSON object; got {got}")
            return None
        try:
            return NodeSpec.model_validate(document)
        except ValidationError as exc:
            reasons = "; ".join(format_validation_error(exc))
            self._problem(folder, f"schema.json does not fit the node schema: {reasons}")
            return None

    def _add_entry_points(self) -> None:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            where = Path(f"<entry point {entry.name} = {entry.value}>")

            def target_of(entry: Any = entry) -> Any:
                target = entry.load()
                if callable(target) and not isinstance(target, str | os.PathLike):
                    target = target()
                return target

            try:  # a broken plugin (sys.exit included) must not stop the others
                target = call_pack_code(
                    target_of, what="loading the entry point", timeout=self.import_timeout
                )
            except PackCallError as exc:
                self._problem(where, str(exc))
                continue
            paths = _entry_point_paths(target)
            if paths is None:
                self._problem(
                    where,
                    f"the entry point gave {type(target).__name__} {target!r:.80}; expected a "
                    "folder path, a package (module), a list of those, or a function returning "
                    "one",
                )
                continue
            for path in paths:
                self.add_path(path, source=f"entry point {entry.name}")

    def _problem(self, path: Path, reason: str) -> None:
        problem = RegistryProblem(path, reason)
        self.problems.append(problem)
        warnings.warn(str(problem), RegistryWarning, stacklevel=3)

    # -- registration and lookup -------------------------------------------------------------

    def register(self, spec: NodeSpec, node_class: type[DataFlowNode] | None = None) -> NodeType:
        """Register a node type from Python (tests, notebooks); refuses a duplicate."""
        if spec.key in self._types:
            msg = f"{spec.id} {spec.version} is already registered (from {self._types[spec.key]})"
            raise ValueError(msg)
        if node_class is not None:
            bound = node_class.__dict__.get("spec")
            if bound is not None and bound != spec:  # one class for two versions: one each
                node_class = type(node_class.__name__, (node_class,), {"spec": spec})
            node_class.spec = spec
        node_type = NodeType(spec, None, "registered", node_class=node_class)
        self._types[spec.key] = node_type
        return node_type

    def versions(self, type_id: str) -> list[str]:
        """The installed versions of ``type_id``, oldest first; empty if none."""
        found = [version for (tid, version) in self._types if tid == type_id]
        return sorted(found, key=parse_semver)

    def has(self, type_id: str, version: str) -> bool:
        """Whether exactly ``type_id`` ``version`` is installed."""
        return (type_id, version) in self._types

    def get(self, type_id: str, version: str) -> NodeType:
        """The node type ``type_id`` in exactly ``version``; ``UnknownNodeError`` otherwise."""
        node_type = self._types.get((type_id, version))
        if node_type is not None:
            return node_type
        installed = self.versions(type_id)
        if installed:
            msg = (
                f"node type {type_id!r} is not installed in version {version!r}; installed: "
                f"{', '.join(installed)}. Graphs lock exact versions: install {version} or "
                "change the graph's version"
            )
        else:
            msg = f"unknown node type {type_id!r}" + _did_you_mean(type_id, self.ids())
        raise UnknownNodeError(msg)

    def spec(self, type_id: str, version: str) -> NodeSpec:
        """The spec of ``type_id`` in exactly ``version``."""
        return self.get(type_id, version).spec

    def latest(self, type_id: str) -> NodeType:
        """The newest installed version of ``type_id``."""
        installed = self.versions(type_id)
        if not installed:
            msg = f"unknown node type {type_id!r}" + _did_you_mean(type_id, self.ids())
            raise UnknownNodeError(msg)
        return self._types[(type_id, installed[-1])]

    def ids(self) -> list[str]:
        """Every installed node type id, sorted."""
        return sorted({tid for tid, _ in self._types})

    def __contains__(self, key: object) -> bool:
        return key in self._types

    def __iter__(self) -> Iterator[NodeType]:
        return iter(sorted(self._types.values(), key=_catalog_order))

    def __len__(self) -> int:
        return len(self._types)

    def __repr__(self) -> str:
        return f"<NodeRegistry {len(self)} node types, {len(self.problems)} problems>"

    def catalog(self) -> list[NodeSpec]:
        """Every installed spec, by category, name and version."""
        return [node_type.spec for node_type in self]

    def catalog_frame(self) -> pd.DataFrame:
        """The catalog as a DataFrame: one row per ``(id, version)``."""
        rows = [
            {
                "id": t.spec.id,
                "version": t.spec.version,
                "category": t.spec.category,
                "name": t.spec.name,
                "description": t.spec.description,
                "inputs": ", ".join(f"{p.name}: {p.type.value}" for p in t.spec.ports.inputs),
                "outputs": ", ".join(f"{p.name}: {p.type.value}" for p in t.spec.ports.outputs),
                "settings": ", ".join(s.name for s in t.spec.settings),
                "source": t.source,
                "path": str(t.path) if t.path else "",
            }
            for t in self
        ]
        columns = ["id", "version", "category", "name", "description", "inputs", "outputs"]
        return pd.DataFrame(rows, columns=[*columns, "settings", "source", "path"])


def builtin_nodes_path() -> Path:
    """The built-in node pack: inside the wheel, or ``nodes/`` beside the source package."""
    package = Path(__file__).resolve().parent
    shipped = package / "nodes"
    return shipped if shipped.is_dir() else package.parent / "nodes"


def _entry_point_paths(target: Any) -> list[Path] | None:
    """The folders an entry point names; ``None`` when it gave something else (a problem)."""
    if isinstance(target, str | os.PathLike):
        return [Path(target)]
    if inspect.ismodule(target):
        return [Path(p) for p in getattr(target, "__path__", [])] or (
            [Path(target.__file__).parent] if target.__file__ else []
        )
    if isinstance(target, list | tuple):
        found = [_entry_point_paths(item) for item in target]
        if any(paths is None for paths in found):
            return None
        return [path for paths in found if paths is not None for path in paths]
    return None


def _catalog_order(node_type: NodeType) -> tuple[str, str, Any]:
    spec = node_type.spec
    return (spec.category, spec.name, parse_semver(spec.version))


def _did_you_mean(type_id: str, known: list[str]) -> str:
    import difflib  # noqa: PLC0415 - only on the error path

    close = difflib.get_close_matches(type_id, known, n=3)
    if close:
        return f"; did you mean {', '.join(map(repr, close))}?"
    return f"; installed types: {', '.join(known) or 'none'}"
