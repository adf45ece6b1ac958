from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dataflow_jupyter.expressions import (
    MAX_BUILD,
    MAX_LENGTH,
    EvaluationError,
    Expression,
    ExpressionError,
    compile_expression,
    expression_names,
)
from dataflow_jupyter.packets import DataPacket

CORPUS = Path(__file__).parent / "corpus" / "expression_escapes.txt"
ESCAPES = [
    line
    for line in CORPUS.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]

TICK = {"price": 120.5, "qty": 3, "sym": " ACME ", "tags": ["a", "b"], "meta": {"src": "x"}}


def evaluate(text: str, value: Any = None) -> Any:
    packet = DataPacket(TICK if value is None else value, origin_node="src")
    return compile_expression(text).evaluate(expression_names(packet))


# --- what works ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("value['price'] > 100", True),
        ("value['price'] <= 100", False),
        ("100 < value['price'] < 200", True),
        ("value['qty'] == 3 and value['sym'] != 'X'", True),
        ("not value['tags'] or value['qty'] > 5", False),
        ("'a' in value['tags'] and 'z' not in value['tags']", True),
        ("value['meta'] is not None", True),
        ("value['price'] * value['qty'] + 1", 362.5),
        ("(value['qty'] - 1) / 4", 0.5),
        ("value['qty'] // 2, value['qty'] % 2, -value['qty'], 2 ** 10", (1, 1, -3, 1024)),
        ("value['qty'] << 2 | 1", 13),
        ("value['tags'][0], value['tags'][-1], value['tags'][::-1]", ("a", "b", ["b", "a"])),
        ("value['meta']['src']", "x"),
        ("value.get('missing', 0) + value.get('qty')", 3),
        ("sorted(value.keys())", ["meta", "price", "qty", "sym", "tags"]),
        ("list(value['meta'].items())", [("src", "x")]),
        ("len(value['tags']) + len(value)", 7),
        ("value['sym'].strip().lower()", "acme"),
        ("value['sym'].strip().startswith('AC')", True),
        ("value['sym'].split()", ["ACME"]),
        ("'-'.join(value['tags'])", "a-b"),
        ("value['sym'].replace(' ', '')", "ACME"),
        ("value['sym'].strip().ljust(6, '.')", "ACME.."),
        ("'-' * 5", "-----"),
        ("value['tags'] + ['c']", ["a", "b", "c"]),
        ("'big' if value['price'] > 100 else 'small'", "big"),
        ("abs(-2), min(3, 1), max(value['tags']), round(2.567, 2)", (2, 1, "b", 2.57)),
        ("sum([1, 2, 3.5]), any([0, 1]), all([1, 0])", (6.5, True, False)),
        ("str(value['qty']) + '!', int('7'), float('1.5'), bool('')", ("3!", 7, 1.5, False)),
        ("sum(range(5)), list(range(1, 7, 2))", (10, [1, 3, 5])),
        (
            "dict(zip(['a', 'b'], [1, 2])), list(enumerate('xy'))",
            ({"a": 1, "b": 2}, [(0, "x"), (1, "y")]),
        ),
        ("list(reversed(value['tags'])), set(value['tags']) == {'a', 'b'}", (["b", "a"], True)),
        ("sorted(value['tags'], key=len, reverse=True)", ["a", "b"]),
        (
            "f\"{value['sym'].strip()}: {value['price']:.2f} x{value['qty']:>3}\"",
            "ACME: 120.50 x  3",
        ),
        ("f'{value[\"tags\"]!r}'", "['a', 'b']"),
        ("'3'.isdigit(), 'Ab'.upper(), (1.0).is_integer()", (True, "AB", True)),
        ("None", None),
    ],
)
def test_normal_expressions(text: str, expected: Any) -> None:
    assert evaluate(text) == expected


