"""filter-rows: keep the rows of a table for which an expression, compiled to Arrow, is true.

The expression text comes from a graph file, so it is never run as Python. It is parsed with
``ast`` and translated, node by node, into a ``pyarrow.compute.Expression``; anything outside
the subset below is refused when the node is built, with a message saying what and why.

========================  =========================================================
text                      Arrow expression
========================  =========================================================
``price``                 ``pc.field("price")``; ``col("a b")`` for any column name
``3``, ``2.5``, ``'x'``   ``pc.scalar(...)``; ``True`` / ``False`` too (not ``None``:
                          use ``is_null(x)``)
``a < b`` (chains)        comparisons ``== != < <= > >=``, chained with ``&``; as in
                          pandas, a comparison with a null is false (``!=``: true)
``x in [1, 2]``           ``x.isin([1, 2])`` (``not in``: inverted); literals only
``and`` / ``or`` / not    ``&`` / ``|`` / ``~`` (Kleene logic: null and false is false)
``+ - * / **``, ``-x``    ``add_checked`` ... ``power_checked``, ``negate_checked``
functions                 ``is_null is_valid isin abs lower upper starts_with
                          ends_with contains``
========================  =========================================================
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from dataflow_jupyter.node import NodeContext, PureNode
from dataflow_jupyter.packets import ErrorCode, ErrorPacket
from dataflow_jupyter.ports import input_table

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from dataflow_jupyter.packets import DataPacket

MAX_DEPTH: Final = 100
MAX_LITERALS: Final = 100_000

_COMPARISONS: Final[Mapping[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: pc.equal,
    ast.NotEq: pc.not_equal,
    ast.Lt: pc.less,
    ast.LtE: pc.less_equal,
    ast.Gt: pc.greater,
    ast.GtE: pc.greater_equal,
}
_ARITHMETIC: Final[Mapping[type[ast.operator], str]] = {
    ast.Add: "add_checked",
    ast.Sub: "subtract_checked",
    ast.Mult: "multiply_checked",
    ast.Div: "divide_checked",
    ast.Pow: "power_checked",
}
_UNARY_FUNCTIONS: Final = {
    "is_null": "is_null",
    "is_valid": "is_valid",
    "abs": "abs_checked",
    "lower": "utf8_lower",
    "upper": "utf8_upper",
}
_PATTERN_FUNCTIONS: Final = {
    "starts_with": "starts_with",
    "ends_with": "ends_with",
    "contains": "match_substring",
}
FUNCTIONS: Final = tuple(sorted({"col", "isin", *_UNARY_FUNCTIONS, *_PATTERN_FUNCTIONS}))
_SYMBOLS: Final[Mapping[type[ast.operator], str]] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
}
_SUPPORTED: Final = (
    "it supports column names (or col('name')), numbers, strings, True/False, comparisons, "
    "in / not in a list, and / or / not, + - * / ** and the functions " + ", ".join(FUNCTIONS)
)


class FilterRows(PureNode):
    """Emits the rows of each table for which the expression is true on ``out``.

    The expression is compiled once, here: a refused one fails the node's construction
    (``ValueError``). A table without a column the expression names, or whose types do not
    fit it, gives an ``ErrorPacket`` (``EXPRESSION``) on ``error``.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.where = f"filter-rows (node {node_id!r})"
        self.text: str = self.settings["expression"]
        self.expression, self.columns, self.mask = _compile(self.text)
        self.sent: frozenset[str] | None = None  # the columns out's consumers use (project)

    def columns_needed(
        self, port: str, downstream: Mapping[str, frozenset[str] | None]
    ) -> frozenset[str] | None:
        """The expression's columns and what ``out``'s consumers use (projection pushdown)."""
        after = downstream.get("out")
        return None if after is None else after | frozenset(self.columns)

    def project(self, port: str, columns: frozenset[str]) -> None:
        """``out``'s consumers use only ``columns``: the others are left out of ``out``."""
        if port == "out":
            self.sent = columns

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        table = input_table(inputs["in"], where=self.where, port="in")
        if isinstance(table, ErrorPacket):
            return table
        missing = [name for name in self.columns if name not in table.column_names]
        if missing:
            msg = (
                f"{self.where}: expression {self.text!r} uses column {missing[0]!r}, which the "
                f"table lacks; its columns: {', '.join(table.column_names) or 'none'}"
            )
            return ErrorPacket(ErrorCode.EXPRESSION, msg)
        try:
            mask = self.mask(table)
            sent = table
            if self.sent is not None:  # copy only the rows of the columns used after it
                sent = table.select([n for n in table.column_names if n in self.sent])
            return {"out": _keep(sent, mask)}
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            types = ", ".join(f"{f.name}: {f.type}" for f in table.schema if f.name in self.columns)
            msg = f"{self.where}: expression {self.text!r} fails on columns ({types}): {exc}"
            return ErrorPacket(ErrorCode.EXPRESSION, msg)


