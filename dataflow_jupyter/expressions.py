"""Safe expressions: the Python subset of edge ``filter``/``transform``, Filter, Mapper, Switch.

An expression comes from a graph file, so it is untrusted text: it must never run code that
its author did not write as an expression, and never take the kernel down. It is read and
checked once (``compile_expression``) and evaluated per packet (``Expression.evaluate``)::

    expr = compile_expression("value['price'] > 100")   # ExpressionError when refused
    expr.evaluate(expression_names(packet))              # EvaluationError when it fails

How it is run. The text is parsed with ``ast``, checked node by node against a whitelist,
then rewritten so that every operation able to build large results goes through a guard
(below), compiled once with ``compile()`` and run with ``eval()`` against globals holding
``{"__builtins__": {}}`` and the safe functions only. ``eval`` happens only on a tree that
the whitelist accepted. Evaluating ``value['price'] > 100`` costs about 0.1 µs (plain
bytecode); ``simpleeval`` walks the tree in Python on every call (about 1.4 µs pre-parsed,
7 µs from text, measured here), and it would still need the same size guards.

Allowed:

- names ``value`` (the packet's value; for a packet that carries an Arrow table, a read-only
  ``TableView``: ``len(value)`` rows, ``value.columns``, ``'price' in value``) and
  ``packet`` (the packet itself, read-only: only
  its metadata attributes ``trace_id``, ``packet_id``, ``origin_node``, ``timestamp``,
  ``schema_version`` and ``parents`` are reachable), plus the variables a caller declares;
- constants (str, int, float, bool, None); list, tuple, set and dict displays, with ``*``
  and ``**`` unpacking; indexing and slicing; arithmetic, comparison and boolean
  operators; ``a if c else b``; f-strings whose format spec is constant text with numbers
  of at most three digits (``f"{x:.2f}"``, ``f"{x:>10}"``);
- calls to the safe functions ``abs all any bool dict enumerate float int len list max min
  range reversed round set sorted str sum tuple zip``, keyword arguments included;
- attributes and methods named in ``ALLOWED_ATTRIBUTES``: read-only ``dict``/``list``/``str``
  methods (``get keys items values lower upper strip startswith split ...``), the packet
  metadata, and ``join replace ljust rjust center zfill``, which may only be called
  directly (``", ".join(x)``, never passed around as ``key=", ".join``).

Refused when compiled (``ExpressionError``): any name, attribute or keyword starting with
``_``; unknown names (``open``, ``eval``, ``exec``, ``getattr``, ``globals``, ``vars``,
``type``, ``compile``, ``breakpoint``, ...); calls of anything but a safe function or an
allowed method; attributes not in the whitelist (``mro``, and ``format``/``format_map``,
whose format strings reach attributes: ``"{0.__class__}".format(x)``); methods that mutate
(``append``, ``update``, ``pop``, ...); ``lambda``; comprehensions and generator
expressions (they loop and allocate without bound; use ``sum``, ``sorted``, ``zip``,
``dict``...); ``:=``; ``await``/``yield``; ``@``; bytes and complex constants; computed
f-string format specs; text over 10,000 characters; nesting deeper than 100 levels.

Limits when evaluated (``EvaluationError``): operations that can build big results run
through guards that refuse before allocating.

- Each evaluation may build at most ``MAX_BUILD`` (10,000,000) units: ``*`` repetition
  (counted deeply, so ``[[0] * 1000] * 10**6`` counts the inner lists too), ``+`` of
  sequences, ``join``, ``replace``, padding, ``range`` lengths, ``str()`` and f-string
  fields of containers. A unit is about one character of text or one item of a container.
- Integers from ``*``, ``**`` and ``<<`` may have at most ``MAX_INT_BITS`` (100,000) bits:
  ``9**9**9`` is refused at once. ``round`` takes at most 1,000 digits.
- ``%`` on strings is refused (its ``*`` widths are unbounded; use an f-string);
  ``sum`` adds numbers only (``sum(lists, [])`` would be quadratic).
- Every other failure (``KeyError``, ``TypeError``, ``ZeroDivisionError``, ...) becomes an
  ``EvaluationError`` naming the expression, raised ``from`` the original exception.

What is not bounded: work proportional to the data the expression reads (``sorted(value)``
of a long list) times the length of the text. That is the data's size, not an attack.
"""

from __future__ import annotations

