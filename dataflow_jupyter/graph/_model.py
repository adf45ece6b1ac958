"""The ``.dfgraph.json`` document as pydantic models, and reading it (shape checks only).

Private: ``dataflow_jupyter.graph`` re-exports the public names and documents the format.
Every failure here becomes a ``GraphValidationError`` whose problems name the node or edge
(by id when it has one, else by index) and the key, with what was expected and what came.
"""

from __future__ import annotations

import json
import string
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from dataflow_jupyter.types import parse_semver

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "EXTENSION",
    "ID_PATTERN",
    "MAX_EDGES",
    "MAX_EXPRESSION",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_SETTINGS_DEPTH",
    "EdgeBuffer",
    "GraphConfig",
    "GraphEdge",
    "GraphMetadata",
    "GraphNode",
    "GraphSchema",
    "GraphValidationError",
    "Position",
    "StateStorage",
    "check_size",
    "kind_of",
    "listing",
    "make_model",
    "parse_json",
    "shape_problems",
    "size_problems",
]

EXTENSION: Final = ".dfgraph.json"
ID_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
MAX_NODES: Final = 10_000
MAX_EDGES: Final = 50_000
MAX_FILE_BYTES: Final = 64 << 20
MAX_EXPRESSION: Final = 10_000
MAX_SETTINGS_DEPTH: Final = 100  # lists and objects inside a node's settings
_PORT_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_ID_START: Final = frozenset(string.ascii_letters + "_")
_ID_CHARS: Final = _ID_START | frozenset(string.digits + "-")
_M = TypeVar("_M", bound=BaseModel)


def _identifier(value: str) -> str:
    if not (0 < len(value) <= 64 and value[0] in _ID_START and set(value) <= _ID_CHARS):
        msg = (
            f"{value!r:.80} is not a valid id; an id starts with a letter or '_' and holds "
            "up to 64 letters, digits, '_' or '-', such as 'n1' or 'price_filter'"
        )
        raise ValueError(msg)
    return value


def _port_name(value: str) -> str:
    if not value.isidentifier() or not value.isascii() or len(value) > 64:
        msg = f"{value!r:.80} is not a port name; port names are identifiers such as 'in' or 'out'"
        raise ValueError(msg)
    return value


def _semver(value: str) -> str:
    parse_semver(value)
    return value


def _epoch_ms(value: Any) -> Any:
    """``createdAt`` as a number (epoch milliseconds, as the seed's GraphSchema types it):
    the ISO 8601 UTC text it is kept and written back as; other values are left to check."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    try:
        when = datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        msg = f"{value!r:.40} is not a time in milliseconds since 1970-01-01 (UTC)"
        raise ValueError(msg) from None
    return when.isoformat(timespec="milliseconds")


def _timestamp(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        msg = f"{value!r:.80} is not an ISO 8601 date-time such as '2026-11-25T12:00:00+00:00'"
        raise ValueError(msg) from None
    return value


def _depth(value: Any, limit: int) -> int:
    """How deeply lists and dicts nest in ``value``, counting no further than ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth)
            if depth <= limit:
                children = item.values() if isinstance(item, dict) else item
                stack.extend((child, depth + 1) for child in children)
    return deepest


def _json_value(value: Any) -> Any:
    """A deep copy of ``value`` through JSON: refuses what JSON cannot hold (NaN, objects).

    Also refuses nesting past ``MAX_SETTINGS_DEPTH``, which could be checked but never saved
    nor shown (serialisers stop near 255 levels).
    """
    if _depth(value, MAX_SETTINGS_DEPTH) > MAX_SETTINGS_DEPTH:
        msg = (
            f"nest lists and objects at most {MAX_SETTINGS_DEPTH} levels deep; these go deeper. "
            "Flatten the value, or keep it in a file the node reads"
        )
        raise ValueError(msg)
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        msg = (
            f"must hold JSON values only (strings, numbers, booleans, null, lists, objects): {exc}"
        )
        raise ValueError(msg) from None


