"""Guards of operators and conversions: numbers, text, unpacking, slices, comparisons.

Each guard charges the budgets of ``budget`` before it does the work (see ``budget`` for
the units). The rewritten tree of ``dataflow_jupyter.expressions`` calls these instead of
the plain operators.
"""

from __future__ import annotations

import math
import operator
import sys
from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter._expr import budget as _b
from dataflow_jupyter._expr.budget import (
    BUILT_ITEM_STEPS,
    CHARS_PER_STEP,
    MAX_BUILD,
    MAX_INT_BITS,
    SCALARS,
    SCANNED,
    SEQUENCES,
    SMALL,
    SMALL_TEXT,
    TEXT,
    WORD_BITS,
    WORDS_PER_STEP,
    BudgetRefusal,
    Refusal,
    charge,
    deep_cost,
    metered,
    size,
    spend,
    spend_both,
    work,
)
from dataflow_jupyter._expr.tables import TableView

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

_MAX_ROUND_DIGITS: Final = 1_000

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
    words = (a.bit_length() // WORD_BITS) * (b.bit_length() // WORD_BITS)
    if words >= WORDS_PER_STEP:
        work(words // WORDS_PER_STEP, what)


def _repeat(seq: Any, times: int) -> None:
    if times <= 0 or not seq:
        return
    each = len(seq) if isinstance(seq, TEXT) else size(seq, _b.LOCAL.build // times + 1)
    kind = type(seq).__name__
    charge(each * times, f"{times:,} repetitions of a {kind} of length {len(seq):,}")
    work(each * times // CHARS_PER_STEP, "repeating")


def mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        _check_bits(a.bit_length() + b.bit_length(), "multiplying")
        _big_int_work(a, b, "multiplying")
    elif isinstance(b, int) and isinstance(a, SEQUENCES):
        _repeat(a, b)
    elif isinstance(a, int) and isinstance(b, SEQUENCES):
        _repeat(b, a)
    return a * b


def add(a: Any, b: Any) -> Any:
    if isinstance(a, SEQUENCES) and isinstance(b, SEQUENCES):
        spend_both(len(a) + len(b), "concatenating")
    return a + b


def power(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        bits = b * math.log2(abs(a))
        _check_bits(bits, f"raising to the power {b:,}")
        words = int(bits) // WORD_BITS
        work(words * words // WORDS_PER_STEP, f"raising to the power {b:,}")
    return a**b


def lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a:
        _check_bits(a.bit_length() + b, f"shifting left by {b:,}")
    return a << b


def mod(a: Any, b: Any) -> Any:
    if isinstance(a, TEXT):
        msg = "'%' formatting of strings is not allowed (its widths are unbounded); use an f-string"
        raise Refusal(msg)
    if isinstance(a, int) and isinstance(b, int):
        _big_int_work(a, b, "'%' of big integers")
    return a % b


def _set_work(a: Any, b: Any, what: str) -> None:
    if type(a) in SCALARS or type(b) in SCALARS:
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
    words = bits // WORD_BITS
    if words > WORDS_PER_STEP:
        work(words * words // WORDS_PER_STEP, what)


# --- text --------------------------------------------------------------------------------------


def formatted(obj: Any) -> Any:
    """An f-string field: charge the text it will produce, return the object unchanged."""
    kind = type(obj)
    if kind is str:
        if len(obj) > SMALL_TEXT:
            spend(len(obj) // CHARS_PER_STEP, len(obj), "formatting a value as text")
    elif kind is int:
        _int_text_work(obj.bit_length(), "formatting a big integer")
    elif kind not in SCALARS:
        spend_both(size(obj, _b.LOCAL.build + 1), "formatting a value as text")
    return obj


def to_str(obj: Any = "") -> str:
    if type(obj) is str:
        return obj
    if isinstance(obj, int) and not isinstance(obj, bool):
        _int_text_work(obj.bit_length(), "str() of a big integer")
        return str(obj)
    if isinstance(obj, float) or obj is None or isinstance(obj, bool):
        return str(obj)
    spend_both(size(obj, _b.LOCAL.build + 1), "str()")
    return str(obj)


def to_int(*args: Any, **kwargs: Any) -> int:
    if args and isinstance(args[0], TEXT):
        _int_text_work(len(args[0]) * 4, "int() of a long text")
    number = int(*args, **kwargs)
    _check_bits(number.bit_length(), "int()")
    return number


def to_float(*args: Any) -> float:
    if args and isinstance(args[0], TEXT):
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


def enumerate_(iterable: Iterable[Any], start: Any = 0) -> enumerate[Any]:
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
        spend_both(count, "unpacking with '**'")
    return mapping


def sliced(obj: Any, lower: Any, upper: Any, step: Any) -> Any:
    part = slice(lower, upper, step)
    if isinstance(obj, SEQUENCES):
        count = len(range(*part.indices(len(obj))))
        if count > SMALL:
            spend_both(count, "slicing")
    return obj[part]


# --- comparisons ----------------------------------------------------------------------------


def _compare_work(a: Any, b: Any, what: str) -> None:
    if type(a) in SCALARS or type(b) in SCALARS:
        return
    cap = _b.LOCAL.steps + 1
    nodes = min(deep_cost(a, cap), deep_cost(b, cap))
    if nodes > SMALL:
        work(nodes, what)


def _contains_work(item: Any, container: Any) -> None:
    kind = type(container)
    if kind is TableView:  # 'price' in value: a look at the column names
        return
    if kind is str or kind is bytes:
        if len(container) > SMALL_TEXT:
            length = len(item) if isinstance(item, TEXT) else 0
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
            each = 1 if type(item) in SCALARS else deep_cost(item, _b.LOCAL.steps)
            work(count * each, "'in'")


_HASH_CHEAP: Final = frozenset({str, int, float, bool, type(None)})
_LOOKUP: Final = frozenset({dict, set, frozenset})


def _cheap_in(a: Any, b: Any) -> bool:
    kind = type(b)
    if kind in _LOOKUP:
        return type(a) in _HASH_CHEAP
    return kind in SCANNED and len(b) <= SMALL and type(a) in _HASH_CHEAP


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
