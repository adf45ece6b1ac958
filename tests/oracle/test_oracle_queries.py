"""Queries over real data sets (tests/data), each at batch sizes 1, 7, 100 and 65,536, against
pandas on the same file. See ``_oracle`` for how answers are compared."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from _oracle import BATCH_SIZES, DATA, Query, answer, assert_same, read

if TYPE_CHECKING:
    from collections.abc import Callable

    from dataflow_jupyter import Graph


def chain(graph: Graph, first: str, *steps: tuple[str, dict[str, Any]]) -> str:
    """``first`` -> each (type, settings) in turn, ``out`` to ``in``; the last node's id."""
    previous = first
    for index, (type_id, settings) in enumerate(steps):
        node = graph.add_node(type_id, settings=settings, id=f"{type_id}{index}")
        graph.connect(previous, "out", node, "in")
        previous = node
    return previous


def join(graph: Graph, left: str, right: str, **settings: Any) -> str:
    node = graph.add_node("join", settings=settings, id="join")
    graph.connect(left, "out", node, "left")
    graph.connect(right, "out", node, "right")
    return node


def agg(keys: list[str], *specs: tuple[str | None, str], **options: Any) -> dict[str, Any]:
    aggregations = [{"op": op} if c is None else {"column": c, "op": op} for c, op in specs]
    return {"keys": keys, "aggregations": aggregations, **options}


PANDAS_OP = {"count_distinct": "nunique", "stddev": "std", "variance": "var", "product": "prod"}
PANDAS_OP |= {"count_all": "size", "distinct": "unique"}


def pandas_agg(frame: pd.DataFrame, keys: list[str], *specs: tuple[str | None, str]) -> Any:
    named = {}
    for column, op in specs:
        name = "count_all" if column is None else f"{column}_{op}"
        function: Any = list if op == "list" else PANDAS_OP.get(op, op)
        named[name] = (column or keys[0], function)
    if not keys:
        return pd.DataFrame({name: [frame[c].agg(f)] for name, (c, f) in named.items()})
    return frame.groupby(keys).agg(**named).reset_index()


NUMBER_OPS = ["sum", "mean", "min", "max", "count", "count_distinct", "stddev", "variance"]
NUMBER_OPS += ["first", "last", "list", "distinct"]
TEXT_OPS = ["min", "max", "count", "count_distinct", "first", "last", "list", "distinct"]
MASS = [("body_mass_g", op) for op in NUMBER_OPS]
SEX = [("sex", op) for op in TEXT_OPS]


def penguins() -> pd.DataFrame:
    return read("penguins.csv")


def stocks() -> pd.DataFrame:
    return read("stocks.csv")


def weather() -> pd.DataFrame:
    return read("seattle-weather.csv")


def gapminder() -> pd.DataFrame:
    return read("gapminder.csv")


