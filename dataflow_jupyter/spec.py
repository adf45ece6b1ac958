"""NodeSpec: the pydantic model of a node folder's ``schema.json``.

```json
{
  "id": "http-request", "version": "1.0.0",
  "compatibility": {"minRuntime": "0.1.0"},
  "category": "Network", "name": "HTTP Request", "description": "...",
  "ui": {"color": "#3b82f6", "icon": "globe", "resizable": false},
  "execution": {"timeoutMs": 30000, "retry": 3, "recoverable": true},
  "ports": {"inputs": [{"name": "trigger", "type": "signal", "required": true}],
            "outputs": [{"name": "response", "type": "object"}]},
  "settings": [{"name": "method", "type": "enum", "label": "Method",
                "options": ["GET", "POST"], "default": "GET"}]
}
```

Optional execution fields beyond the seed: ``fire`` (``all`` | ``any``), ``offload``
(``auto``, the default: measurement decides | ``thread`` | ``none`` | ``cluster``: its
firings run on the executor's cluster, such as ``DaskExecutor``; see
``runtime._placement``), ``parallelism`` (how many firings of a pure node on the cluster
may be in flight at once; 1, the default, fires one at a time), ``distributable`` and
``retryBackoffMs``. A graph may override ``offload`` and ``parallelism`` per node instance
(its node's ``execution`` key): ``NodeSpec.with_execution`` applies such an override.
Unknown keys are refused, so a typo never goes unnoticed. ``NodeSpec.validate_settings``
checks and defaults a node instance's settings; ``node_spec_json_schema()`` is the JSON
Schema shipped in the package.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import re
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from dataflow_jupyter import coderef
from dataflow_jupyter.ports import PortSchema, PortType, arrow_type, parse_semver

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_PARALLELISM",
    "OVERRIDABLE_EXECUTION",
    "CompatibilitySpec",
    "ExecutionSpec",
    "NodeSpec",
    "Offload",
    "PortSpec",
    "PortsSpec",
    "SettingSpec",
    "SettingsError",
    "UISpec",
    "format_validation_error",
    "node_spec_json_schema",
]

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
KebabId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]
SemVerStr = Annotated[str, StringConstraints(max_length=64)]
Offload = Literal["auto", "thread", "none", "cluster"]
MAX_PARALLELISM: Final = 1024
# The execution keys a graph may set per node instance (``GraphNode.execution``).
OVERRIDABLE_EXECUTION: Final = ("offload", "parallelism")
SettingType = Literal[
    "string", "number", "integer", "boolean", "enum", "expression", "json", "code-ref"
]

_MAX_EXPRESSION: Final = 10_000
# The shape of a reference: code (calls, spaces, operators) is refused before any rule.
_CODE_REF_SHAPE: Final = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_][\w.]*)?$")


def _check_semver(value: str) -> str:
    parse_semver(value)
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class UISpec(_Model):
    """How the node looks on the canvas."""

    color: Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")] = "#64748b"
    icon: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "box"
    resizable: bool = False


class ExecutionSpec(_Model):
    """How the runtime fires the node."""

    timeout_ms: int | None = Field(default=None, alias="timeoutMs", gt=0, le=86_400_000)
    retry: int = Field(default=0, ge=0, le=100)
    recoverable: bool = False
    retry_backoff_ms: int = Field(default=100, alias="retryBackoffMs", ge=0, le=3_600_000)
    fire: Literal["all", "any"] = "all"
    offload: Offload = "auto"
    parallelism: int = Field(default=1, ge=1, le=MAX_PARALLELISM)
    distributable: bool = False


class PortSpec(_Model):
    """One input or output port."""

    name: Identifier
    type: PortType = PortType.ANY
    required: bool = True
    description: str = ""
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    columns: dict[str, str] | None = None
    schema_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        default=None, alias="schemaId"
    )
    schema_version: SemVerStr | None = Field(default=None, alias="schemaVersion")

    _semver = field_validator("schema_version")(lambda v: v if v is None else _check_semver(v))

    @field_validator("columns")
    @classmethod
    def _arrow_columns(cls, columns: dict[str, str] | None) -> dict[str, str] | None:
        for type_name in (columns or {}).values():
            arrow_type(type_name)
        return columns

    @model_validator(mode="after")
    def _narrowing_fits_type(self) -> PortSpec:
        if self.columns is not None and self.type is not PortType.TABLE:
            msg = f"'columns' narrows a table port, but port {self.name!r} is {self.type.value}"
            raise ValueError(msg)
        if self.json_schema is not None and self.type is not PortType.OBJECT:
            msg = f"'schema' narrows an object port, but port {self.name!r} is {self.type.value}"
            raise ValueError(msg)
        if self.schema_version is not None and self.schema_id is None:
            msg = f"port {self.name!r} has a schemaVersion but no schemaId"
            raise ValueError(msg)
        return self

    def port_schema(self) -> PortSchema:
        """The ``PortSchema`` used for connection and value checks."""
        return PortSchema(
            type=self.type,
            json_schema=self.json_schema,
            columns=self.columns,
            schema_id=self.schema_id,
            schema_version=self.schema_version,
        )


class PortsSpec(_Model):
    """The node's input and output ports; names are unique on each side."""

    inputs: list[PortSpec] = Field(default_factory=list, max_length=64)
    outputs: list[PortSpec] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _unique_names(self) -> PortsSpec:
        for side, ports in (("inputs", self.inputs), ("outputs", self.outputs)):
            seen: set[str] = set()
            for port in ports:
                if port.name in seen:
                    msg = f"duplicate port name {port.name!r} in {side}"
                    raise ValueError(msg)
                seen.add(port.name)
        return self


