"""The two budgets of an expression evaluation: what it may build (memory) and do (CPU).

Private to ``dataflow_jupyter.expressions``, which documents the language. ``_expr.rewrite``
makes every operation whose cost is not a small constant call a guard (``_expr.operators``,
``_expr.calls``); a guard charges here first and works after, so nothing big is built and
no long loop runs before the budget says no. ``Expression.evaluate`` fills both budgets
(``LOCAL``, thread-local: worker threads evaluate independently) before each evaluation.

``build`` (``MAX_BUILD`` units)
    about one item of a container or one character of text that the evaluation makes.
    500,000 units is at most about 35 MB (a set of fresh integers, the worst case
    measured with tracemalloc).
``steps`` (``MAX_STEPS`` units)
    about 50 ns of work each, calibrated on this project's machine (CPython 3.11): an item
    put into a container (``BUILT_ITEM_STEPS``) or drawn through a Python generator
    (``METERED_ITEM_STEPS``), a sort's comparison, ``CHARS_PER_STEP`` characters scanned,
    ``CONTAINER_STEPS`` per nested container walked, ``KEY_CALL_STEPS`` per ``key=`` call
    of a guard written in Python, ``WORDS_PER_STEP`` products of 64-bit words of
    big-integer arithmetic. A million steps measured at 20-60 ms; an evaluation may hold
    the event loop that long at most.

Measuring is work too: ``deep_cost`` and ``size`` walk nested containers (a flat run of
scalars or strings is measured in C) and charge ``CONTAINER_STEPS`` per container as they go.

Exceeding either budget raises ``BudgetRefusal``; ``expressions`` turns it into
``ExpressionBudgetError`` (``ErrorCode.EXPRESSION_BUDGET``). Other refusals (a method on a
type that has none allowed) raise ``Refusal`` and become ``EvaluationError``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter._expr.tables import TableView

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

MAX_BUILD: Final = 500_000
MAX_STEPS: Final = 1_000_000
MAX_INT_BITS: Final = 100_000
CHARS_PER_STEP: Final = 32
METERED_ITEM_STEPS: Final = 4  # an item drawn through a Python generator (a lazy iterable)
BUILT_ITEM_STEPS: Final = 2  # an item put into a new container
CONTAINER_STEPS: Final = 30  # a nested container visited while measuring or comparing
KEY_CALL_STEPS: Final = 40  # a key= call of a safe function written in Python
METER_STEP: Final = 256
# Work below this many steps is not charged: the text has no loops (every node of it runs at
# most once per evaluation), so what goes uncharged is at most SMALL times the text's size.
SMALL: Final = 32
SMALL_TEXT: Final = SMALL * CHARS_PER_STEP
SIZED: Final = frozenset({list, tuple, dict, set, frozenset, str, bytes})
SCANNED: Final = frozenset({list, tuple})
WORD_BITS: Final = 64
WORDS_PER_STEP: Final = 16  # products of 64-bit words of big-integer arithmetic per step

_local = threading.local()
LOCAL: Final = _local  # expressions fills the budgets with no call (the hot path)
SEQUENCES: Final = (str, bytes, list, tuple)
TEXT: Final = (str, bytes)
SCALARS: Final = frozenset({int, float, bool, type(None)})


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


def spend_both(units: int, what: str) -> None:
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
        if isinstance(item, TEXT):
            total += len(item) // text_weight + 1
        elif isinstance(item, _CONTAINERS):
            visited += 1
            if visited == METER_STEP:
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
            elif kinds.isdisjoint(SCALARS):
                stack.extend(values)
            else:
                stack.extend(value for value in values if type(value) not in SCALARS)
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 // text_weight + 1
        elif isinstance(item, TableView):  # shown by its shape, never its rows
            total += 64
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


def deep_cost(obj: Any, cap: int) -> int:
    """About how many steps a deep comparison of ``obj`` may take (1 for a scalar)."""
    kind = type(obj)
    if kind in SCALARS:
        return 1
    if kind is str or kind is bytes:
        return len(obj) // CHARS_PER_STEP + 1
    return _measure(obj, cap, text_weight=CHARS_PER_STEP, container_weight=CONTAINER_STEPS)


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
        if compares and type(item) not in SCALARS:  # max/min/sorted compare it: deep cost
            work(deep_cost(item, _local.steps + 1), what)
        count += 1
        if count == METER_STEP:
            work(count * each, what)
            if builds:
                charge(count, what)
            count = 0
        yield item
    if count:
        work(count * each, what)
        if builds:
            charge(count, what)
