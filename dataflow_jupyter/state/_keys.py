"""State keys: safe relative paths that can never leave their namespace or folder."""

from __future__ import annotations

__all__ = ["StateKeyError", "check_key"]


class StateKeyError(ValueError):
    """A state key that is empty, absolute, or would leave its namespace or folder."""


def check_key(key: str) -> str:
    """``key`` when it is a safe relative path of non-empty segments; else ``StateKeyError``."""
    if not isinstance(key, str) or not key:
        msg = f"state key must be a non-empty string; got {key!r}"
        raise StateKeyError(msg)
    if "\x00" in key or "\\" in key:
        msg = f"state key {key!r} contains a NUL byte or a backslash"
        raise StateKeyError(msg)
    if key.startswith("/"):
        msg = f"state key {key!r} is absolute; keys are relative paths such as 'window/items'"
        raise StateKeyError(msg)
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        msg = f"state key {key!r} has an empty, '.' or '..' segment; keys cannot leave their folder"
        raise StateKeyError(msg)
    return key
