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

- names ``value`` (the packet's value) and ``packet`` (the packet itself, read-only: only
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
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final

from dataflow_jupyter import _expression_guards as _guards
from dataflow_jupyter.packets import ErrorCode

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
MAX_BUILD: Final = _guards.MAX_BUILD
MAX_STEPS: Final = _guards.MAX_STEPS
MAX_INT_BITS: Final = _guards.MAX_INT_BITS
SAFE_FUNCTIONS: Final = _guards.SAFE_FUNCTIONS
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


# Methods: every call of one goes through ``_guards.method`` (a table by receiver type).
_METHOD_NAMES: Final = _guards.METHOD_NAMES
ALLOWED_ATTRIBUTES: Final = _METHOD_NAMES | _guards.PACKET_ATTRIBUTES
_MUTATING_KEYWORDS: Final = frozenset({"inplace"})

_BINARY_GUARDS: Final[Mapping[type[ast.operator], str]] = {
    ast.Add: "__df_add",
    ast.Mult: "__df_mul",
    ast.Pow: "__df_pow",
    ast.LShift: "__df_lshift",
    ast.Mod: "__df_mod",
    ast.FloorDiv: "__df_floordiv",
    ast.Sub: "__df_sub",
    ast.BitOr: "__df_bit_or",
    ast.BitAnd: "__df_bit_and",
    ast.BitXor: "__df_bit_xor",
}
# Operators whose cost is a small constant when one side is a number written in the text.
_NUMERIC_CHEAP: Final = frozenset({ast.Sub, ast.BitOr, ast.BitAnd, ast.BitXor})

_GLOBALS: Final[dict[str, Any]] = {
    "__builtins__": {},
    **SAFE_FUNCTIONS,
    "__df_add": _guards.add,
    "__df_mul": _guards.mul,
    "__df_pow": _guards.power,
    "__df_lshift": _guards.lshift,
    "__df_mod": _guards.mod,
    "__df_floordiv": _guards.floordiv,
    "__df_sub": _guards.sub,
    "__df_bit_or": _guards.bit_or,
    "__df_bit_and": _guards.bit_and,
    "__df_bit_xor": _guards.bit_xor,
    "__df_formatted": _guards.formatted,
    **{f"__df_m_{name}": guard for name, guard in _guards.METHOD_GUARDS.items()},
    "__df_attribute": _guards.attribute,
    "__df_star": _guards.star,
    "__df_double_star": _guards.double_star,
    "__df_slice": _guards.sliced,
    "__df_chain": _guards.chain,
    **{f"__df_compare{code}": guard for code, guard in enumerate(_guards.COMPARISONS)},
}

_LOCAL: Final = _guards.LOCAL

_COMPARE_CODES: Final[Mapping[type[ast.cmpop], int]] = {
    ast.Eq: 0,
    ast.NotEq: 1,
    ast.Lt: 2,
    ast.LtE: 3,
    ast.Gt: 4,
    ast.GtE: 5,
    ast.Is: 6,
    ast.IsNot: 7,
    ast.In: 8,
    ast.NotIn: 9,
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
        if name in _guards.PACKET_ATTRIBUTES and is_callee:
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


def _guard_call(guard: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(guard, ast.Load()), list(args), [])


def _cheap_pair(op: ast.cmpop, left: ast.expr, right: ast.expr) -> bool:
    """A comparison whose cost is bounded by the text: no guard needed (the hot path)."""
    if isinstance(op, ast.Is | ast.IsNot):
        return True
    if isinstance(op, ast.In | ast.NotIn):
        return isinstance(right, ast.Constant) or (
            isinstance(right, ast.Tuple | ast.List | ast.Set)
            and all(isinstance(item, ast.Constant) for item in right.elts)
        )
    return isinstance(left, ast.Constant) or isinstance(right, ast.Constant)


class _Guard(ast.NodeTransformer):
    """Routes every operation whose cost is not a small constant through a guard.

    The tree is already checked. Untouched (the hot path): names, constants, indexing,
    ``and``/``or``/``not``, ``a if c else b``, ``-``, ``/``, bit operations and comparisons
    against a constant.
    """

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        guard = _BINARY_GUARDS.get(type(node.op))
        if guard is None:
            return node
        if type(node.op) in _NUMERIC_CHEAP and any(
            isinstance(side, ast.Constant) and type(side.value) in (int, float)
            for side in (node.left, node.right)
        ):
            return node  # e.g. value['price'] - 1: the hot path
        return _guard_call(guard, node.left, node.right)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if isinstance(func, ast.Attribute):  # a method: through the table of methods
            receiver = self.visit(func.value)
            args = [self.visit(arg) for arg in node.args]
            keywords = [self.visit(keyword) for keyword in node.keywords]
            guard = ast.Name(f"__df_m_{func.attr}", ast.Load())
            return ast.Call(guard, [receiver, *args], keywords)
        self.generic_visit(node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:  # read, not called
        self.generic_visit(node)
        return _guard_call("__df_attribute", node.value, ast.Constant(node.attr))

    def visit_Starred(self, node: ast.Starred) -> ast.AST:
        self.generic_visit(node)
        node.value = _guard_call("__df_star", node.value)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        self.generic_visit(node)
        node.values = [
            _guard_call("__df_double_star", value) if key is None else value
            for key, value in zip(node.keys, node.values, strict=True)
        ]
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        self.generic_visit(node)
        if node.arg is None:  # f(**mapping)
            node.value = _guard_call("__df_double_star", node.value)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        part = node.slice
        if not isinstance(part, ast.Slice):
            return node
        bounds = [bound or ast.Constant(None) for bound in (part.lower, part.upper, part.step)]
        return _guard_call("__df_slice", node.value, *bounds)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        operands = [node.left, *node.comparators]
        if all(
            _cheap_pair(op, operands[index], operands[index + 1])
            for index, op in enumerate(node.ops)
        ):
            return node
        codes = [_COMPARE_CODES[type(op)] for op in node.ops]
        if len(codes) == 1:
            return _guard_call(f"__df_compare{codes[0]}", node.left, *node.comparators)
        chain = ast.Tuple([ast.Constant(code) for code in codes], ast.Load())
        return _guard_call("__df_chain", chain, *operands)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        node.value = _guard_call("__df_formatted", node.value)
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
        local = _LOCAL  # the budgets of this thread's evaluation (see _expression_guards)
        local.build = MAX_BUILD
        local.steps = MAX_STEPS
        try:
            return eval(self._code, _GLOBALS, names)  # noqa: S307 - checked tree, no builtins
        except _guards.BudgetRefusal as exc:
            msg = f"{_describe(self.text)} was stopped: {exc}"
            raise ExpressionBudgetError(msg, self.text) from exc
        except _guards.Refusal as exc:
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
    attributes, so no copy is made.
    """
    return {"value": packet.value, "packet": packet}