def compile_filter(text: str) -> tuple[pc.Expression, list[str]]:
    """``text`` as an Arrow expression and the columns it reads; ``ValueError`` if refused."""
    expression, columns, _ = _compile(text)
    return expression, columns


def _compile(text: str) -> tuple[pc.Expression, list[str], Callable[[pa.Table], Any]]:
    """The expression, its columns, and a function computing its mask over a table."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        msg = f"filter-rows expression {text!r:.80} is not a valid expression: {exc}"
        raise ValueError(msg) from exc
    compiler = _Compiler(text)
    expression = compiler.compile(tree.body, 0)
    value_sets = compiler.value_sets

    def mask(table: pa.Table) -> Any:
        return _Compiler(text, table.column, pa.scalar, value_sets).compile(tree.body, 0)

    return expression, compiler.columns, mask


class _Compiler:
    """Translates an ``ast`` node into an Arrow expression, refusing what it does not know.

    Every step is a ``pyarrow.compute`` function, which builds an ``Expression`` from
    expressions and computes an array from arrays: with ``field=pc.field`` (the default) the
    result is the filter's ``Expression``; with ``field=table.column`` and
    ``scalar=pa.scalar`` it is the filter's mask over that table, computed eagerly (3x
    cheaper than ``Table.filter(Expression)``, which plans an Acero query per call).
    ``value_sets`` keeps the ``in`` lists' arrays, keyed by the ``ast`` node, across calls.
    """

    def __init__(
        self,
        text: str,
        field: Callable[[str], Any] = pc.field,
        scalar: Callable[[Any], Any] = pc.scalar,
        value_sets: dict[int, pa.Array] | None = None,
    ) -> None:
        self.text = text
        self.columns: list[str] = []
        self.field = field
        self.scalar = scalar
        self.value_sets = {} if value_sets is None else value_sets

    def refuse(self, problem: str) -> ValueError:
        return ValueError(f"filter-rows expression {self.text!r:.80} {problem}; {_SUPPORTED}")

    def column(self, name: str) -> Any:
        if name not in self.columns:
            self.columns.append(name)
        return self.field(name)

    def compile(self, node: ast.expr, depth: int) -> Any:
        if depth > MAX_DEPTH:
            msg = f"is nested more than {MAX_DEPTH} levels deep"
            raise ValueError(f"filter-rows expression {self.text!r:.80} {msg}")
        depth += 1
        if isinstance(node, ast.Name):
            return self.column(node.id)
        if isinstance(node, ast.Constant):
            return self.literal(node)
        if isinstance(node, ast.BoolOp):
            parts = [self.compile(value, depth) for value in node.values]
            combine = pc.and_kleene if isinstance(node.op, ast.And) else pc.or_kleene
            result = parts[0]
            for part in parts[1:]:
                result = combine(result, part)
            return result
        if isinstance(node, ast.UnaryOp):
            operand = self.compile(node.operand, depth)
            if isinstance(node.op, ast.Not):
                return pc.invert(operand)
            if isinstance(node.op, ast.USub):
                return pc.negate_checked(operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            raise self.refuse("uses '~' (bitwise not); use 'not'")
        if isinstance(node, ast.BinOp):
            function = _ARITHMETIC.get(type(node.op))
            if function is None:
                symbol = _SYMBOLS.get(type(node.op), type(node.op).__name__)
                raise self.refuse(f"uses the operator {symbol!r}")
            left, right = self.compile(node.left, depth), self.compile(node.right, depth)
            return getattr(pc, function)(left, right)
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.refuse(f"uses {_what(node)}, which filter-rows does not support")

    def literal(self, node: ast.Constant) -> pc.Expression:
        value = node.value
        if value is None:
            raise self.refuse("compares with None; test for nulls with is_null(x)")
        if not isinstance(value, bool | int | float | str):
            raise self.refuse(f"uses a {type(value).__name__} constant")
        try:
            return self.scalar(value)
        except (OverflowError, pa.ArrowInvalid) as exc:
            raise self.refuse(f"uses the constant {value!r:.40}, which Arrow cannot hold") from exc

    def literals(self, node: ast.expr) -> list[Any]:
        if not isinstance(node, ast.List | ast.Tuple | ast.Set):
            raise self.refuse("uses 'in' / isin with something else than a list of literals")
        if len(node.elts) > MAX_LITERALS:
            raise self.refuse(f"lists more than {MAX_LITERALS:,} values")
        values = []
        for element in node.elts:
            if not isinstance(element, ast.Constant) or not isinstance(
                element.value, bool | int | float | str | None
            ):
                raise self.refuse("uses 'in' / isin with a list holding more than literals")
            values.append(element.value)
        return values

    def isin(self, subject: Any, node: ast.expr) -> Any:
        value_set = self.value_sets.get(id(node))
        if value_set is None:
            values = self.literals(node)
            try:
                value_set = self.value_sets[id(node)] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise self.refuse(f"lists values of mixed types {values!r:.60}") from exc
        return pc.is_in(subject, value_set=value_set)

    def compare(self, node: ast.Compare, depth: int) -> Any:
        if len(node.ops) > 1 and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
            raise self.refuse("chains 'in' with other comparisons; join them with 'and'")
        result = None
        left = self.compile(node.left, depth)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                test = self.isin(left, right_node)
                part = pc.invert(test) if isinstance(op, ast.NotIn) else test
                right = None
            else:
                compare = _COMPARISONS.get(type(op))
                if compare is None:
                    raise self.refuse(f"uses {'is' if isinstance(op, ast.Is) else 'is not'}")
                right = self.compile(right_node, depth)
                # as pandas: a comparison with a null is False (!= is True), never null
                otherwise = self.scalar(isinstance(op, ast.NotEq))
                part = pc.coalesce(compare(left, right), otherwise)
            result = part if result is None else pc.and_kleene(result, part)
            left = right
        return result

    def call(self, node: ast.Call, depth: int) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name is None:
            raise self.refuse(f"calls {ast.unparse(node.func)!r:.40}")
        if node.keywords:
            raise self.refuse(f"passes keyword arguments to {name}()")
        args = node.args
        if name == "col":
            if (
                len(args) != 1
                or not isinstance(args[0], ast.Constant)
                or not isinstance(args[0].value, str)
            ):
                raise self.refuse("calls col() without exactly one column name string")
            return self.column(args[0].value)
        if name == "isin":
            if len(args) != 2:
                raise self.refuse("calls isin() without (column, [values])")
            return self.isin(self.compile(args[0], depth), args[1])
        if name in _UNARY_FUNCTIONS:
            if len(args) != 1:
                raise self.refuse(f"calls {name}() with {len(args)} arguments; it takes 1")
            return getattr(pc, _UNARY_FUNCTIONS[name])(self.compile(args[0], depth))
        if name in _PATTERN_FUNCTIONS:
            if (
                len(args) != 2
                or not isinstance(args[1], ast.Constant)
                or not isinstance(args[1].value, str)
            ):
                raise self.refuse(f"calls {name}() without (column, 'text')")
            subject = self.compile(args[0], depth)
            return getattr(pc, _PATTERN_FUNCTIONS[name])(subject, pattern=args[1].value)
        raise self.refuse(f"calls {name!r}, which filter-rows does not know")


def _keep(table: pa.Table, mask: Any) -> pa.Table:
    """The rows of ``table`` where ``mask`` is true (null: dropped); all of them: ``table``.

    A mask that is one scalar (an expression over constants only) keeps all rows or none.
    """
    if isinstance(mask, pa.Scalar):
        if not pa.types.is_boolean(mask.type):
            msg = f"Filter expression must evaluate to bool; it gives one {mask.type} value"
            raise pa.ArrowTypeError(msg)
        return table if mask.as_py() is True else table.slice(0, 0)
    if not pa.types.is_boolean(mask.type):
        msg = f"Filter expression must evaluate to bool; it gives {mask.type} values"
        raise pa.ArrowTypeError(msg)
    if mask.null_count == 0 and pc.all(mask).as_py() is not False:
        return table  # every row kept: no copy
    return table.filter(mask)


def _what(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "an attribute",
        ast.Subscript: "indexing",
        ast.Lambda: "a lambda",
        ast.IfExp: "'x if c else y'",
        ast.JoinedStr: "an f-string",
        ast.NamedExpr: "':='",
    }
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return f"{text} ({ast.unparse(node)!r:.40})"
    return f"{type(node).__name__} ({ast.unparse(node)!r:.40})"
