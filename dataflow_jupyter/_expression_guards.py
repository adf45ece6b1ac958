"""The guards of safe expressions: what an evaluation may build (memory) and do (CPU).

Private to ``dataflow_jupyter.expressions``, which documents the language; this module is
the meter. ``expressions`` rewrites a checked tree so that every operation whose cost is
not a small constant calls one of the guards below, and ``Expression.evaluate`` calls
``start()`` before each evaluation. A guard charges first and works after, so nothing big
is built and no long loop runs before the budget says no.

Two budgets per evaluation (thread-local, so worker threads evaluate independently):

``build`` (``MAX_BUILD`` units)
    about one item of a container or one character of text that the evaluation makes:
    repetition (counted deeply), concatenation, ``join``/``replace``/padding, slices, ``*``
    and ``**`` unpacking, ``list``/``tuple``/``set``/``dict``/``sorted`` and ``range``
    lengths, text from ``str()`` and f-strings, new strings from string methods. A million
    units is at most about 50 MB (a set of fresh integers, the worst case measured).
``steps`` (``MAX_STEPS`` units)
    about 20-40 ns of work each: one item drawn by a safe function, one comparison of a
    sort, one item scanned by ``in``/``count``/``index`` or compared by ``==``, 16
    characters scanned by a string method, ``KEY_CALL_STEPS`` per ``key=`` call, a
    product of 64-bit words of big-integer arithmetic. Two million steps take about 50 to
    100 ms, the longest an evaluation may hold the event loop.

Exceeding either raises ``BudgetRefusal``; ``expressions`` turns it into
``ExpressionBudgetError`` (``ErrorCode.EXPRESSION_BUDGET``). Other refusals (a method on a
type that has none allowed) raise ``Refusal`` and become ``EvaluationError``.

Methods run from one table keyed by the receiver's exact kind (``str``, ``bytes``, ``list``,
``tuple``, ``dict``, ``int``, ``float``, ``bool``; subclasses use their base's function, so
no override runs). Nothing else has methods here: pandas, NumPy or Arrow objects that a
user's own node put in a value cannot be asked to ``replace(..., regex=True)`` (regular
expressions backtrack without bound, and ``re`` cannot be interrupted) or to change in
place. ``str.replace`` is literal. ``key=`` takes only a safe function.
"""

from __future__ import annotations

import math
import operator
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter.packets import DataPacket

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

MAX_BUILD: Final = 500_000
MAX_STEPS: Final = 1_000_000
MAX_INT_BITS: Final = 100_000
CHARS_PER_STEP: Final = 32
METERED_ITEM_STEPS: Final = 4  # an item drawn through a Python generator (a lazy iterable)
BUILT_ITEM_STEPS: Final = 2  # an item put into a new container
CONTAINER_STEPS: Final = 30  # a nested container visited while measuring or comparing
KEY_CALL_STEPS: Final = 40  # a key= call of a safe function written in Python
_MAX_ROUND_DIGITS: Final = 1_000
_METER_STEP: Final = 256
# Work below this many steps is not charged: the text has no loops (every node of it runs at
# most once per evaluation), so what goes uncharged is at most SMALL times the text's size.
SMALL: Final = 32
_SMALL_TEXT: Final = SMALL * CHARS_PER_STEP
_SIZED: Final = frozenset({list, tuple, dict, set, frozenset, str, bytes})
_SCANNED: Final = frozenset({list, tuple})
_WORD_BITS: Final = 64
_WORDS_PER_STEP: Final = 16

_local = threading.local()
LOCAL: Final = _local  # expressions fills the budgets with no call (the hot path)
_SEQUENCES: Final = (str, bytes, list, tuple)
_TEXT: Final = (str, bytes)
_SCALARS: Final = frozenset({int, float, bool, type(None)})


class Refusal(Exception):  # noqa: N818 - internal: a guard refused, wrapped as EvaluationError
    """Raised by a guard; ``Expression.evaluate`` turns it into an ``EvaluationError``."""


class BudgetRefusal(Refusal):
    """A budget ran out; ``Expression.evaluate`` turns it into an ``ExpressionBudgetError``."""


def start() -> None:
    """Fill both budgets: called once before each evaluation."""
    _local.build = MAX_BUILD
    _local.steps = MAX_STEPS


def left() -> tuple[int, int]:
    """What is left of ``(build, steps)`` in this thread's evaluation."""
    return _local.build, _local.steps


