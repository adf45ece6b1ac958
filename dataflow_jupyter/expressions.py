"""Safe expressions: the Python subset of edge ``filter``/``transform``, Filter, Mapper, Switch.

An expression comes from a graph file, so it is untrusted text: it must never run code that
its author did not write as an expression, and never take the kernel down. It is read and
checked once (``compile_expression``) and evaluated per packet (``Expression.evaluate``)::

    expr = compile_expression("value['price'] > 100")   # ExpressionError when refused
    expr.evaluate(expression_names(packet))              # EvaluationError when it fails

How it is run. The text is parsed with ``ast``, checked node by node against a whitelist,
then rewritten (``_expr.rewrite``) so that every operation whose cost is not a small
constant goes through a guard that charges a budget first (``_expr.budget``), compiled once
with ``compile()`` and run with ``eval()`` against globals holding ``{"__builtins__": {}}``,
the safe functions and the guards only. ``eval`` happens only on a tree that the whitelist
accepted. ``value['price'] > 100`` stays plain bytecode (about 0.15 µs with the budgets
filled); ``simpleeval`` walks the tree in Python on every call (about 1.4 µs pre-parsed,
7 µs from text, measured here), and it would still need the same guards.

Allowed:

- names ``value`` (the packet's value; for a packet that carries an Arrow table, a read-only
  ``TableView``: ``len(value)`` rows, ``value.columns``, ``'price' in value``) and
  ``packet`` (the packet itself, read-only: only
  its metadata attributes ``trace_id``, ``packet_id``, ``origin_node``, ``timestamp``,
  ``schema_version`` and ``parents`` can be read), plus the variables a caller declares;
- constants (str, int, float, bool, None); list, tuple, set and dict displays, with ``*``
  and ``**`` unpacking; indexing and slicing; arithmetic, comparison and boolean
  operators; ``a if c else b``; f-strings whose format spec is constant text with numbers
  of at most three digits (``f"{x:.2f}"``, ``f"{x:>10}"``);
- calls to the safe functions ``abs all any bool dict enumerate float int len list max min
  range reversed round set sorted str sum tuple zip``, keyword arguments included; ``key=``
  takes a safe function only (``sorted(value, key=len)``);
- calls of the read-only methods of ``str``/``bytes``, ``list``/``tuple`` (``count
  index``), ``dict`` (``get keys values items``), ``int.bit_length`` and
  ``float.is_integer`` (``ALLOWED_ATTRIBUTES``), always called directly: a method is
  never a value (``key=value.count`` would give quadratic work). Which function runs is
  decided by the receiver's type when evaluated; any other type (a DataFrame, an array, an
  Arrow table a user's node put in a value) has no methods here, so no pandas ``replace``
  with ``regex=True`` (``re`` backtracks without bound and cannot be interrupted) and no
  change in place. ``str.replace`` is literal.

Refused when compiled (``ExpressionError``): any name, attribute or keyword starting with
``_``; unknown names (``open``, ``eval``, ``exec``, ``getattr``, ``globals``, ``vars``,
``type``, ``compile``, ``breakpoint``, ...); calls of anything but a safe function or an
allowed method; attributes not in the whitelist (``mro``, and ``format``/``format_map``,
whose format strings reach attributes: ``"{0.__class__}".format(x)``); methods that mutate
(``append``, ``update``, ``pop``, ``sort`` ...) and the keyword ``inplace``; a method not
called; ``lambda``; comprehensions and generator expressions (they loop and allocate
without bound; use ``sum``, ``sorted``, ``zip``, ``dict``...); ``:=``; ``await``/``yield``;
``@``; bytes and complex constants; computed f-string format specs; text over 10,000
characters; nesting deeper than 100 levels. ``Graph.validate`` runs this same check (the
``expression`` setting type and edge expressions).

Limits when evaluated: two budgets per evaluation, charged before the work happens
(``_expr.budget`` has the units and their calibration):

- memory: at most ``MAX_BUILD`` (500,000) units, about one item of a container or one
  character of text that the evaluation makes: repetition (counted deeply), ``+`` of
  sequences, ``join``/``replace``/padding, slices, ``*``/``**`` unpacking, ``list``
  ``tuple`` ``set`` ``dict`` ``sorted``, set operators, ``str()`` and f-strings of
  containers, new strings from string methods. At most about 35 MB (a set of fresh
  integers, the worst case measured).
- CPU: at most ``MAX_STEPS`` (1,000,000) steps of about 50 ns: items drawn by the safe
  functions, ``key=`` calls, the comparisons of a sort, ``max`` and ``min`` (by the items'
  deep size), ``in``/``==``/``<`` on containers, ``count``/``index``, text scanned by
  string methods, big-integer arithmetic and conversions. Work too small to charge
  (under 32 steps) is free: the text has no loops, so each of its nodes runs at most once.
- Integers from ``*``, ``**`` and ``<<`` may have at most ``MAX_INT_BITS`` (100,000) bits
  (``9**9**9`` is refused at once); ``range`` and ``enumerate`` count with 64-bit
  integers; ``round`` takes at most 1,000 digits. ``%`` on strings is refused (its ``*``
  widths are unbounded; use an f-string); ``sum`` adds numbers only.

A budget that runs out raises ``ExpressionBudgetError`` (``ErrorCode.EXPRESSION_BUDGET``
in the runtime); another refusal (a method on a type that has none) ``EvaluationError``.
Every other failure (``KeyError``, ``TypeError``, ``ZeroDivisionError``, ...) becomes an
``EvaluationError`` naming the expression, raised ``from`` the original exception. So every
evaluation ends within about 50 ms of CPU and 35 MB, whatever the text and the data
(``tests/test_expression_hypothesis.py`` checks random expressions; an inline Mapper beside
a serving webhook holds the event loop at most a few tens of ms,
``tests/nodes/test_expression_loop_gap.py``).
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

from dataflow_jupyter._expr import budget as _budget
from dataflow_jupyter._expr import calls as _calls
from dataflow_jupyter._expr import rewrite as _rewrite
from dataflow_jupyter._expr.tables import TableView
from dataflow_jupyter.packets import ErrorCode, ErrorPacket

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import CodeType

    from dataflow_jupyter.packets import DataPacket

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "MAX_BUILD",
    "MAX_DEPTH",
    "MAX_INT_BITS",
    "MAX_LENGTH",
    "MAX_STEPS",
    "SAFE_FUNCTIONS",
    "EvaluationError",
    "Expression",
    "ExpressionBudgetError",
    "ExpressionError",
    "compile_expression",
    "expression_names",
]

MAX_LENGTH: Final = 10_000
MAX_DEPTH: Final = 100
MAX_BUILD: Final = _budget.MAX_BUILD
MAX_STEPS: Final = _budget.MAX_STEPS
MAX_INT_BITS: Final = _budget.MAX_INT_BITS
SAFE_FUNCTIONS: Final = _calls.SAFE_FUNCTIONS
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
    """Evaluating an accepted expression failed: an error in the data or a refused operation."""


class ExpressionBudgetError(EvaluationError):
    """An evaluation was stopped because it would build or work more than its budget.

    The runtime reports it as ``ErrorCode.EXPRESSION_BUDGET`` (its ``error_code``).
    """

    error_code: ClassVar[ErrorCode] = ErrorCode.EXPRESSION_BUDGET


# Methods: every call of one goes through its guard in ``_expr.calls`` (a table by type).
_METHOD_NAMES: Final = _calls.METHOD_NAMES
ALLOWED_ATTRIBUTES: Final = _METHOD_NAMES | _calls.PACKET_ATTRIBUTES | TableView.ATTRIBUTES
_MUTATING_KEYWORDS: Final = frozenset({"inplace"})

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
            if node.arg in _MUTATING_KEYWORDS:
                msg = (
                    f"uses keyword {node.arg!r}: an expression may not change the packet's "
                    "value in place (other branches share it)"
                )
                raise self.refuse(msg)
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
        if name in _METHOD_NAMES and not is_callee:
            msg = (
                f"uses method {name!r} without calling it: methods may only be called "
                "directly (passed as key=, value.count would give quadratic work)"
            )
            raise self.refuse(msg)
        if name in _calls.PACKET_ATTRIBUTES | TableView.ATTRIBUTES and is_callee:
            msg = f"calls {name!r}, which is packet metadata, not a method"
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
        local = _rewrite.LOCAL  # this thread's budgets (see dataflow_jupyter._expr.budget)
        local.build = MAX_BUILD
        local.steps = MAX_STEPS
        try:
            return eval(self._code, _rewrite.GLOBALS, names)  # noqa: S307 - checked tree, no builtins
        except _budget.BudgetRefusal as exc:
            msg = f"{_describe(self.text)} was stopped: {exc}"
            raise ExpressionBudgetError(msg, self.text) from exc
        except _budget.Refusal as exc:
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
    guarded = ast.fix_missing_locations(_rewrite.Guard().visit(tree))
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
    if binary is not None and packet.value is None and isinstance(binary, TableView.TABLES):
        return {"value": TableView(binary), "packet": packet}
    value = packet.value
    if isinstance(value, ErrorPacket):
        return {"value": value.to_dict(), "packet": packet}
    return {"value": value, "packet": packet}