import ast
import math
import re
import sys
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from dataflow_jupyter.packets import ErrorPacket

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import CodeType

    from dataflow_jupyter.packets import DataPacket

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "MAX_BUILD",
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_LENGTH",
    "SAFE_FUNCTIONS",
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "compile_expression",
    "expression_names",
]

MAX_LENGTH: Final = 10_000
MAX_DEPTH: Final = 100
MAX_BUILD: Final = 10_000_000
MAX_INT_BITS: Final = 100_000
_MAX_ROUND_DIGITS: Final = 1_000
_MAX_SPEC_DIGITS: Final = 3
_DEFAULT_VARIABLES: Final = ("value", "packet")


class ExpressionError(ValueError):
    """An expression was refused when compiled, or failed when evaluated."""

    def __init__(self, message: str, expression: str = "") -> None:
        super().__init__(message)
        self.expression = expression

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.expression))


class EvaluationError(ExpressionError):
    """Evaluating an accepted expression failed: an error in the data or an exceeded limit."""


class _Refusal(Exception):  # noqa: N818 - internal: a guard refused, wrapped as EvaluationError
    """Raised by a guard; ``Expression.evaluate`` turns it into an ``EvaluationError``."""


# --- guards: what the rewritten tree calls instead of the plain operators --------------------

_local = threading.local()
_SEQUENCES: Final = (str, bytes, list, tuple)
_TEXT: Final = (str, bytes)


def _charge(units: int, what: str) -> None:
    budget: int = getattr(_local, "budget", MAX_BUILD)
    if units > budget:
        built = f"{units:,} items or characters"
        if units > MAX_BUILD:
            msg = f"{what} would build about {built}; an evaluation may build {MAX_BUILD:,}"
        else:
            msg = (
                f"{what} would build about {built}, more than the {budget:,} left of the "
                f"{MAX_BUILD:,} an evaluation may build"
            )
        raise _Refusal(msg)
    _local.budget = budget - units


def _size(obj: Any, cap: int) -> int:
    """About how many characters ``repr(obj)`` has, counting shared parts each time.

    Iterative (no recursion on deep data); stops as soon as the count exceeds ``cap``.
    """
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, _TEXT):
            total += len(item) + 2
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            if total > cap:
                return total
            stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total > cap:
                return total
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        else:
            try:  # a range, a dict view, ...: as many as it holds
                total += max(len(item), 1)
            except (TypeError, OverflowError):
                total += 1
        if total > cap:
            return total
    return total


def _remaining() -> int:
    budget: int = getattr(_local, "budget", MAX_BUILD)
    return budget


def _check_bits(bits: float, what: str) -> None:
    if bits > MAX_INT_BITS:
        msg = (
            f"{what} would make an integer of about {bits:,.0f} bits; the limit is "
            f"{MAX_INT_BITS:,} bits"
        )
        raise _Refusal(msg)


def _repeat(seq: Any, times: int) -> None:
    if times <= 0 or not seq:
        return
    each = len(seq) if isinstance(seq, _TEXT) else _size(seq, _remaining() // times + 1)
    kind = type(seq).__name__
    _charge(each * times, f"{times:,} repetitions of a {kind} of length {len(seq):,}")


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        _check_bits(a.bit_length() + b.bit_length(), "multiplying")
    elif isinstance(b, int) and isinstance(a, _SEQUENCES):
        _repeat(a, b)
    elif isinstance(a, int) and isinstance(b, _SEQUENCES):
        _repeat(b, a)
    return a * b


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _charge(len(a) + len(b), "concatenating")
    return a + b


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        _check_bits(b * math.log2(abs(a)), f"raising to the power {b:,}")
    return a**b


def _lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a:
        _check_bits(a.bit_length() + b, f"shifting left by {b:,}")
    return a << b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, _TEXT):
        msg = "'%' formatting of strings is not allowed (its widths are unbounded); use an f-string"
        raise _Refusal(msg)
    return a % b


def _formatted(obj: Any) -> Any:
    """An f-string field: charge the text it will produce, return the object unchanged."""
    if not isinstance(obj, int | float) and obj is not None:
        _charge(_size(obj, _remaining() + 1), "formatting a value as text")
    return obj


def _str(obj: Any = "") -> str:
    if isinstance(obj, int | float) or obj is None:
        return str(obj)
    _charge(_size(obj, _remaining() + 1), "str()")
    return str(obj)


def _range(*args: Any) -> range:
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:  # more than sys.maxsize numbers
        length = sys.maxsize
    _charge(length, "range()")
    return numbers


