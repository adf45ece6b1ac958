"""Random expressions from the grammar: each is refused, or finishes under 1 s and 100 MB.

The generator combines the language's parts (names, big and small constants, every safe
function, the methods, operators, unpacking, slices, f-strings, comparisons) into nested
expressions, biased towards what costs: big numbers, repetition, data-sized values. Time is
measured untraced; memory by a second, traced evaluation (tracemalloc slows allocation).
"""

from __future__ import annotations

import contextlib
import time
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflow_jupyter.expressions import ExpressionError, compile_expression, expression_names
from dataflow_jupyter.packets import DataPacket

VALUE = {
    "ints": list(range(100_000)),
    "text": "ab" * 50_000,
    "nested": [[i, str(i)] for i in range(20_000)],
    "price": 120.5,
    "tags": ["a", "b"],
}
NAMES = expression_names(DataPacket(VALUE, origin_node="src"))
MB = 1 << 20

ATOMS = st.sampled_from(
    [
        "value",
        "value['ints']",
        "value['text']",
        "value['nested']",
        "value['tags']",
        "value['price']",
        "packet.trace_id",
        "packet.parents",
        "0",
        "7",
        "-3",
        "10**3",
        "10**5",
        "10**6",
        "10**7",
        "2**64",
        "9**99",
        "1.5",
        "'ab'",
        "'x' * 1000",
        "''",
        "None",
        "True",
        "range(10**5)",
        "range(10**6)",
        "[1, 2, 3]",
        "{'a': 1}",
        "(1, 'a')",
    ]
)
FUNCTIONS = st.sampled_from(["len", "abs", "str", "sorted", "list", "sum", "max", "min", "set"])
UNARY = [
    "-{0}",
    "not {0}",
    "len({0})",
    "str({0})",
    "list({0})",
    "tuple({0})",
    "set({0})",
    "sorted({0})",
    "sum({0})",
    "max({0})",
    "min({0})",
    "any({0})",
    "all({0})",
    "dict(enumerate({0}))",
    "list(zip({0}, {0}))",
    "list(reversed({0}))",
    "[*{0}]",
    "{{*{0}}}",
    "({0},) * 3",
    "{0}[::-1]",
    "{0}[:1000]",
    "{0}[1]",
    "{0}.upper()",
    "{0}.split()",
    "{0}.count(1)",
    "{0}.index(0)",
    "{0}.get('ints')",
    "list({0}.items())",
    "{0}.replace('a', 'bbb')",
    "{0}.ljust(999)",
    "','.join({0})",
    "f'{{{0}}}'",
    "f'{{{0}!r:>50}}'",
    "int({0})",
    "float({0})",
    "round({0}, 3)",
    "{{**{0}}}",
]
BINARY = [
    "{0} + {1}",
    "{0} * {1}",
    "{0} ** {1}",
    "{0} // {1}",
    "{0} % {1}",
    "{0} << {1}",
    "{0} - {1}",
    "{0} / {1}",
    "{0} == {1}",
    "{0} < {1}",
    "{0} in {1}",
    "{0} not in {1}",
    "[{0}, {1}]",
    "({0}, {1})",
    "{{{0}: {1}}}",
    "{0} if {1} else {0}",
    "{0} and {1}",
    "{0} or {1}",
    "max({0}, {1})",
    "sorted({0}, key={f})",
    "max({0}, key={f})",
    "min({0}, key={f})",
    "{0}[{1}]",
    "{0}.count({1})",
    "{0}.startswith({1})",
    "range({0}, {1})",
    "dict(zip({0}, {1}))",
    "{0} < {1} < {0}",
]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(ATOMS)
    if draw(st.booleans()):
        template = draw(st.sampled_from(UNARY))
        return template.format(draw(expressions(depth - 1)))
    template = draw(st.sampled_from(BINARY))
    left = draw(expressions(depth - 1))
    right = draw(expressions(depth - 1))
    return template.format(left, right, f=draw(FUNCTIONS))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(expressions())
def test_every_expression_is_refused_or_bounded(text: str) -> None:
    try:
        expression = compile_expression(text)
    except ExpressionError:
        return  # refused when compiled
    started = time.perf_counter()
    with contextlib.suppress(ExpressionError):  # refused, stopped or failed on the data
        expression.evaluate(NAMES)
    elapsed = time.perf_counter() - started
    assert elapsed < 1, f"{text!r} took {elapsed:.2f} s"
    tracemalloc.start()
    try:
        with contextlib.suppress(ExpressionError):
            expression.evaluate(NAMES)
        peak = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    assert peak < 100, f"{text!r} allocated {peak:.0f} MB"