class SettingSpec(_Model):
    """One setting of the node, shown as a field in the settings form."""

    name: Identifier
    type: SettingType
    label: str = ""
    description: str = ""
    options: list[Any] | None = None
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SettingSpec:
        if self.type == "enum" and not self.options:
            msg = f"enum setting {self.name!r} needs a non-empty 'options' list"
            raise ValueError(msg)
        if self.type != "enum" and self.options is not None:
            msg = f"'options' is for enum settings, but {self.name!r} is {self.type}"
            raise ValueError(msg)
        if self.default is not None:
            problem = _setting_value_problem(self, self.default)
            if problem:
                msg = f"default of setting {self.name!r}: {problem}"
                raise ValueError(msg)
        return self


class CompatibilitySpec(_Model):
    """Which runtime the node needs."""

    min_runtime: SemVerStr = Field(default="0.0.0", alias="minRuntime")

    _semver = field_validator("min_runtime")(_check_semver)


class NodeSpec(_Model):
    """A node type: the content of one ``schema.json``."""

    id: KebabId
    version: SemVerStr
    compatibility: CompatibilitySpec = Field(default_factory=CompatibilitySpec)
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    description: str = ""
    ui: UISpec = Field(default_factory=UISpec)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    ports: PortsSpec = Field(default_factory=PortsSpec)
    settings: list[SettingSpec] = Field(default_factory=list, max_length=128)

    _semver = field_validator("version")(_check_semver)

    @model_validator(mode="after")
    def _unique_settings(self) -> NodeSpec:
        seen: set[str] = set()
        for setting in self.settings:
            if setting.name in seen:
                msg = f"duplicate setting name {setting.name!r}"
                raise ValueError(msg)
            seen.add(setting.name)
        return self

    @property
    def key(self) -> tuple[str, str]:
        """``(id, version)``: how the registry knows this spec."""
        return (self.id, self.version)

    def input(self, name: str) -> PortSpec | None:
        """The input port called ``name``, if any."""
        return next((p for p in self.ports.inputs if p.name == name), None)

    def output(self, name: str) -> PortSpec | None:
        """The output port called ``name``, if any."""
        return next((p for p in self.ports.outputs if p.name == name), None)

    def with_execution(self, override: Mapping[str, Any] | BaseModel | None) -> NodeSpec:
        """This spec with a node instance's ``execution`` override applied.

        ``override`` is a graph node's ``execution`` (a ``NodeExecution``, or ``None``) or a
        plain mapping such as ``{"offload": "cluster", "parallelism": 4}``; its keys that
        are ``None`` are left as the node type declares them. The same object comes back
        when nothing changes; an override the spec refuses (``parallelism: 0``, an unknown
        key) raises ``ValueError``.
        """
        given = override.model_dump() if isinstance(override, BaseModel) else override or {}
        changes = {key: value for key, value in given.items() if value is not None}
        unknown = sorted(set(changes) - set(OVERRIDABLE_EXECUTION))
        if unknown:
            msg = (
                f"{self.id} {self.version}: unknown execution key {unknown[0]!r}; a node "
                "instance may override offload and parallelism"
            )
            raise ValueError(msg)
        current = self.execution.model_dump(by_alias=True)
        merged = {**current, **changes}
        if merged == current:
            return self
        try:
            execution = ExecutionSpec.model_validate(merged)
        except ValidationError as exc:
            msg = f"{self.id} {self.version}: execution override " + "; ".join(
                format_validation_error(exc)
            )
            raise ValueError(msg) from None
        return self.model_copy(update={"execution": execution})

    def setting_problems(self, settings: Any) -> list[str]:
        """Every problem with a node instance's settings (unknown, missing, mistyped)."""
        if not isinstance(settings, dict):
            return [f"settings must be an object; got {type(settings).__name__}"]
        known = {s.name: s for s in self.settings}
        problems = [
            f"unknown setting {name!r}; {self.id} {self.version} has "
            + (", ".join(sorted(known)) or "no settings")
            for name in settings
            if name not in known
        ]
        for setting in self.settings:
            if setting.name not in settings or settings[setting.name] is None:
                if setting.required and setting.default is None:
                    problems.append(f"setting {setting.name!r} is required")
                continue
            problem = _setting_value_problem(setting, settings[setting.name])
            if problem:
                problems.append(f"setting {setting.name!r}: {problem}")
        return problems

    def validate_settings(self, settings: dict[str, Any] | None = None) -> dict[str, Any]:
        """The settings with defaults filled in; raise ``SettingsError`` listing every problem."""
        given = {} if settings is None else settings
        problems = self.setting_problems(given)
        if problems:
            raise SettingsError(self.id, self.version, problems)
        resolved = {s.name: copy.deepcopy(s.default) for s in self.settings}
        resolved.update({k: v for k, v in given.items() if v is not None})
        return resolved

    def to_json(self) -> dict[str, Any]:
        """The spec as ``schema.json`` content (camelCase keys, defaults included)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SettingsError(ValueError):
    """A node instance's settings do not fit its spec."""

    def __init__(self, type_id: str, version: str, problems: list[str]) -> None:
        self.type_id = type_id
        self.version = version
        self.problems = problems
        super().__init__(f"settings of {type_id} {version}: " + "; ".join(problems))