Id = Annotated[
    StrictStr,
    AfterValidator(_identifier),
    WithJsonSchema({"type": "string", "pattern": ID_PATTERN}),
]
PortName = Annotated[
    StrictStr,
    AfterValidator(_port_name),
    WithJsonSchema({"type": "string", "pattern": _PORT_PATTERN}),
]
SemVerText = Annotated[
    StrictStr,
    AfterValidator(_semver),
    WithJsonSchema({"type": "string", "description": "semantic version MAJOR.MINOR.PATCH"}),
]
Expression = Annotated[StrictStr, Field(max_length=MAX_EXPRESSION)]
Coordinate = Annotated[StrictFloat, Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Position(_Model):
    """Where a node sits on the canvas."""

    x: Coordinate = 0.0
    y: Coordinate = 0.0


class EdgeBuffer(_Model):
    """An edge's bounded channel: capacity in packets and what happens when it is full."""

    size: StrictInt = Field(default=64, ge=1, le=1_000_000)
    overflow: Literal["block", "drop_oldest", "drop_newest"] = "block"


class StateStorage(_Model):
    """Where stateful nodes keep their state: memory, a file path or a Redis URL."""

    type: Literal["memory", "file", "redis"] = "memory"
    path: StrictStr | None = None
    url: StrictStr | None = None
    prefix: StrictStr | None = None

    @model_validator(mode="after")
    def _options_fit_type(self) -> StateStorage:
        if self.path is not None and self.type != "file":
            msg = f"'path' is for file storage, but the storage type is {self.type!r}"
            raise ValueError(msg)
        if self.url is not None and self.type != "redis":
            msg = f"'url' is for redis storage, but the storage type is {self.type!r}"
            raise ValueError(msg)
        return self


class GraphConfig(_Model):
    """How the runtime runs the graph."""

    max_concurrency: StrictInt = Field(default=16, ge=1, le=10_000, alias="maxConcurrency")
    state_storage: StateStorage = Field(default_factory=StateStorage, alias="stateStorage")

    @field_validator("state_storage", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


class GraphMetadata(_Model):
    """Who wrote the graph, when, and what it is for."""

    author: Annotated[StrictStr, Field(max_length=200)] = ""
    created_at: (
        Annotated[
            StrictStr,
            BeforeValidator(_epoch_ms),
            AfterValidator(_timestamp),
            WithJsonSchema(
                {
                    "anyOf": [
                        {"type": "string", "format": "date-time"},
                        {"type": "number", "description": "milliseconds since 1970 (UTC)"},
                    ],
                    "description": "ISO 8601, or epoch milliseconds (written back as ISO 8601)",
                }
            ),
        ]
        | None
    ) = Field(default=None, alias="createdAt")
    description: Annotated[StrictStr, Field(max_length=10_000)] = ""
    tags: tuple[Annotated[StrictStr, Field(min_length=1, max_length=64)], ...] = Field(
        default=(), max_length=64
    )


class GraphNode(_Model):
    """One node instance: a node type in an exact version, its settings and position."""

    id: Id
    type_id: Annotated[StrictStr, Field(min_length=1, max_length=128)] = Field(alias="typeId")
    version: SemVerText
    settings: dict[StrictStr, Any] = Field(default_factory=dict)
    position: Position = Field(default_factory=Position)

    _copy_settings = field_validator("settings")(_json_value)

    def describe(self) -> str:
        """``'id' (typeId version)``, as messages name the node."""
        return f"node {self.id!r} ({self.type_id} {self.version})"


class GraphEdge(_Model):
    """One edge: from an output port to an input port, with optional wire expressions."""

    id: Id
    source: Id
    source_port: PortName = Field(alias="sourcePort")
    target: Id
    target_port: PortName = Field(alias="targetPort")
    transform: Expression | None = None
    filter: Expression | None = None
    buffer: EdgeBuffer | None = None

    def describe(self) -> str:
        """``'source.port -> target.port'``."""
        return f"{self.source}.{self.source_port} -> {self.target}.{self.target_port}"


class GraphSchema(_Model):
    """The ``.dfgraph.json`` document (shape only; ``Graph.validate`` checks meaning)."""

    schema_uri: StrictStr | None = Field(default=None, alias="$schema")
    id: Id
    version: SemVerText
    metadata: GraphMetadata = Field(default_factory=GraphMetadata)
    config: GraphConfig = Field(default_factory=GraphConfig)
    nodes: tuple[GraphNode, ...] = Field(default=(), max_length=MAX_NODES)
    edges: tuple[GraphEdge, ...] = Field(default=(), max_length=MAX_EDGES)


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