QUERIES = [
    Query(
        "penguins-filter-select",
        lambda g, src: chain(
            g,
            src("penguins.csv"),
            ("filter-rows", {"expression": "bill_length_mm > 45 and sex == 'female'"}),
            ("select-columns", {"columns": ["island", "bill_length_mm", "year"]}),
        ),
        lambda: penguins().query("bill_length_mm > 45 and sex == 'female'")[
            ["island", "bill_length_mm", "year"]
        ],
    ),
    Query(
        "penguins-na-rows",
        lambda g, src: chain(
            g, src("penguins.csv"), ("filter-rows", {"expression": "is_null(sex)"})
        ),
        lambda: penguins()[penguins()["sex"].isna()],
    ),
    Query(
        "penguins-not-comparison-keeps-nulls",
        lambda g, src: chain(
            g,
            src("penguins.csv"),
            ("filter-rows", {"expression": "not (bill_length_mm > 45) and sex != 'male'"}),
        ),
        lambda: penguins()[~(penguins()["bill_length_mm"] > 45) & (penguins()["sex"] != "male")],
    ),
    Query(
        "penguins-group-every-number-op",
        lambda g, src: chain(
            g,
            src("penguins.csv"),
            ("aggregate", agg(["species", "island"], *MASS, (None, "count_all"))),
        ),
        lambda: pandas_agg(penguins(), ["species", "island"], *MASS, (None, "count_all")),
    ),
    Query(
        "penguins-group-every-text-op",
        lambda g, src: chain(g, src("penguins.csv"), ("aggregate", agg(["island"], *SEX))),
        lambda: pandas_agg(penguins(), ["island"], *SEX),
    ),
    Query(
        "penguins-group-by-a-key-with-nulls",
        lambda g, src: chain(
            g,
            src("penguins.csv"),
            (
                "aggregate",
                agg(["species", "sex"], ("flipper_length_mm", "mean"), (None, "count_all")),
            ),
        ),
        lambda: pandas_agg(
            penguins(), ["species", "sex"], ("flipper_length_mm", "mean"), (None, "count_all")
        ),
    ),
    Query(
        "penguins-whole-table",
        lambda g, src: chain(
            g,
            src("penguins.csv"),
            (
                "aggregate",
                agg([], ("bill_depth_mm", "mean"), ("year", "sum"), ("species", "count_distinct")),
            ),
        ),
        lambda: pandas_agg(
            penguins(),
            [],
            ("bill_depth_mm", "mean"),
            ("year", "sum"),
            ("species", "count_distinct"),
        ),
    ),
    Query(
        "penguins-sort-nulls-first",
        lambda g, src: chain(
            g,
            src("penguins.csv"),
            (
                "sort",
                {
                    "by": ["sex", "bill_length_mm"],
                    "ascending": [True, False],
                    "naPosition": "first",
                },
            ),
        ),
        lambda: penguins().sort_values(
            ["sex", "bill_length_mm"], ascending=[True, False], na_position="first", kind="stable"
        ),
    ),
    Query(
        "penguins-head-after-filter",
        lambda g, src: chain(
            g,
            src("penguins.csv"),
            ("filter-rows", {"expression": "island == 'Dream'"}),
            ("head", {"n": 10}),
        ),
        lambda: penguins().query("island == 'Dream'").head(10),
    ),
    Query(
        "penguins-collect-columns",
        lambda g, src: chain(
            g, src("penguins.csv", columns=["year", "sex", "species"]), ("collect", {})
        ),
        lambda: read("penguins.csv", usecols=["year", "sex", "species"]),
    ),
    Query(
        "stocks-group-by-symbol",
        lambda g, src: chain(
            g,
            src("stocks.csv"),
            (
                "aggregate",
                agg(
                    ["symbol"],
                    *[("price", op) for op in ("mean", "min", "max", "first", "last", "stddev")],
                    (None, "count_all"),
                ),
            ),
        ),
        lambda: pandas_agg(
            stocks(),
            ["symbol"],
            *[("price", op) for op in ("mean", "min", "max", "first", "last", "stddev")],
            (None, "count_all"),
        ),
    ),
    Query(
        "weather-chain",
        lambda g, src: chain(
            g,
            src("seattle-weather.csv"),
            ("filter-rows", {"expression": "temp_max > 20"}),
            (
                "aggregate",
                agg(["weather"], (None, "count_all"), ("wind", "mean"), ("precipitation", "max")),
            ),
            ("sort", {"by": ["count_all", "weather"], "ascending": [False, True]}),
            ("head", {"n": 3}),
        ),
        lambda: (
            pandas_agg(
                weather().query("temp_max > 20"),
                ["weather"],
                (None, "count_all"),
                ("wind", "mean"),
                ("precipitation", "max"),
            )
            .sort_values(["count_all", "weather"], ascending=[False, True], kind="stable")
            .head(3)
        ),
    ),
    Query(
        "gapminder-group-by-two-keys",
        lambda g, src: chain(
            g,
            src("gapminder.csv"),
            (
                "aggregate",
                agg(
                    ["continent", "year"],
                    ("pop", "sum"),
                    ("lifeExp", "mean"),
                    ("gdpPercap", "variance"),
                ),
            ),
        ),
        lambda: pandas_agg(
            gapminder(),
            ["continent", "year"],
            ("pop", "sum"),
            ("lifeExp", "mean"),
            ("gdpPercap", "variance"),
        ),
    ),
]


def _stock_join(how: str) -> Query:
    """GOOG (left; starts in 2004) with the months IBM traded over 100 (right, in batches)."""

    def build(g: Graph, src: Callable[..., str]) -> str:
        left = chain(g, src("stocks.csv"), ("filter-rows", {"expression": "symbol == 'GOOG'"}))
        right = g.add_node(
            "filter-rows", settings={"expression": "symbol == 'IBM' and price > 100"}, id="ibm"
        )
        g.connect(src("stocks.csv"), "out", right, "in")
        return join(g, left, right, keys="date", how=how)

    def expected() -> pd.DataFrame:
        frame = stocks()
        left = frame[frame["symbol"] == "GOOG"]
        right = frame[(frame["symbol"] == "IBM") & (frame["price"] > 100)]
        return left.merge(right, how=how, on="date")

    return Query(f"stocks-join-{how}", build, expected, sort_rows=how in ("right", "outer"))


def _gapminder_chain() -> Query:
    """2007 rows joined with continent means computed by an aggregate, then sorted."""

    def build(g: Graph, src: Callable[..., str]) -> str:
        left = chain(g, src("gapminder.csv"), ("filter-rows", {"expression": "year == 2007"}))
        means = chain(
            g, src("gapminder.csv"), ("aggregate", agg(["continent"], ("lifeExp", "mean")))
        )
        joined = join(g, left, means, keys="continent", how="left")
        return chain(
            g, joined, ("sort", {"by": ["continent", "lifeExp"], "ascending": [True, False]})
        )

    def expected() -> pd.DataFrame:
        frame = gapminder()
        means = pandas_agg(frame, ["continent"], ("lifeExp", "mean"))
        joined = frame[frame["year"] == 2007].merge(means, how="left", on="continent")
        return joined.sort_values(["continent", "lifeExp"], ascending=[True, False], kind="stable")

    return Query("gapminder-join-aggregate-sort", build, expected)


QUERIES += [_stock_join(how) for how in ("inner", "left", "right", "outer")]
QUERIES += [_gapminder_chain()]


@pytest.fixture(autouse=True)
def data_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """read-file reads only under the data root: the data sets' folder."""
    monkeypatch.setenv("DATAFLOW_DATA_ROOT", str(DATA))


@pytest.mark.parametrize("batch_rows", BATCH_SIZES)
@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_the_graph_answers_as_pandas(query: Query, batch_rows: int) -> None:
    assert_same(answer(query, batch_rows), query.pandas(), sort_rows=query.sort_rows)
