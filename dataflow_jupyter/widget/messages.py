"""Reading the front end's messages: checked against ``protocol``'s TypedDicts, never trusted.

``parse_message(content)`` returns the message (typed as one of ``FRONTEND_MESSAGES``) or
raises ``MalformedMessage`` saying what is wrong: not an object, no ``type``, an unknown
type, a missing field, or a field of the wrong type. The checks are derived from the
TypedDict annotations, so a field added to ``protocol.py`` is checked without code here.
Fields that may be ``null`` may also be left out (they read as ``None``); integers are never
booleans; ``offset`` and ``limit`` may not be negative.
"""

from __future__ import annotations

import types
import typing
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from dataflow_jupyter.widget.protocol import FRONTEND_MESSAGES

__all__ = ["MalformedMessage", "parse_message"]

_NON_NEGATIVE = frozenset({"offset", "limit"})


class MalformedMessage(ValueError):  # noqa: N818 - reads as what it is: a message
    """A message from the front end that does not fit the protocol."""


@cache
def _fields(message_type: type) -> dict[str, Any]:
    return typing.get_type_hints(message_type)


def parse_message(content: Any) -> dict[str, Any]:
    """The message ``content`` after checking it against its protocol TypedDict."""
    if not isinstance(content, dict):
        msg = f"a message is a JSON object with a 'type'; got {type(content).__name__}"
        raise MalformedMessage(msg)
    kind = content.get("type")
    if not isinstance(kind, str) or kind not in FRONTEND_MESSAGES:
        known = ", ".join(FRONTEND_MESSAGES)
        msg = f"unknown message type {kind!r:.60}; the front end sends {known}"
        raise MalformedMessage(msg)
    message: dict[str, Any] = {}
    for name, annotation in _fields(FRONTEND_MESSAGES[kind]).items():
        if name not in content:
            if _allows_none(annotation):
                message[name] = None
                continue
            msg = f"message {kind!r} has no field {name!r}"
            raise MalformedMessage(msg)
        value = content[name]
        if not _fits(value, annotation):
            msg = f"message {kind!r}: field {name!r} is {value!r:.60}, not {_describe(annotation)}"
            raise MalformedMessage(msg)
        if name in _NON_NEGATIVE and isinstance(value, int) and value < 0:
            msg = f"message {kind!r}: field {name!r} may not be negative; got {value}"
            raise MalformedMessage(msg)
        message[name] = value
    return message


def _allows_none(annotation: Any) -> bool:
    return _is_union(annotation) and type(None) in get_args(annotation)


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _fits(value: Any, annotation: Any) -> bool:
    origin = get_origin(annotation)
    if annotation is Any:
        return True
    if annotation is type(None):
        return value is None
    if origin is Literal:
        return value in get_args(annotation)
    if _is_union(annotation):
        return any(_fits(value, option) for option in get_args(annotation))
    if origin is not None:
        return isinstance(value, origin)  # dict[str, Any], list[str]: the container only
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return False


def _describe(annotation: Any) -> str:
    if _is_union(annotation):
        return " or ".join(_describe(option) for option in get_args(annotation))
    if annotation is type(None):
        return "null"
    origin = get_origin(annotation)
    if origin is Literal:
        return " or ".join(repr(v) for v in get_args(annotation))
    return getattr(origin or annotation, "__name__", str(annotation))
