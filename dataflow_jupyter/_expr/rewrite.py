"""The rewrite of a checked expression tree: every costly operation calls a guard.

Private to ``dataflow_jupyter.expressions``. ``GLOBALS`` is what the compiled code runs with
(no builtins; the safe functions and the guards under names no expression can write, since
names starting with ``_`` are refused). ``Guard`` routes operators, method calls, attribute
reads, unpacking, slices and costly comparisons through the guards of ``operators`` and
``calls``; what it leaves alone is the hot path (names, constants, indexing, boolean logic,
comparisons and arithmetic against a number written in the text).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter._expr import budget as _budget
from dataflow_jupyter._expr import calls as _calls
from dataflow_jupyter._expr import operators as _ops

if TYPE_CHECKING:
    from collections.abc import Mapping

LOCAL: Final = _budget.LOCAL

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

GLOBALS: Final[dict[str, Any]] = {
    "__builtins__": {},
    **_calls.SAFE_FUNCTIONS,
    "__df_add": _ops.add,
    "__df_mul": _ops.mul,
    "__df_pow": _ops.power,
    "__df_lshift": _ops.lshift,
    "__df_mod": _ops.mod,
    "__df_floordiv": _ops.floordiv,
    "__df_sub": _ops.sub,
    "__df_bit_or": _ops.bit_or,
    "__df_bit_and": _ops.bit_and,
    "__df_bit_xor": _ops.bit_xor,
    "__df_formatted": _ops.formatted,
    **{f"__df_m_{name}": guard for name, guard in _calls.METHOD_GUARDS.items()},
    "__df_attribute": _calls.attribute,
    "__df_star": _ops.star,
    "__df_double_star": _ops.double_star,
    "__df_slice": _ops.sliced,
    "__df_chain": _ops.chain,
    **{f"__df_compare{code}": guard for code, guard in enumerate(_ops.COMPARISONS)},
}


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


class Guard(ast.NodeTransformer):
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
