"""Reading and writing ``.dfgraph.json`` documents, and saying what is wrong with one.

- *text*: ``parse_json`` reads JSON text or UTF-8 bytes (duplicate keys, NaN, bad bytes and
  syntax errors become problems with line and column); ``format_json`` writes the saved form
  (two-space indent, UTF-8 as is, a final newline: ``Graph.save`` is byte-exact).
- *files*: ``read_file`` reads a regular file only, at most ``MAX_FILE_BYTES``; ``write_file``
  replaces the file atomically.
- *problems*: ``GraphValidationError`` carries every problem found; ``make_model`` and
  ``shape_problems`` turn pydantic's errors into lines that name the node or edge (by id
  when it has one, else by index) and the key, with what was expected and what came;
  ``check_size`` guards ``MAX_NODES`` and ``MAX_EDGES``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from dataflow_jupyter.dataroot import FileTooLargeError, read_limited
from dataflow_jupyter.graph._model import (
    MAX_EDGES,
    MAX_NODES,
    EdgeBuffer,
    GraphConfig,
    GraphEdge,
    GraphMetadata,
    GraphNode,
    GraphSchema,
    NodeExecution,
    Position,
    StateStorage,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "MAX_FILE_BYTES",
    "GraphValidationError",
    "check_size",
    "format_json",
    "graph_json_schema",
    "kind_of",
    "listing",
    "make_model",
    "parse_json",
    "read_file",
    "shape_problems",
    "size_problems",
    "well_formed_nodes",
    "write_file",
]

MAX_FILE_BYTES: Final = 64 << 20
_M = TypeVar("_M", bound=BaseModel)


class GraphValidationError(ValueError):
    """A graph document is malformed or does not fit the installed node types.

    ``problems`` lists every problem found; the message shows them (the first 50).
    """

    def __init__(self, problems: Sequence[str], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = "invalid graph" + (f" {source}" if source else "")
        count = len(self.problems)
        lines = [f"{head}: {count} problem{'' if count == 1 else 's'}"]
        lines += [f"  - {problem}" for problem in self.problems[:50]]
        if count > 50:
            lines.append(f"  ... and {count - 50} more (see .problems)")
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore_error, (self.problems, self.source))


def _restore_error(problems: list[str], source: str | None) -> GraphValidationError:
    return GraphValidationError(problems, source=source)


def make_model(model: type[_M], data: Mapping[str, Any], where: str = "graph") -> _M:
    """``model`` from ``data``, or a ``GraphValidationError`` whose problems name ``where``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        root = next((path for path, known in _MODELS.items() if known is model), ())
        raise GraphValidationError(shape_problems(exc, data, owner=where, root=root)) from None


def check_size(nodes: int, edges: int, source: str | None = None) -> None:
    problems = size_problems(nodes, edges)
    if problems:
        raise GraphValidationError(problems, source=source)


def size_problems(nodes: int, edges: int) -> list[str]:
    problems = []
    hint = "split it into several graphs"
    if nodes > MAX_NODES:
        problems.append(f"the graph has {nodes} nodes; the limit is {MAX_NODES}: {hint}")
    if edges > MAX_EDGES:
        problems.append(f"the graph has {edges} edges; the limit is {MAX_EDGES}: {hint}")
    return problems


class _JSONProblemError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON (numbers must be finite)"
    raise _JSONProblemError(msg)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        key = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        msg = f"duplicate key {key!r} in one JSON object; keep only one"
        raise _JSONProblemError(msg)
    return result


def parse_json(data: str | bytes, source: str | None) -> Any:
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            msg = (
                f"the document is not UTF-8: byte 0x{data[exc.start]:02x} at line {line} "
                f"column {column} ({exc.reason}); save the file as UTF-8"
            )
            raise GraphValidationError([msg], source=source) from None
    else:
        text = data
    text = text.removeprefix("\ufeff")
    if not text.strip():
        msg = (
            'the document is empty; expected a JSON object such as {"id": "g", "version": "1.0.0"}'
        )
        raise GraphValidationError([msg], source=source)
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except _JSONProblemError as exc:
        raise GraphValidationError([str(exc)], source=source) from None
    except json.JSONDecodeError as exc:
        msg = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise GraphValidationError([msg], source=source) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        msg = f"not valid JSON: {exc}"
        raise GraphValidationError([msg], source=source) from None
    except (RecursionError, MemoryError):
        msg = "the JSON is nested too deeply to read; a graph document is a few levels deep"
        raise GraphValidationError([msg], source=source) from None