def charge(units: int, what: str) -> None:
    """Charge ``units`` to the build budget (memory)."""
    budget: int = _local.build
    if units > budget:
        built = f"{units:,} items or characters"
        if units > MAX_BUILD:
            msg = f"{what} would build about {built}; an evaluation may build {MAX_BUILD:,}"
        else:
            msg = (
                f"{what} would build about {built}, more than the {budget:,} left of the "
                f"{MAX_BUILD:,} an evaluation may build"
            )
        raise BudgetRefusal(msg)
    _local.build = budget - units


def work(units: int, what: str) -> None:
    """Charge ``units`` to the steps budget (CPU)."""
    budget: int = _local.steps
    if units > budget:
        if units > MAX_STEPS:
            msg = f"{what} would take about {units:,} steps; an evaluation may take {MAX_STEPS:,}"
        else:
            msg = (
                f"{what} would take about {units:,} steps, more than the {budget:,} left of the "
                f"{MAX_STEPS:,} an evaluation may take"
            )
        raise BudgetRefusal(msg)
    _local.steps = budget - units


def spend(steps: int, units: int, what: str) -> None:
    """Charge ``steps`` (CPU) and ``units`` (memory) at once."""
    if units:
        charge(units, what)
    work(steps, what)


def _both(units: int, what: str) -> None:
    spend(units, units, what)


_NUMBERS: Final = frozenset({bool, float, type(None)})
_CONTAINERS: Final = (list, tuple, set, frozenset, dict)


def _flat(values: Any, kinds: set[type]) -> int | None:
    """The repr size of ``values`` when they are all scalars or all text (measured in C), else
    ``None``."""
    if kinds <= _NUMBERS:
        return 24 * len(values)
    if kinds == {int}:
        return sum(map(int.bit_length, values)) // 3 + 2 * len(values)
    if kinds in ({str}, {bytes}):
        return sum(map(len, values)) + 4 * len(values)
    return None


def _measure(obj: Any, cap: int, *, text_weight: int, container_weight: int) -> int:
    """Walk ``obj`` (iteratively; a flat run of scalars or strings is measured in C), adding
    ``len`` of each container plus ``container_weight``, ``len(text) // text_weight`` for text
    and 1 for anything else; stop as soon as the total exceeds ``cap``."""
    total = 0
    visited = 0  # containers: walking them is work, charged in groups as it happens
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, _TEXT):
            total += len(item) // text_weight + 1
        elif isinstance(item, _CONTAINERS):
            visited += 1
            if visited == _METER_STEP:
                work(visited * CONTAINER_STEPS, "measuring nested containers")
                visited = 0
            values = item.values() if isinstance(item, dict) else item
            total += container_weight + len(values)
            if isinstance(item, dict):
                total += len(item)
            kinds = set(map(type, values))
            flat = _flat(values, kinds)
            if flat is not None:
                total += flat // text_weight
            elif kinds.isdisjoint(_SCALARS):
                stack.extend(values)
            else:
                stack.extend(value for value in values if type(value) not in _SCALARS)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 // text_weight + 1
        else:
            try:  # a range, a dict view, ...: as many as it holds
                total += max(len(item), 1)
            except (TypeError, OverflowError):
                total += 1
        if total > cap:
            return total
    return total


def size(obj: Any, cap: int) -> int:
    """About how many characters ``repr(obj)`` has, counting shared parts each time; stops as
    soon as the count exceeds ``cap``."""
    return _measure(obj, cap, text_weight=1, container_weight=2)


def _nodes(obj: Any, cap: int) -> int:
    """About how many steps a deep comparison of ``obj`` may take (1 for a scalar)."""
    kind = type(obj)
    if kind in _SCALARS:
        return 1
    if kind is str or kind is bytes:
        return len(obj) // CHARS_PER_STEP + 1
    return _measure(obj, cap, text_weight=CHARS_PER_STEP, container_weight=CONTAINER_STEPS)


# --- numbers ---------------------------------------------------------------------------------


def _check_bits(bits: float, what: str) -> None:
    if bits > MAX_INT_BITS:
        msg = (
            f"{what} would make an integer of about {bits:,.0f} bits; the limit is "
            f"{MAX_INT_BITS:,} bits"
        )
        raise BudgetRefusal(msg)