def _round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(number)
    if isinstance(ndigits, int) and abs(ndigits) > _MAX_ROUND_DIGITS:
        msg = f"round() to {ndigits:,} digits; the limit is {_MAX_ROUND_DIGITS:,}"
        raise _Refusal(msg)
    return round(number, ndigits)


def _sum(iterable: Iterable[Any], /, start: Any = 0) -> Any:
    if isinstance(start, bool) or not isinstance(start, int | float):
        msg = f"sum() adds numbers only; start must be a number, got {type(start).__name__}"
        raise _Refusal(msg)
    return sum(_metered(iterable, "sum()"), start)


_METER_STEP: Final = 256


def _metered(iterable: Iterable[Any], what: str) -> Iterator[Any]:
    """``iterable``, charging the budget one unit per item drawn (in steps of 256).

    Every safe function that walks an iterable walks it through this, so building or
    scanning is bounded like repetition is, whatever the iterable (a range, a dict view, a
    zip of many of them).
    """
    count = 0
    for item in iterable:
        count += 1
        if count == _METER_STEP:
            _charge(count, what)
            count = 0
        yield item
    if count:
        _charge(count, what)


def _walking(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``function`` with its first argument walked through ``_metered``."""

    def walk(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 or (args and function not in (max, min)):  # max(a, b) walks nothing
            first = args[0]
            if isinstance(first, Mapping):
                first = first.items() if function is dict else first.keys()
            args = (_metered(first, f"{name}()"), *args[1:])
        return function(*args, **kwargs)

    walk.__name__ = name
    return walk


def _zip(*iterables: Iterable[Any], **kwargs: Any) -> Iterator[tuple[Any, ...]]:
    return zip(*(_metered(it, "zip()") for it in iterables), **kwargs)  # noqa: B905 - kwargs has strict=


def _int(*args: Any, **kwargs: Any) -> int:
    number = int(*args, **kwargs)
    _check_bits(number.bit_length(), "int()")
    return number


def _call(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if isinstance(obj, type):
        msg = f"{name}() may only be called on a value, not on the type {obj.__name__}"
        raise _Refusal(msg)
    return getattr(obj, name)(*args, **kwargs)


def _join(obj: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(obj, _TEXT) and len(args) == 1 and not kwargs:
        items = list(args[0])
        length = sum(len(item) for item in items if isinstance(item, _TEXT))
        _charge(length + len(obj) * max(len(items) - 1, 0), "join()")
        return obj.join(items)
    return _call(obj, "join", args, kwargs)


def _replacement_length(text: str | bytes, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(old, _TEXT) or not isinstance(new, _TEXT) or not isinstance(count, int):
        return len(text)  # the call itself raises TypeError
    found = len(text) + 1 if not old else text.count(old)  # type: ignore[arg-type]
    if count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _replace(obj: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(obj, _TEXT):
        _charge(_replacement_length(obj, *args, **kwargs), "replace()")
    return _call(obj, "replace", args, kwargs)


def _padding(name: str) -> Callable[..., Any]:
    def pad(obj: Any, *args: Any, **kwargs: Any) -> Any:
        width = args[0] if args else kwargs.get("width")
        if isinstance(obj, _TEXT) and isinstance(width, int):
            _charge(max(width, len(obj)), f"{name}()")
        return _call(obj, name, args, kwargs)

    pad.__name__ = name
    return pad


SAFE_FUNCTIONS: Final[Mapping[str, Any]] = {
    "abs": abs,
    "all": _walking(all, "all"),
    "any": _walking(any, "any"),
    "bool": bool,
    "dict": _walking(dict, "dict"),
    "enumerate": _walking(enumerate, "enumerate"),
    "float": float,
    "int": _int,
    "len": len,
    "list": _walking(list, "list"),
    "max": _walking(max, "max"),
    "min": _walking(min, "min"),
    "range": _range,
    "reversed": reversed,
    "round": _round,
    "set": _walking(set, "set"),
    "sorted": _walking(sorted, "sorted"),
    "str": _str,
    "sum": _sum,
    "tuple": _walking(tuple, "tuple"),
    "zip": _zip,
}

# Methods that can build large results: called only directly, through a guard.
_GUARDED_METHODS: Final[Mapping[str, Callable[..., Any]]] = {
    "join": _join,
    "replace": _replace,
    **{name: _padding(name) for name in ("ljust", "rjust", "center", "zfill")},
}

ALLOWED_ATTRIBUTES: Final = frozenset(
    {
        # dict, list, tuple (read-only)
        "get",
        "keys",
        "values",
        "items",
        "count",
        "index",
        # str (read-only; join/replace/padding are guarded)
        *("lower", "upper", "casefold", "title", "capitalize", "swapcase"),
        *("strip", "lstrip", "rstrip", "removeprefix", "removesuffix"),
        *("startswith", "endswith", "find", "rfind", "rindex"),
        *("split", "rsplit", "splitlines", "partition", "rpartition"),
        *("isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum", "isspace"),
        *("islower", "isupper", "istitle"),
        *_GUARDED_METHODS,
        # numbers
        "is_integer",
        "bit_length",
        # packet metadata
        *("trace_id", "packet_id", "origin_node", "timestamp", "schema_version", "parents"),
        # a table packet's value (TableView)
        *("columns", "num_rows"),
    }
)

_BINARY_GUARDS: Final[Mapping[type[ast.operator], str]] = {
    ast.Add: "__df_add",
    ast.Mult: "__df_mul",
    ast.Pow: "__df_pow",
    ast.LShift: "__df_lshift",
    ast.Mod: "__df_mod",
}

_GLOBALS: Final[dict[str, Any]] = {
    "__builtins__": {},
    **SAFE_FUNCTIONS,
    "__df_add": _add,
    "__df_mul": _mul,
    "__df_pow": _pow,
    "__df_lshift": _lshift,
    "__df_mod": _mod,
    "__df_formatted": _formatted,
    **{f"__df_{name}": guard for name, guard in _GUARDED_METHODS.items()},
}


# --- checking the tree -------------------------------------------------------------------------

_ALLOWED_NODES: Final = (
    ast.Expression,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.IfExp,
    ast.Dict,
    ast.Set,
    ast.List,
    ast.Tuple,
    ast.Compare,
    ast.Call,
    ast.keyword,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Starred,
    ast.Name,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.Load,
    ast.boolop,
    ast.unaryop,
    ast.cmpop,
    ast.operator,
)

_REFUSED_NODES: Final[Mapping[type[ast.AST], str]] = {
    ast.Lambda: "a lambda: functions cannot be defined in an expression",
    ast.ListComp: "a list comprehension: comprehensions are refused (unbounded loops); use "
    "sum, sorted, zip, dict or list instead",
    ast.SetComp: "a set comprehension: comprehensions are refused (unbounded loops)",
    ast.DictComp: "a dict comprehension: comprehensions are refused (unbounded loops)",
    ast.GeneratorExp: "a generator expression: comprehensions are refused (unbounded loops)",
    ast.NamedExpr: "':=': an expression cannot assign names",
    ast.Await: "'await': an expression cannot wait",
    ast.Yield: "'yield': an expression cannot yield",
    ast.YieldFrom: "'yield from': an expression cannot yield",
    ast.MatMult: "'@': matrix multiplication is not supported",
    ast.Store: "an assignment target: an expression cannot assign names",
    ast.Del: "'del': an expression cannot delete names",
}

_SPEC_NUMBER: Final = re.compile(r"\d+")


def _describe(text: str) -> str:
    shown = text if len(text) <= 80 else f"{text[:77]}..."
    return f"expression {shown!r}"


class _Checker:
    """Walks the tree iteratively (no recursion) and names the first thing it refuses."""

    def __init__(self, text: str, variables: frozenset[str]) -> None:
        self.text = text
        self.variables = variables

    def refuse(self, problem: str) -> ExpressionError:
        return ExpressionError(f"{_describe(self.text)} {problem}", self.text)

    def check(self, tree: ast.Expression) -> None:
        # Private names first: they are the clearest sign of an escape, so name them.
        for node in ast.walk(tree):  # iterative
            if isinstance(node, ast.Name):
                self.check_underscore("name", node.id)
            elif isinstance(node, ast.Attribute):
                self.check_underscore("attribute", node.attr)
            elif isinstance(node, ast.keyword) and node.arg is not None:
                self.check_underscore("keyword", node.arg)
        stack: list[tuple[ast.AST, int, bool]] = [(tree, 0, False)]
        while stack:
            node, depth, is_callee = stack.pop()
            if depth > MAX_DEPTH:
                msg = f"is nested more than {MAX_DEPTH} levels deep; split it into simpler parts"
                raise self.refuse(msg)
            self.check_node(node, is_callee=is_callee)
            callee = node.func if isinstance(node, ast.Call) else None
            children = reversed(list(ast.iter_child_nodes(node)))  # report the leftmost first
            stack.extend((child, depth + 1, child is callee) for child in children)

    def check_node(self, node: ast.AST, *, is_callee: bool) -> None:
        refused = _REFUSED_NODES.get(type(node))
        if refused is not None:
            raise self.refuse(f"uses {refused}")
        if not isinstance(node, _ALLOWED_NODES):
            raise self.refuse(f"uses {type(node).__name__}, which expressions do not support")
        if isinstance(node, ast.Name):
            self.check_name(node.id, is_callee=is_callee)
        elif isinstance(node, ast.Attribute):
            self.check_attribute(node.attr, is_callee=is_callee)
        elif isinstance(node, ast.keyword) and node.arg is not None:
            self.check_underscore("keyword", node.arg)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name | ast.Attribute):
                msg = (
                    f"calls {ast.unparse(node.func)!r:.60}: only the safe functions and "
                    "allowed methods may be called"
                )
                raise self.refuse(msg)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, str | int | float | bool) and node.value is not None:
                msg = (
                    f"uses a constant of type {type(node.value).__name__}: only str, int, "
                    "float, bool and None constants are allowed"
                )
                raise self.refuse(msg)
        elif isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            self.check_format_spec(node.format_spec)

    def check_underscore(self, kind: str, name: str) -> None:
        if name.startswith("_"):
            msg = f"uses {kind} {name!r}: names starting with '_' are not allowed"
            raise self.refuse(msg)

    def check_name(self, name: str, *, is_callee: bool) -> None:
        self.check_underscore("name", name)
        if is_callee:
            if name not in SAFE_FUNCTIONS:
                msg = (
                    f"calls {name!r}, which is not a safe function; the safe functions are "
                    f"{', '.join(sorted(SAFE_FUNCTIONS))}"
                )
                raise self.refuse(msg)
        elif name not in self.variables and name not in SAFE_FUNCTIONS:
            msg = (
                f"uses unknown name {name!r}; it can use {', '.join(sorted(self.variables))} "
                "and the safe functions"
            )
            raise self.refuse(msg)

    def check_attribute(self, name: str, *, is_callee: bool) -> None:
        self.check_underscore("attribute", name)
        if name in ("format", "format_map"):
            msg = (
                f"uses attribute {name!r}: format strings can reach attributes of their "
                "arguments; use an f-string"
            )
            raise self.refuse(msg)
        if name not in ALLOWED_ATTRIBUTES:
            msg = (
                f"uses attribute {name!r}, which is not allowed: only read-only methods such "
                "as get, keys, items, values, lower, split, startswith and the packet's "
                "metadata are (see dataflow_jupyter.expressions.ALLOWED_ATTRIBUTES)"
            )
            raise self.refuse(msg)
        if name in _GUARDED_METHODS and not is_callee:
            msg = f"uses method {name!r} without calling it: it may only be called directly"
            raise self.refuse(msg)

    def check_format_spec(self, spec: ast.AST) -> None:
        parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
        for part in parts:
            if not isinstance(part, ast.Constant) or not isinstance(part.value, str):
                raise self.refuse("uses a computed f-string format spec: only constant specs")
            if any(len(number) > _MAX_SPEC_DIGITS for number in _SPEC_NUMBER.findall(part.value)):
                msg = (
                    f"uses the f-string format spec {part.value!r:.40}: widths and precisions "
                    f"may have at most {_MAX_SPEC_DIGITS} digits"
                )
                raise self.refuse(msg)


class _Guard(ast.NodeTransformer):
    """Routes size-building operations through the guards (the tree is already checked)."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        guard = _BINARY_GUARDS.get(type(node.op))
        if guard is None:
            return node
        return ast.Call(ast.Name(guard, ast.Load()), [node.left, node.right], [])

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _GUARDED_METHODS:
            guard = ast.Name(f"__df_{func.attr}", ast.Load())
            return ast.Call(guard, [func.value, *node.args], node.keywords)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        node.value = ast.Call(ast.Name("__df_formatted", ast.Load()), [node.value], [])
        return node


# --- the public API --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Expression:
    """A checked, compiled expression. Build it with ``compile_expression``."""

    text: str
    variables: tuple[str, ...] = _DEFAULT_VARIABLES
    _code: CodeType = field(repr=False, kw_only=True)

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        """The expression's value with ``names`` (e.g. ``expression_names(packet)``) bound.

        Raises ``EvaluationError`` naming the expression when evaluation fails or a limit is
        exceeded; the original exception is its ``__cause__``.
        """
        _local.budget = MAX_BUILD
        try:
            return eval(self._code, _GLOBALS, names)  # noqa: S307 - checked tree, no builtins
        except _Refusal as exc:
            msg = f"{_describe(self.text)} was stopped: {exc}"
            raise EvaluationError(msg, self.text) from exc
        except Exception as exc:  # every failure is reported the same way
            msg = f"{_describe(self.text)} failed: {type(exc).__name__}: {exc}"
            raise EvaluationError(msg, self.text) from exc

    def test(self, names: Mapping[str, Any]) -> bool:
        """``bool`` of the value (a filter's decision); ambiguous truth is an EvaluationError."""
        result = self.evaluate(names)
        try:
            return bool(result)
        except Exception as exc:  # e.g. an array's truth value is ambiguous
            msg = (
                f"{_describe(self.text)} gave a {type(result).__name__} with no truth value: {exc}"
            )
            raise EvaluationError(msg, self.text) from exc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return (self.text, self.variables) == (other.text, other.variables)

    def __hash__(self) -> int:
        return hash((self.text, self.variables))


def compile_expression(text: str, *, variables: Iterable[str] = _DEFAULT_VARIABLES) -> Expression:
    """Check ``text`` against the whitelist and compile it, once.

    ``variables`` are the names the expression may read besides the safe functions
    (``value`` and ``packet`` unless the caller says otherwise). Nothing is evaluated here.
    Raises ``ExpressionError`` saying what is refused and why.
    """
    given: object = text  # callers pass settings from graph files: check at run time too
    if not isinstance(given, str):
        msg = f"an expression must be a string; got {type(given).__name__}"
        raise ExpressionError(msg, repr(given))
    names = tuple(variables)
    if len(text) > MAX_LENGTH:
        msg = f"{_describe(text)} is {len(text):,} characters long; the limit is {MAX_LENGTH:,}"
        raise ExpressionError(msg, text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escapes: not our user's concern here
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        msg = f"{_describe(text)} is not a valid expression: {exc.msg}{where}"
        raise ExpressionError(msg, text) from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        msg = f"{_describe(text)} is not a valid expression: too deeply nested or contains NUL"
        raise ExpressionError(msg, text) from exc
    _Checker(text, frozenset(names)).check(tree)
    guarded = ast.fix_missing_locations(_Guard().visit(tree))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "'int' object is not callable": fails when run
            code = compile(guarded, "<expression>", "eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # pragma: no cover
        msg = f"{_describe(text)} could not be compiled: {exc}"
        raise ExpressionError(msg, text) from exc
    return Expression(text, names, _code=code)


def expression_names(packet: DataPacket) -> dict[str, Any]:
    """The names an expression sees for ``packet``: its ``value`` and the packet itself.

    The packet is frozen and the checker lets an expression read only its metadata
    attributes, so no copy is made. A packet that carries an Arrow table (and no value)
    shows it as a ``TableView``: ``len(value)`` is its row count, ``value.columns`` its
    column names, ``'price' in value`` tells whether it has that column. An error packet
    (an ``error`` output) shows as its dict: ``value['code'] == 'TIMEOUT'``.
    """
    binary = packet.binary_value
    if binary is not None and packet.value is None and isinstance(binary, _TABLES):
        return {"value": TableView(binary), "packet": packet}
    value = packet.value
    if isinstance(value, ErrorPacket):
        return {"value": value.to_dict(), "packet": packet}
    return {"value": value, "packet": packet}


_TABLES: Final = (pa.Table, pa.RecordBatch)


class TableView:
    """What an expression sees as ``value`` for a table packet: read-only, nothing copied.

    ``len(value)`` and ``value.num_rows`` are the row count, ``value.columns`` the column
    names (a list), ``"price" in value`` whether the table has that column.
    """

    __slots__ = ("_table",)

    def __init__(self, table: pa.Table | pa.RecordBatch) -> None:
        self._table = table

    def __len__(self) -> int:
        return int(self._table.num_rows)

    def __contains__(self, name: object) -> bool:
        return name in self._table.column_names

    @property
    def num_rows(self) -> int:
        """The row count."""
        return int(self._table.num_rows)

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return list(self._table.column_names)

    def __repr__(self) -> str:
        return f"<table {self.num_rows} rows x {len(self._table.column_names)} columns>"