def test_a_mapper_builds_new_values() -> None:
    text = (
        "{'sym': value['sym'].strip(), 'total': value['price'] * value['qty'], "
        "'tags': [*value['tags'], 'seen'], **value['meta']}"
    )
    assert evaluate(text) == {"sym": "ACME", "total": 361.5, "tags": ["a", "b", "seen"], "src": "x"}


def test_the_packet_metadata_is_visible() -> None:
    packet = DataPacket({"x": 1}, origin_node="src", schema_version="2.1.0")
    names = expression_names(packet)
    assert names == {"value": {"x": 1}, "packet": packet}
    text = "[packet.trace_id, packet.packet_id, packet.origin_node, packet.schema_version]"
    assert compile_expression(text).evaluate(names) == [
        packet.trace_id,
        packet.packet_id,
        "src",
        "2.1.0",
    ]
    assert compile_expression("packet.timestamp > 0 and packet.parents == ()").evaluate(names)


def test_the_expression_is_compiled_once_and_reused() -> None:
    expression = compile_expression("value * 2")
    assert isinstance(expression, Expression)
    assert [expression.evaluate({"value": v, "packet": None}) for v in (1, 2.5, "ab")] == [
        2,
        5.0,
        "abab",
    ]
    assert expression == compile_expression("value * 2")
    assert expression.text == "value * 2"


def test_test_gives_the_truth_of_the_value() -> None:
    assert compile_expression("value").test({"value": [1], "packet": None}) is True
    assert compile_expression("value").test({"value": "", "packet": None}) is False
    with pytest.raises(EvaluationError, match="gave a ndarray with no truth value"):
        compile_expression("value > 1").test({"value": np.array([1, 2]), "packet": None})


def test_other_variables_can_be_declared() -> None:
    expression = compile_expression("x + y", variables=["x", "y"])
    assert expression.evaluate({"x": 1, "y": 2}) == 3
    with pytest.raises(ExpressionError, match="unknown name 'value'; it can use x"):
        compile_expression("value", variables=["x"])


def test_the_budget_is_per_evaluation() -> None:
    expression = compile_expression("len('a' * 300_000)")
    assert [expression.evaluate({}) for _ in range(3)] == [300_000] * 3
    with pytest.raises(EvaluationError) as info:
        compile_expression("len(('a' * 300_000) + ('a' * 300_000))").evaluate({})
    assert str(info.value).endswith(
        "was stopped: 300,000 repetitions of a str of length 1 would build about 300,000 "
        f"items or characters, more than the 200,000 left of the {MAX_BUILD:,} an "
        "evaluation may build"
    )


# --- what fails, and how -----------------------------------------------------------------------


def test_compile_refusals_name_the_expression_and_the_reason() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("x.__class__", variables=["x"])
    assert str(info.value) == (
        "expression 'x.__class__' uses attribute '__class__': names starting with '_' are "
        "not allowed"
    )
    assert info.value.expression == "x.__class__"
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, EvaluationError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("value >", "expression 'value >' is not a valid expression: invalid syntax"),
        ("open('x')", "calls 'open', which is not a safe function; the safe functions are abs,"),
        ("nope + 1", "uses unknown name 'nope'; it can use packet, value and the safe functions"),
        ("value.pop()", "uses attribute 'pop', which is not allowed"),
        ("'{}'.format(1)", "uses attribute 'format': format strings can reach attributes"),
        ("[x for x in value]", "uses a list comprehension: comprehensions are refused"),
        ("lambda: 1", "uses a lambda"),
        ("(y := 1)", "uses ':='"),
        ("value['f']()", "calls \"value['f']\": only the safe functions and allowed methods"),
        ("sorted(value, key=','.join)", "uses method 'join' without calling it"),
        ("f'{value:>10000}'", "widths and precisions may have at most 3 digits"),
        ("b'x'", "uses a constant of type bytes"),
        ("[" * 120 + "]" * 120, "is nested more than 100 levels deep"),
        ("'" + "a" * MAX_LENGTH + "'", f"is 10,002 characters long; the limit is {MAX_LENGTH:,}"),
        ("-" * 5000 + "1", "is not a valid expression: too deeply nested"),
        ("dict(_x=1)", "uses keyword '_x': names starting with '_' are not allowed"),
    ],
)
def test_compile_refusals(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=None) as info:
        compile_expression(text)
    assert message in str(info.value)
    assert not isinstance(info.value, EvaluationError)