def _setting_value_problem(setting: SettingSpec, value: Any) -> str | None:
    kind = setting.type
    if kind in ("string", "expression", "code-ref"):
        if not isinstance(value, str):
            return f"expects a string; got {type(value).__name__} {value!r:.60}"
        if kind == "expression":
            return _expression_problem(value)
        if kind == "code-ref":
            return _code_ref_problem(value)
        return None
    if kind in ("number", "integer"):
        wanted = int if kind == "integer" else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            return f"expects {'an integer' if kind == 'integer' else 'a number'}; got {value!r:.60}"
        if not math.isfinite(value):
            return f"expects a finite number; got {value!r}"
        if setting.minimum is not None and value < setting.minimum:
            return f"must be at least {setting.minimum}; got {value!r}"
        if setting.maximum is not None and value > setting.maximum:
            return f"must be at most {setting.maximum}; got {value!r}"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"expects true or false; got {value!r:.60}"
    if kind == "enum":
        options = setting.options or []
        return None if value in options else f"expects one of {options}; got {value!r:.60}"
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"expects a JSON value; {exc}"
    return None


def _code_ref_problem(value: str) -> str | None:
    """The rules of ``dataflow_jupyter.coderef``, with this process's allow-list and notebook
    namespace, so validating a graph refuses what running it would."""
    if not _CODE_REF_SHAPE.match(value):
        return f"expects 'module:function' or a name; got {value!r:.60}"
    return coderef.reference_problem(value)


def _expression_problem(text: str) -> str | None:
    if len(text) > _MAX_EXPRESSION:
        return f"expression is {len(text)} characters long; the limit is {_MAX_EXPRESSION}"
    try:
        ast.parse(text, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        return f"expression {text!r:.60} is not valid: {exc.msg}{where}"
    except (RecursionError, MemoryError):
        return f"expression {text!r:.60} is nested too deeply to read"
    return None


def format_validation_error(error: ValidationError) -> list[str]:
    """One line per pydantic error: the dotted path of the bad field and what is wrong."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(document)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return lines


def node_spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``schema.json`` (shipped as ``schemas/node.schema.json``)."""
    schema = NodeSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dataflow-jupyter node schema.json"
    return schema
