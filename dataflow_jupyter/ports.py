"""Port types: what a port accepts, when two ports may be connected, and value checks.

A port has one of ten ``PortType``s and may narrow it: an ``object`` port with a JSON Schema
(``"schema": {...}``), a ``table`` port with Arrow column types (``"columns": {"price":
"float64"}``). A narrowed port may name its schema and version (``schemaId``,
``schemaVersion``); packets leaving it carry that ``schema_version``.

Connection rules (``connection_problems``), from source port to target port:

- a target of type ``any`` or ``signal`` accepts every source (a signal is a trigger: any
  packet fires it); a source of type ``any`` may feed every target (checked at run time);
- otherwise the types must be equal;
- a ``table`` target's columns must exist in the source's declared columns with the same
  Arrow type (a source that declares no columns is checked at run time);
- an ``object`` target's required properties must be declared by a source that has a
  schema, with the same JSON type where both name one;
- when both ports name a schema, the ids must be equal and the major versions too (semver:
  a minor bump stays compatible).

Value checks (``value_problem``) return a message naming node, port, expected and got, or
``None`` when the value fits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from numbers import Real
from typing import Any, Final

import pyarrow as pa

from dataflow_jupyter.packets import BinaryRef, DataPacket, ErrorCode, ErrorPacket, RemoteTable

__all__ = [
    "PortSchema",
    "PortType",
    "SemVer",
    "arrow_type",
    "connection_problems",
    "input_table",
    "parse_semver",
    "value_problem",
]


class PortType(StrEnum):
    """The ten port types."""

    ANY = "any"
    SIGNAL = "signal"
    OBJECT = "object"
    NUMBER = "number"
    STRING = "string"
    BOOLEAN = "boolean"
    ARRAY = "array"
    TABLE = "table"
    BINARY = "binary"
    ERROR_PACKET = "error_packet"


_SEMVER: Final = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@dataclass(frozen=True, slots=True, order=True)
class SemVer:
    """A parsed semantic version. Ordering ignores build metadata; a pre-release sorts first."""

    major: int
    minor: int
    patch: int
    release_rank: int = field(default=1)  # 0 for a pre-release, 1 for a release
    prerelease: str = ""

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.prerelease}" if self.prerelease else core


@cache
def parse_semver(text: str) -> SemVer:
    """Parse ``MAJOR.MINOR.PATCH[-pre][+build]``; raise ``ValueError`` naming the text."""
    match = _SEMVER.fullmatch(text) if isinstance(text, str) else None  # "1.0.0\n" too
    if match is None:
        msg = f"{text!r} is not a semantic version; expected MAJOR.MINOR.PATCH such as '1.0.0'"
        raise ValueError(msg)
    major, minor, patch, pre, _build = match.groups()
    return SemVer(int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


@cache
def arrow_type(name: str) -> pa.DataType:
    """The Arrow type for an alias such as ``float64``, ``string`` or ``timestamp[ns]``."""
    try:
        return pa.type_for_alias(name)
    except (ValueError, KeyError, TypeError) as exc:
        msg = (
            f"{name!r} is not an Arrow type name; use an alias such as 'int64', 'float64', "
            "'string', 'bool' or 'timestamp[ns]'"
        )
        raise ValueError(msg) from exc


@dataclass(frozen=True, slots=True)
class PortSchema:
    """What one port accepts: a type, optionally narrowed, optionally named and versioned."""

    type: PortType = PortType.ANY
    json_schema: Mapping[str, Any] | None = None
    columns: Mapping[str, str] | None = None
    schema_id: str | None = None
    schema_version: str | None = None

    def describe(self) -> str:
        """A short human description, used in error messages."""
        text = self.type.value
        if self.columns:
            text += " with columns " + ", ".join(f"{k}: {v}" for k, v in self.columns.items())
        if self.schema_id:
            text += f" ({self.schema_id} {self.schema_version or ''})".rstrip()
        return text


_JSON_TYPE_OF_PORT: Final = {
    PortType.NUMBER: "number",
    PortType.STRING: "string",
    PortType.BOOLEAN: "boolean",
    PortType.ARRAY: "array",
    PortType.OBJECT: "object",
}


def connection_problems(source: PortSchema, target: PortSchema) -> list[str]:
    """Why ``source`` may not feed ``target``; an empty list when the connection is allowed."""
    problems: list[str] = []
    if target.type in (PortType.ANY, PortType.SIGNAL) or source.type is PortType.ANY:
        pass
    elif source.type is not target.type:
        problems.append(
            f"{_article(source.type)} {source.type.value} output cannot feed "
            f"{_article(target.type)} {target.type.value} input"
        )
        return problems
    elif target.type is PortType.TABLE:
        problems.extend(_column_problems(source, target))
    elif target.type is PortType.OBJECT:
        problems.extend(_object_schema_problems(source, target))
    problems.extend(_version_problems(source, target))
    return problems


def _article(port_type: PortType) -> str:
    return "an" if port_type.value[0] in "aeiou" else "a"


def _column_problems(source: PortSchema, target: PortSchema) -> list[str]:
    if not target.columns or source.columns is None:
        return []
    problems = []
    for name, wanted in target.columns.items():
        have = source.columns.get(name)
        if have is None:
            problems.append(f"the input needs column {name!r} ({wanted}), which the output lacks")
        elif arrow_type(have) != arrow_type(wanted):
            problems.append(f"column {name!r} is {have} at the output but {wanted} at the input")
    return problems


def _object_schema_problems(source: PortSchema, target: PortSchema) -> list[str]:
    if not target.json_schema or not source.json_schema:
        return []
    source_props: Mapping[str, Any] = source.json_schema.get("properties", {}) or {}
    target_props: Mapping[str, Any] = target.json_schema.get("properties", {}) or {}
    problems = []
    for name in target.json_schema.get("required", []) or []:
        if name not in source_props:
            problems.append(f"the input requires property {name!r}, which the output lacks")
    for name, wanted in target_props.items():
        have = source_props.get(name)
        if isinstance(have, Mapping) and isinstance(wanted, Mapping):
            have_type, wanted_type = have.get("type"), wanted.get("type")
            if have_type and wanted_type and have_type != wanted_type:
                problems.append(
                    f"property {name!r} is {have_type} at the output but {wanted_type} at the input"
                )
    return problems


def _version_problems(source: PortSchema, target: PortSchema) -> list[str]:
    if not (source.schema_id and target.schema_id):
        return []
    if source.schema_id != target.schema_id:
        return [f"schema {source.schema_id!r} cannot feed schema {target.schema_id!r}"]
    if source.schema_version and target.schema_version:
        have = parse_semver(source.schema_version)
        wanted = parse_semver(target.schema_version)
        if have.major != wanted.major:
            return [
                f"schema {source.schema_id!r} {source.schema_version} cannot feed "
                f"{target.schema_version}: major versions differ"
            ]
    return []


def value_problem(schema: PortSchema, value: Any, *, node_id: str, port: str) -> str | None:
    """Why ``value`` does not fit the port, as a message; ``None`` when it fits.

    ``value`` may be a ``DataPacket`` (its binary value is checked when it has one).
    """
    if isinstance(value, DataPacket):
        value = value.payload
    reason = _mismatch(schema, value)
    if reason is None:
        return None
    return f"node {node_id!r} port {port!r} expects {schema.describe()}; got {reason}"


def _got(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _mismatch(schema: PortSchema, value: Any) -> str | None:
    kind = schema.type
    if kind in (PortType.ANY, PortType.SIGNAL):
        return None
    if kind is PortType.NUMBER:
        ok = isinstance(value, Real) and not isinstance(value, bool)
        return None if ok else _got(value) + ". Convert it with float(...)"
    if kind is PortType.STRING:
        return None if isinstance(value, str) else _got(value) + ". Convert it with str(...)"
    if kind is PortType.BOOLEAN:
        return None if isinstance(value, bool) else _got(value)
    if kind is PortType.ARRAY:
        return None if isinstance(value, list | tuple) else _got(value)
    if kind is PortType.BINARY:
        ok = isinstance(value, bytes | bytearray | memoryview | pa.Buffer | BinaryRef)
        return None if ok else _got(value)
    if kind is PortType.ERROR_PACKET:
        return None if isinstance(value, ErrorPacket) else _got(value)
    if kind is PortType.TABLE:
        return _table_mismatch(schema, value)
    return _object_mismatch(schema, value)


def _table_mismatch(schema: PortSchema, value: Any) -> str | None:
    if isinstance(value, BinaryRef):
        return None  # not read here: reading would defeat the reference
    if not isinstance(value, pa.Table | pa.RecordBatch | RemoteTable):  # remote: its schema
        return _got(value) + ". Convert it with pa.table(...) or change the port type"
    if not schema.columns:
        return None
    missing = []
    for name, wanted in schema.columns.items():
        if name not in value.schema.names:
            missing.append(f"no column {name!r}")
            continue
        have = value.schema.field(name).type
        if have != arrow_type(wanted):
            missing.append(f"column {name!r} of type {have}")
    return f"a table with {', '.join(missing)}" if missing else None


def _object_mismatch(schema: PortSchema, value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return _got(value)
    if not schema.json_schema:
        return None
    import jsonschema  # noqa: PLC0415 - only ports narrowed by a JSON Schema pay for it

    validator = _validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(value)))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"an object that fails its schema at {where}: {error.message}"


@lru_cache(maxsize=256)
def _validator_for(schema_json: str) -> Any:
    import jsonschema  # noqa: PLC0415

    return jsonschema.Draft202012Validator(json.loads(schema_json))


def _validator(schema: PortSchema) -> Any:
    return _validator_for(json.dumps(schema.json_schema, sort_keys=True, default=str))


def input_table(
    packet: DataPacket, *, where: str, port: str, columns: Iterable[str] = ()
) -> pa.Table | ErrorPacket:
    """The packet's payload as a table having ``columns``, or the ErrorPacket saying why not.

    For table nodes: ``where`` names the node in the message (``"aggregate (node 'n3')"``).
    """
    table = packet.table()
    if table is None:
        got = type(packet.payload).__name__
        msg = (
            f"{where} port {port!r} expects an Arrow table; got {got}. Send a pa.Table (e.g. "
            "from read-file) or a list of row dicts"
        )
        return ErrorPacket(ErrorCode.TYPE_MISMATCH, msg)
    missing = [name for name in columns if name not in table.column_names]
    if missing:
        msg = (
            f"{where}: the table has no column {missing[0]!r}; its columns: "
            f"{', '.join(table.column_names) or 'none'}"
        )
        return ErrorPacket(ErrorCode.VALIDATION, msg)
    return table