@pytest.mark.parametrize(
    ("text", "cause", "message"),
    [
        ("value['missing']", KeyError, "failed: KeyError: 'missing'"),
        ("value['qty'] / 0", ZeroDivisionError, "failed: ZeroDivisionError: division by zero"),
        ("value['sym'] + 1", TypeError, "failed: TypeError: can only concatenate str"),
        ("int(value['sym'])", ValueError, "failed: ValueError: invalid literal for int()"),
        ("value['tags'][5]", IndexError, "failed: IndexError: list index out of range"),
    ],
)
def test_evaluation_errors_name_the_expression_and_keep_the_cause(
    text: str, cause: type[Exception], message: str
) -> None:
    with pytest.raises(EvaluationError) as info:
        evaluate(text)
    assert str(info.value).startswith(f"expression {text!r} {message}")
    assert isinstance(info.value.__cause__, cause)
    assert info.value.expression == text


def test_limits_stop_the_evaluation_before_the_allocation() -> None:
    with pytest.raises(EvaluationError) as info:
        evaluate("'a' * 10**10")
    assert str(info.value) == (
        "expression \"'a' * 10**10\" was stopped: 10,000,000,000 repetitions of a str of "
        "length 1 would build about 10,000,000,000 items or characters; an evaluation may "
        f"build {MAX_BUILD:,}"
    )
    with pytest.raises(EvaluationError, match="would make an integer of about 1,228,093,894 bits"):
        evaluate("9**9**9")


def test_errors_survive_pickling() -> None:
    error = EvaluationError("expression 'x' failed: boom", "x")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.expression) == (EvaluationError, str(error), "x")


# --- the escape corpus -----------------------------------------------------------------------


def test_the_corpus_is_big_enough() -> None:
    assert len(ESCAPES) >= 30
    assert len(set(ESCAPES)) == len(ESCAPES)


@pytest.mark.parametrize("text", ESCAPES, ids=[f"{i:03d}:{t[:40]}" for i, t in enumerate(ESCAPES)])
def test_every_escape_is_refused_quickly(text: str) -> None:
    names = expression_names(DataPacket(dict(TICK), origin_node="src"))
    started = time.perf_counter()
    with pytest.raises(ExpressionError):
        compile_expression(text).evaluate(names)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.1, f"refusing {text[:60]!r} took {elapsed:.3f} s"  # a safety bound


# --- text from a graph file never runs code -----------------------------------------------------


def test_nothing_runs_when_an_expression_is_compiled(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    attempts = [
        f"open({str(marker)!r}, 'w').write('x')",
        f"__import__('pathlib').Path({str(marker)!r}).touch()",
        f"[open({str(marker)!r}, 'w') for _ in range(1)]",
        f"exec(\"open({str(marker)!r}, 'w')\")",
    ]
    for text in attempts:
        with pytest.raises(ExpressionError):
            compile_expression(text)
    assert not marker.exists()
    # compiling evaluates nothing: a failing expression is accepted, and fails only when run
    expression = compile_expression("1 / 0")
    with pytest.raises(EvaluationError):
        expression.evaluate({})


def test_the_names_mapping_cannot_bring_builtins_back() -> None:
    names = {"value": 1, "packet": None, "__builtins__": __builtins__, "open": open}
    with pytest.raises(ExpressionError, match="calls 'open'"):
        compile_expression("open('/etc/passwd')")
    assert compile_expression("value + 1").evaluate(names) == 2


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ExpressionError, match="an expression must be a string; got int"):
        compile_expression(42)  # type: ignore[arg-type]
