"""The ``.dfgraph.json`` document as frozen pydantic models: its shape and its limits.

Models only: reading text and files, and turning pydantic's errors into problems that name
the node or edge, is ``_document``'s work. Each model forbids unknown keys; validators here
raise ``ValueError`` with the message a problem line shows (what was expected, what came).
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from dataflow_jupyter.ports import parse_semver
from dataflow_jupyter.spec import MAX_PARALLELISM, Offload

__all__ = [
    "EXTENSION",
    "ID_PATTERN",
    "MAX_EDGES",
    "MAX_EXPRESSION",
    "MAX_NODES",
    "MAX_SETTINGS_DEPTH",
    "EdgeBuffer",
    "GraphConfig",
    "GraphEdge",
    "GraphMetadata",
    "GraphNode",
    "GraphSchema",
    "NodeExecution",
    "Position",
    "StateStorage",
]

EXTENSION: Final = ".dfgraph.json"
ID_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
MAX_NODES: Final = 10_000
MAX_EDGES: Final = 50_000
MAX_EXPRESSION: Final = 10_000
MAX_SETTINGS_DEPTH: Final = 100  # lists and objects inside a node's settings
_PORT_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_ID_START: Final = frozenset(string.ascii_letters + "_")
_ID_CHARS: Final = _ID_START | frozenset(string.digits + "-")


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
ExpressionText = Annotated[StrictStr, Field(max_length=MAX_EXPRESSION)]
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


class NodeExecution(_Model):
    """A node instance's override of its type's ``execution``: where its firings run
    (``offload``) and how many may be in flight at once on the cluster (``parallelism``).
    A key left ``None`` keeps what the node type declares (``NodeSpec.with_execution``)."""

    offload: Offload | None = None
    parallelism: StrictInt | None = Field(default=None, ge=1, le=MAX_PARALLELISM)

    def overrides(self) -> dict[str, Any]:
        """The keys set, as ``NodeSpec.with_execution`` takes them."""
        return self.model_dump(exclude_none=True)


class GraphNode(_Model):
    """One node instance: a node type in an exact version, its settings and position, and
    optionally how it runs (``execution``: left out of the document when unset; an empty
    override is read as unset)."""

    id: Id
    type_id: Annotated[StrictStr, Field(min_length=1, max_length=128)] = Field(alias="typeId")
    version: SemVerText
    settings: dict[StrictStr, Any] = Field(default_factory=dict)
    position: Position = Field(default_factory=Position)
    execution: NodeExecution | None = None

    _copy_settings = field_validator("settings")(_json_value)

    @field_validator("execution")
    @classmethod
    def _empty_is_unset(cls, value: NodeExecution | None) -> NodeExecution | None:
        return None if value is not None and not value.overrides() else value

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
    transform: ExpressionText | None = None
    filter: ExpressionText | None = None
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