def _big_int_work(a: int, b: int, what: str) -> None:
    """Arithmetic on two big integers costs about the product of their sizes in words."""
    words = (a.bit_length() // _WORD_BITS) * (b.bit_length() // _WORD_BITS)
    if words >= _WORDS_PER_STEP:
        work(words // _WORDS_PER_STEP, what)


def _repeat(seq: Any, times: int) -> None:
    if times <= 0 or not seq:
        return
    each = len(seq) if isinstance(seq, _TEXT) else size(seq, _local.build // times + 1)
    kind = type(seq).__name__
    charge(each * times, f"{times:,} repetitions of a {kind} of length {len(seq):,}")
    work(each * times // CHARS_PER_STEP, "repeating")


def mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        _check_bits(a.bit_length() + b.bit_length(), "multiplying")
        _big_int_work(a, b, "multiplying")
    elif isinstance(b, int) and isinstance(a, _SEQUENCES):
        _repeat(a, b)
    elif isinstance(a, int) and isinstance(b, _SEQUENCES):
        _repeat(b, a)
    return a * b


def add(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _both(len(a) + len(b), "concatenating")
    return a + b


def power(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        bits = b * math.log2(abs(a))
        _check_bits(bits, f"raising to the power {b:,}")
        words = int(bits) // _WORD_BITS
        work(words * words // _WORDS_PER_STEP, f"raising to the power {b:,}")
    return a**b


def lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a:
        _check_bits(a.bit_length() + b, f"shifting left by {b:,}")
    return a << b


def mod(a: Any, b: Any) -> Any:
    if isinstance(a, _TEXT):
        msg = "'%' formatting of strings is not allowed (its widths are unbounded); use an f-string"
        raise Refusal(msg)
    if isinstance(a, int) and isinstance(b, int):
        _big_int_work(a, b, "'%' of big integers")
    return a % b


def _set_work(a: Any, b: Any, what: str) -> None:
    if type(a) in _SCALARS or type(b) in _SCALARS:
        return
    try:
        count = len(a) + len(b)
    except (TypeError, OverflowError):
        return
    if count > SMALL:
        spend(count * BUILT_ITEM_STEPS, count, what)


def sub(a: Any, b: Any) -> Any:
    _set_work(a, b, "'-' of sets")
    return a - b


def bit_or(a: Any, b: Any) -> Any:
    _set_work(a, b, "'|'")
    return a | b


def bit_and(a: Any, b: Any) -> Any:
    _set_work(a, b, "'&'")
    return a & b


def bit_xor(a: Any, b: Any) -> Any:
    _set_work(a, b, "'^'")
    return a ^ b


def floordiv(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        _big_int_work(a, b, "'//' of big integers")
    return a // b


def _int_text_work(bits: int, what: str) -> None:
    words = bits // _WORD_BITS
    if words > _WORDS_PER_STEP:
        work(words * words // _WORDS_PER_STEP, what)


# --- text --------------------------------------------------------------------------------------


def formatted(obj: Any) -> Any:
    """An f-string field: charge the text it will produce, return the object unchanged."""
    kind = type(obj)
    if kind is str:
        if len(obj) > _SMALL_TEXT:
            spend(len(obj) // CHARS_PER_STEP, len(obj), "formatting a value as text")
    elif kind is int:
        _int_text_work(obj.bit_length(), "formatting a big integer")
    elif kind not in _SCALARS:
        _both(size(obj, _local.build + 1), "formatting a value as text")
    return obj


def to_str(obj: Any = "") -> str:
    if type(obj) is str:
        return obj
    if isinstance(obj, int) and not isinstance(obj, bool):
        _int_text_work(obj.bit_length(), "str() of a big integer")
        return str(obj)
    if isinstance(obj, float) or obj is None or isinstance(obj, bool):
        return str(obj)
    _both(size(obj, _local.build + 1), "str()")
    return str(obj)


def to_int(*args: Any, **kwargs: Any) -> int:
    if args and isinstance(args[0], _TEXT):
        _int_text_work(len(args[0]) * 4, "int() of a long text")
    number = int(*args, **kwargs)
    _check_bits(number.bit_length(), "int()")
    return number


def to_float(*args: Any) -> float:
    if args and isinstance(args[0], _TEXT):
        work(len(args[0]) // CHARS_PER_STEP, "float() of a long text")
    return float(*args)


_SMALL_INT: Final = 1 << 63


def _small_ints(args: tuple[Any, ...], what: str) -> None:
    """``range`` and ``enumerate`` make a new integer per item: keep them machine-sized."""
    for number in args:
        if isinstance(number, int) and not -_SMALL_INT <= number < _SMALL_INT:
            bits = number.bit_length()
            msg = f"{what} counts with integers of at most 64 bits; got one of {bits:,}"
            raise BudgetRefusal(msg)


def _enumerate(iterable: Iterable[Any], start: Any = 0) -> enumerate[Any]:
    _small_ints((start,), "enumerate()")
    return enumerate(iterable, start)


def make_range(*args: Any) -> range:
    _small_ints(args, "range()")
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:  # more than sys.maxsize numbers
        length = sys.maxsize
    if length > MAX_BUILD:  # nothing could draw that many: whoever draws from it is charged
        msg = f"range() of {length:,} numbers: an evaluation may draw at most {MAX_BUILD:,} items"
        raise BudgetRefusal(msg)
    return numbers


def rounded(number: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(number)
    if isinstance(ndigits, int) and abs(ndigits) > _MAX_ROUND_DIGITS:
        msg = f"round() to {ndigits:,} digits; the limit is {_MAX_ROUND_DIGITS:,}"
        raise BudgetRefusal(msg)
    return round(number, ndigits)


# --- iteration ---------------------------------------------------------------------------------


def metered(
    iterable: Iterable[Any],
    what: str,
    *,
    builds: bool = False,
    each: int = METERED_ITEM_STEPS,
    compares: bool = False,
) -> Iterator[Any]:
    """``iterable``, charging ``each`` steps per item drawn (and a build unit when ``builds``).

    Charged in groups of 256 as they are drawn. Every safe function that walks an iterable
    walks it through this, so scanning and building are bounded whatever the iterable (a
    range, a dict view, a zip of many of them).
    """
    count = 0
    for item in iterable:
        if compares and type(item) not in _SCALARS:  # max/min/sorted compare it: deep cost
            work(_nodes(item, _local.steps + 1), what)
        count += 1
        if count == _METER_STEP:
            work(count * each, what)
            if builds:
                charge(count, what)
            count = 0
        yield item
    if count:
        work(count * each, what)
        if builds:
            charge(count, what)


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
    if type(iterable) in _SIZED:
        count = len(iterable)
        steps = count * ((BUILT_ITEM_STEPS if builds else 1) + key)
        if compares and count > 1 and type(iterable) in _SCANNED:
            steps += _nodes(iterable, _local.steps + 1)
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
        each = _nodes(items, _local.steps + 1) // count + 1  # a comparison's deep cost
        work(count * count.bit_length() * each // 2, f"sorting {count:,} items")
    return sorted(items, key=key, reverse=reverse)


def zipped(*iterables: Iterable[Any], **kwargs: Any) -> Iterator[tuple[Any, ...]]:
    return zip(*(metered(it, "zip()") for it in iterables), **kwargs)  # noqa: B905 - kwargs has strict=


def star(iterable: Any) -> Any:
    """``*iterable`` in a display or a call: it is built into a list, tuple, set or arguments."""
    try:
        count = len(iterable)
    except (TypeError, OverflowError):
        return metered(iterable, "unpacking with '*'", builds=True)
    if count > SMALL:
        spend(count * BUILT_ITEM_STEPS, count, "unpacking with '*'")
    return iterable


def double_star(mapping: Any) -> Any:
    """``**mapping`` in a dict display or a call."""
    try:
        count = len(mapping)
    except (TypeError, OverflowError):
        return mapping  # not a mapping: unpacking it raises TypeError
    if count > SMALL:
        _both(count, "unpacking with '**'")
    return mapping


def sliced(obj: Any, lower: Any, upper: Any, step: Any) -> Any:
    part = slice(lower, upper, step)
    if isinstance(obj, _SEQUENCES):
        count = len(range(*part.indices(len(obj))))
        if count > SMALL:
            _both(count, "slicing")
    return obj[part]


SAFE_FUNCTIONS: Final[Mapping[str, Any]] = {
    "abs": abs,
    "all": walking(all, "all", builds=False),
    "any": walking(any, "any", builds=False),
    "bool": bool,
    "dict": walking(dict, "dict", builds=True),
    "enumerate": walking(_enumerate, "enumerate", builds=False),
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


# --- comparisons ----------------------------------------------------------------------------


def _compare_work(a: Any, b: Any, what: str) -> None:
    if type(a) in _SCALARS or type(b) in _SCALARS:
        return
    cap = _local.steps + 1
    nodes = min(_nodes(a, cap), _nodes(b, cap))
    if nodes > SMALL:
        work(nodes, what)


def _contains_work(item: Any, container: Any) -> None:
    kind = type(container)
    if kind is str or kind is bytes:
        if len(container) > _SMALL_TEXT:
            length = len(item) if isinstance(item, _TEXT) else 0
            work((len(container) + length) // CHARS_PER_STEP, "'in' on text")
    elif isinstance(container, dict | set | frozenset):
        if not isinstance(item, str):  # a str caches its hash; a tuple hashes every item
            _compare_work(item, item, "hashing for 'in'")
    elif isinstance(container, range) and type(item) is int:
        return
    else:
        try:
            count = len(container)
        except (TypeError, OverflowError):
            return  # e.g. an iterator: drawing from it is not metered, but it is bounded
        if count > SMALL:
            each = 1 if type(item) in _SCALARS else _nodes(item, _local.steps)
            work(count * each, "'in'")


_HASH_CHEAP: Final = frozenset({str, int, float, bool, type(None)})
_LOOKUP: Final = frozenset({dict, set, frozenset})


def _cheap_in(a: Any, b: Any) -> bool:
    kind = type(b)
    if kind in _LOOKUP:
        return type(a) in _HASH_CHEAP
    return kind in _SCANNED and len(b) <= SMALL and type(a) in _HASH_CHEAP


def _is_in(a: Any, b: Any) -> bool:
    if not _cheap_in(a, b):
        _contains_work(a, b)
    return a in b


def _not_in(a: Any, b: Any) -> bool:
    if not _cheap_in(a, b):
        _contains_work(a, b)
    return a not in b


def _ordered(function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def compare(a: Any, b: Any) -> Any:
        _compare_work(a, b, "comparing")
        return function(a, b)

    return compare


COMPARISONS: Final[tuple[Callable[[Any, Any], Any], ...]] = (
    _ordered(operator.eq),
    _ordered(operator.ne),
    _ordered(operator.lt),
    _ordered(operator.le),
    _ordered(operator.gt),
    _ordered(operator.ge),
    operator.is_,
    operator.is_not,
    _is_in,
    _not_in,
)


def chain(codes: tuple[int, ...], *operands: Any) -> Any:
    """``a < b < c``: every operand evaluated once (eagerly), pairs compared until one fails."""
    result: Any = True
    for index, code in enumerate(codes):
        result = COMPARISONS[code](operands[index], operands[index + 1])
        if not result:
            return result
    return result


# --- methods and attributes ---------------------------------------------------------------

PACKET_ATTRIBUTES: Final = frozenset(
    {"trace_id", "packet_id", "origin_node", "timestamp", "schema_version", "parents"}
)


def attribute(obj: Any, name: str) -> Any:
    """``obj.name`` read (not called): only a packet's metadata."""
    if isinstance(obj, DataPacket) and name in PACKET_ATTRIBUTES:
        return getattr(obj, name)
    msg = (
        f"attribute {name!r} of a {type(obj).__name__} cannot be read: an expression reads "
        "only the packet's metadata (packet.trace_id, ...) and calls methods of str, list, "
        "tuple and dict values"
    )
    raise Refusal(msg)


def _text_scan(obj: Any, args: tuple[Any, ...]) -> None:
    del args  # a longer argument than the text ends the scan early
    if len(obj) > _SMALL_TEXT:
        work(len(obj) // CHARS_PER_STEP, "a string method")


def _text_new(obj: Any, args: tuple[Any, ...]) -> None:
    del args
    if len(obj) > _SMALL_TEXT:
        spend(len(obj) // CHARS_PER_STEP, len(obj), "a string method")


def _text_split(obj: Any, args: tuple[Any, ...]) -> None:
    del args
    if len(obj) > _SMALL_TEXT // 2:
        spend(len(obj) // CHARS_PER_STEP, 2 * len(obj), "splitting")


def _sequence_scan(obj: Any, args: tuple[Any, ...]) -> None:
    if len(obj) > SMALL:
        each = 1 if not args or type(args[0]) in _SCALARS else _nodes(args[0], _local.steps)
        work(len(obj) * each, "count()/index()")


def _join(obj: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(args) != 1:
        return args
    items = list(_drawn(args[0], "join()", builds=True))
    length = sum(len(item) for item in items if isinstance(item, _TEXT))
    _both(length + len(obj) * max(len(items) - 1, 0), "join()")
    return (items,)


def _replacement_length(text: str | bytes, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(old, _TEXT) or not isinstance(new, _TEXT) or not isinstance(count, int):
        return len(text)  # the call itself raises TypeError
    found = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]
    if count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _replace(obj: Any, args: tuple[Any, ...]) -> None:
    if 2 <= len(args) <= 3:  # old, new and an optional count
        length = _replacement_length(obj, *args)
        if length > _SMALL_TEXT:
            spend(length // CHARS_PER_STEP, length, "replace()")


def _padding(obj: Any, args: tuple[Any, ...]) -> None:
    if args and isinstance(args[0], int) and args[0] > _SMALL_TEXT:
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
