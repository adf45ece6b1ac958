"""Guards of calls: the safe functions (walking iterables, ``key=``) and the methods.

Methods run from one table keyed by the receiver's exact kind (``str``, ``bytes``,
``list``, ``tuple``, ``dict``, ``int``, ``float``; a subclass uses its base's function, so
no override runs). Nothing else has methods here: pandas, NumPy or Arrow objects that a
user's own node put in a value cannot be asked to ``replace(..., regex=True)`` or to change
in place. Attributes that are read, not called, are the packet's metadata only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter._expr import budget as _b
from dataflow_jupyter._expr.budget import (
    BUILT_ITEM_STEPS,
    CHARS_PER_STEP,
    KEY_CALL_STEPS,
    METERED_ITEM_STEPS,
    SCALARS,
    SCANNED,
    SIZED,
    SMALL,
    SMALL_TEXT,
    TEXT,
    Refusal,
    deep_cost,
    metered,
    spend,
    spend_both,
    work,
)
from dataflow_jupyter._expr.operators import (
    enumerate_,
    make_range,
    rounded,
    to_float,
    to_int,
    to_str,
)
from dataflow_jupyter._expr.tables import TableView
from dataflow_jupyter.packets import DataPacket

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

# --- iteration ---------------------------------------------------------------------------------


def total(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    if isinstance(start, bool) or not isinstance(start, int | float):
        msg = f"sum() adds numbers only; start must be a number, got {type(start).__name__}"
        raise Refusal(msg)
    return sum(_drawn(iterable, "sum()", builds=False), start)


def _checked_key(key: Any, name: str) -> Any:
    """``key`` when it is a safe function (its own guards charge its work), else refused."""
    if key is not None and key not in _SAFE_SET:
        msg = (
            f"{name}() key= must be one of the safe functions (such as len, abs, str); got "
            f"{type(key).__name__}"
        )
        raise Refusal(msg)
    return key


def _drawn(iterable: Any, what: str, *, builds: bool, key: int = 0, compares: bool = False) -> Any:
    """``iterable`` charged for being walked (plus ``key`` steps per item): at once when its
    size is known, else per item as it is drawn. ``compares``: its items will be compared
    with each other (max, min, sorted), which costs as much as their deep size."""
    if type(iterable) in SIZED:
        count = len(iterable)
        steps = count * ((BUILT_ITEM_STEPS if builds else 1) + key)
        if compares and count > 1 and type(iterable) in SCANNED:
            steps += deep_cost(iterable, _b.LOCAL.steps + 1)
        if steps > SMALL:
            spend(steps, count if builds else 0, what)
        return iterable
    each = METERED_ITEM_STEPS + key
    return metered(iterable, what, builds=builds, each=each, compares=compares)


def walking(function: Callable[..., Any], name: str, *, builds: bool) -> Callable[..., Any]:
    """``function`` with its first argument walked through ``_drawn`` and its key checked."""
    what = f"{name}()"
    compares = function in (max, min)

    def walk(*args: Any, **kwargs: Any) -> Any:
        key = _key_steps(_checked_key(kwargs.get("key"), name))
        if len(args) == 1 or (args and not compares):  # max(a, b) walks nothing
            first = _drawn(args[0], what, builds=builds, key=key, compares=compares)
            args = (first, *args[1:])
        return function(*args, **kwargs)

    walk.__name__ = name
    return walk


def _key_steps(key: Any) -> int:
    if key is None:
        return 0
    return 2 if key in _C_FUNCTIONS else KEY_CALL_STEPS


def sorted_(iterable: Iterable[Any], /, *, key: Any = None, reverse: Any = False) -> list[Any]:
    steps = _key_steps(_checked_key(key, "sorted"))
    items = list(_drawn(iterable, "sorted()", builds=True, key=steps))
    count = len(items)
    if count > SMALL:
        each = deep_cost(items, _b.LOCAL.steps + 1) // count + 1  # a comparison's deep cost
        work(count * count.bit_length() * each // 2, f"sorting {count:,} items")
    return sorted(items, key=key, reverse=reverse)


def zipped(*iterables: Iterable[Any], **kwargs: Any) -> Iterator[tuple[Any, ...]]:
    return zip(*(metered(it, "zip()") for it in iterables), **kwargs)  # noqa: B905 - kwargs has strict=


SAFE_FUNCTIONS: Final[Mapping[str, Any]] = {
    "abs": abs,
    "all": walking(all, "all", builds=False),
    "any": walking(any, "any", builds=False),
    "bool": bool,
    "dict": walking(dict, "dict", builds=True),
    "enumerate": walking(enumerate_, "enumerate", builds=False),
    "float": to_float,
    "int": to_int,
    "len": len,
    "list": walking(list, "list", builds=True),
    "max": walking(max, "max", builds=False),
    "min": walking(min, "min", builds=False),
    "range": make_range,
    "reversed": reversed,
    "round": rounded,
    "set": walking(set, "set", builds=True),
    "sorted": sorted_,
    "str": to_str,
    "sum": total,
    "tuple": walking(tuple, "tuple", builds=True),
    "zip": zipped,
}


_SAFE_SET: Final = frozenset(SAFE_FUNCTIONS.values())
_C_FUNCTIONS: Final = frozenset({abs, bool, len, reversed})  # O(1) and written in C


# --- methods and attributes ---------------------------------------------------------------

PACKET_ATTRIBUTES: Final = frozenset(
    {"trace_id", "packet_id", "origin_node", "timestamp", "schema_version", "parents"}
)


def attribute(obj: Any, name: str) -> Any:
    """``obj.name`` read (not called): a packet's metadata, a table view's columns and rows."""
    if isinstance(obj, DataPacket) and name in PACKET_ATTRIBUTES:
        return getattr(obj, name)
    if isinstance(obj, TableView) and name in TableView.ATTRIBUTES:
        return getattr(obj, name)
    msg = (
        f"attribute {name!r} of a {type(obj).__name__} cannot be read: an expression reads "
        "only the packet's metadata (packet.trace_id, ...), a table's value.columns and "
        "value.num_rows, and calls methods of str, list, tuple and dict values"
    )
    raise Refusal(msg)


def _text_scan(obj: Any, args: tuple[Any, ...]) -> None:
    del args  # a longer argument than the text ends the scan early
    if len(obj) > SMALL_TEXT:
        work(len(obj) // CHARS_PER_STEP, "a string method")


def _text_new(obj: Any, args: tuple[Any, ...]) -> None:
    del args
    if len(obj) > SMALL_TEXT:
        spend(len(obj) // CHARS_PER_STEP, len(obj), "a string method")


def _text_split(obj: Any, args: tuple[Any, ...]) -> None:
    del args
    if len(obj) > SMALL_TEXT // 2:
        spend(len(obj) // CHARS_PER_STEP, 2 * len(obj), "splitting")


def _sequence_scan(obj: Any, args: tuple[Any, ...]) -> None:
    if len(obj) > SMALL:
        each = 1 if not args or type(args[0]) in SCALARS else deep_cost(args[0], _b.LOCAL.steps)
        work(len(obj) * each, "count()/index()")


def _join(obj: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(args) != 1:
        return args
    items = list(_drawn(args[0], "join()", builds=True))
    length = sum(len(item) for item in items if isinstance(item, TEXT))
    spend_both(length + len(obj) * max(len(items) - 1, 0), "join()")
    return (items,)


def _replacement_length(text: str | bytes, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(old, TEXT) or not isinstance(new, TEXT) or not isinstance(count, int):
        return len(text)  # the call itself raises TypeError
    found = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]
    if count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _replace(obj: Any, args: tuple[Any, ...]) -> None:
    if 2 <= len(args) <= 3:  # old, new and an optional count
        length = _replacement_length(obj, *args)
        if length > SMALL_TEXT:
            spend(length // CHARS_PER_STEP, length, "replace()")


def _padding(obj: Any, args: tuple[Any, ...]) -> None:
    if args and isinstance(args[0], int) and args[0] > SMALL_TEXT:
        spend(args[0] // CHARS_PER_STEP, args[0], "padding")


_SCAN_TEXT: Final = (
    *("startswith", "endswith", "find", "rfind", "index", "rindex", "count"),
    *("isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace"),
    *("islower", "isupper", "istitle"),
)
_NEW_TEXT: Final = (
    *("lower", "upper", "casefold", "title", "capitalize", "swapcase"),
    *("strip", "lstrip", "rstrip", "removeprefix", "removesuffix", "partition", "rpartition"),
)


def _text_methods(kind: type) -> dict[str, tuple[Callable[..., Any], Any]]:
    table: dict[str, tuple[Callable[..., Any], Any]] = {}
    costs: list[tuple[tuple[str, ...], Any]] = [
        (_SCAN_TEXT, _text_scan),
        (_NEW_TEXT, _text_new),
        (("split", "rsplit", "splitlines"), _text_split),
        (("join",), _join),
        (("replace",), _replace),
        (("ljust", "rjust", "center", "zfill"), _padding),
    ]
    for names, cost in costs:
        for name in names:
            function = getattr(kind, name, None)
            if function is not None:
                table[name] = (function, cost)
    return table


_Cost = Any  # (receiver, args) -> new args or None; None for O(1) methods


# base type -> method name -> (the base type's function, its cost). Nothing else is callable.
METHODS: Final[Mapping[type, Mapping[str, tuple[Callable[..., Any], _Cost]]]] = {
    str: _text_methods(str),
    bytes: _text_methods(bytes),
    list: {"count": (list.count, _sequence_scan), "index": (list.index, _sequence_scan)},
    tuple: {"count": (tuple.count, _sequence_scan), "index": (tuple.index, _sequence_scan)},
    dict: {name: (getattr(dict, name), None) for name in ("get", "keys", "values", "items")},
    int: {"bit_length": (int.bit_length, None)},
    float: {"is_integer": (float.is_integer, None)},
}
_BASES: Final = (str, bytes, list, tuple, dict, int, float)
_FLAT: Final = {
    (kind, name): found for kind, table in METHODS.items() for name, found in table.items()
}


def _find_method(obj: Any, name: str) -> tuple[Callable[..., Any], _Cost]:
    base = next((kind for kind in _BASES if isinstance(obj, kind)), None)  # e.g. a str subclass
    found = _FLAT.get((base, name)) if base is not None and not isinstance(obj, type) else None
    if found is not None:
        return found
    if isinstance(obj, type):
        msg = f"{name}() may only be called on a value, not on the type {obj.__name__}"
    else:
        msg = (
            f"method {name!r} cannot be called on a {type(obj).__name__}: expressions call "
            "read-only methods of str, bytes, list, tuple and dict values only (a table "
            "belongs in a table node, such as filter-rows)"
        )
    raise Refusal(msg)


def method_guard(name: str) -> Callable[..., Any]:
    """The guard of ``obj.name(...)``: the method of ``METHODS`` for ``obj``'s type, charged
    first (one guard per method name, so a call is one dict lookup by type)."""
    by_type = {kind: table[name] for kind, table in METHODS.items() if name in table}

    def call(obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        found = by_type.get(type(obj))
        function, cost = found if found is not None else _find_method(obj, name)
        if cost is not None:
            changed = cost(obj, args)
            if changed is not None:
                args = changed
        return function(obj, *args, **kwargs)

    call.__name__ = name
    return call


METHOD_NAMES: Final = frozenset(name for table in METHODS.values() for name in table)
METHOD_GUARDS: Final = {name: method_guard(name) for name in METHOD_NAMES}