_MODELS: Final[dict[tuple[str, ...], type[BaseModel]]] = {
    (): GraphSchema,
    ("metadata",): GraphMetadata,
    ("config",): GraphConfig,
    ("config", "stateStorage"): StateStorage,
    ("nodes",): GraphNode,
    ("nodes", "position"): Position,
    ("nodes", "execution"): NodeExecution,
    ("edges",): GraphEdge,
    ("edges", "buffer"): EdgeBuffer,
}


def _keys(model: type[BaseModel]) -> str:
    return ", ".join(field.alias or name for name, field in model.model_fields.items())


def kind_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"an object with {len(value)} key{'' if len(value) == 1 else 's'}"
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def shape_problems(
    error: ValidationError, data: Any, *, owner: str = "graph", root: tuple[str, ...] = ()
) -> list[str]:
    """One line per pydantic error, naming the node or edge (by id when it has one).

    ``root`` is where the validated model sits in a document (``("edges",)`` for an edge).
    """
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        rest = loc
        if not root and len(loc) >= 2 and loc[0] in ("nodes", "edges") and isinstance(loc[1], int):
            owner, rest = f"{loc[0]}[{loc[1]}]", loc[2:]
            entry = _at(data, loc[:2])
            if isinstance(entry, Mapping) and isinstance(entry.get("id"), str):
                owner = f"{'node' if loc[0] == 'nodes' else 'edge'} {entry['id']!r:.70} ({owner})"
        field = ".".join(str(part) for part in rest)
        kind, message = item["type"], item["msg"].removeprefix("Value error, ")
        if kind == "missing":
            problems.append(f"{owner}: required key {field!r} is missing")
        elif kind == "extra_forbidden":
            path = tuple(str(p) for p in (*root, *loc[:-1]) if not isinstance(p, int))
            model = _MODELS.get(path)
            allowed = f"; allowed keys: {_keys(model)}" if model else ""
            problems.append(f"{owner}: unknown key {str(loc[-1])!r:.70}{allowed}")
        elif kind == "value_error":
            problems.append(f"{owner}{f' {field!r}' if field else ''}: {message}")
        else:
            got = kind_of(item.get("input"))
            problems.append(f"{owner}{f' {field!r}' if field else ''}: {message}; got {got}")
    return problems


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list | tuple) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def listing(ids: Mapping[str, int] | Sequence[str], limit: int = 12) -> str:
    names = list(ids)
    shown = ", ".join(names[:limit]) or "none"
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def format_json(document: Mapping[str, Any]) -> str:
    """The document as the pretty-printed JSON text ``Graph.save`` writes."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def read_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a graph file; a problem reading it raises ``GraphValidationError``.

    Only a regular file is read (a FIFO or device is refused before it is opened), and at
    most ``MAX_FILE_BYTES``.
    """
    source = str(path)
    try:
        return read_limited(path, MAX_FILE_BYTES)
    except FileTooLargeError as exc:
        msg = f"the file holds more than {MAX_FILE_BYTES >> 20} MiB, the limit"
        raise GraphValidationError([msg], source=source) from exc
    except OSError as exc:
        msg = f"cannot read the graph file: {exc.strerror or exc}"
        raise GraphValidationError([msg], source=source) from exc


def write_file(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8, atomically replaced); return the path."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)
    return target


def well_formed_nodes(nodes: Any) -> list[GraphNode]:
    """The entries of a document's ``nodes`` that are node descriptions on their own."""
    found = []
    for entry in nodes if isinstance(nodes, list | tuple) else ():
        try:
            found.append(GraphNode.model_validate(entry))
        except (ValidationError, RecursionError, MemoryError):
            continue
    return found


def graph_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``.dfgraph.json`` documents (for editors and other tools)."""
    schema = GraphSchema.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dataflow-jupyter graph (.dfgraph.json)"
    return schema
