"""nodekit, the helpers node packs share: the format table and the settings checks.

``nodekit.web`` is proven through the HTTP nodes against a real aiohttp server
(``tests/nodes/test_http_request.py``, ``test_http_poller.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dataflow_jupyter import NodeSpec, PureNode
from dataflow_jupyter.nodekit.settings import column_names, settings_where
from dataflow_jupyter.nodekit.tables import EXTENSIONS, FORMATS, csv_delimiter, format_for

WHERE = "settings of n 1.0.0 (node 'x')"


@pytest.mark.parametrize(
    ("name", "reading", "writing"),
    [
        ("a.csv", "csv", "csv"),
        ("a.TSV", "csv", None),
        ("a.parquet", "parquet", "parquet"),
        ("a.pq", "parquet", "parquet"),
        ("a.jsonl", "jsonl", "jsonl"),
        ("a.ndjson", "jsonl", "jsonl"),
        ("a.json", "jsonl", "jsonl"),
        ("a.txt", None, None),
        ("a", None, None),
    ],
)
def test_auto_tells_the_format_by_extension(
    name: str, reading: str | None, writing: str | None
) -> None:
    for writes, expected in ((False, reading), (True, writing)):
        if expected is None:
            with pytest.raises(ValueError, match="format 'auto' cannot tell") as caught:
                format_for(Path(name), "auto", where=WHERE, writing=writes)
            assert str(caught.value).startswith(f"{WHERE}: ")
            assert str(caught.value).endswith("set format to csv, parquet or jsonl")
        else:
            assert format_for(Path(name), "auto", where=WHERE, writing=writes) == expected


def test_a_format_setting_wins_over_the_extension() -> None:
    assert format_for(Path("a.tsv"), "parquet", where=WHERE, writing=True) == "parquet"
    assert {known.name for known in EXTENSIONS.values()} == set(FORMATS)


def test_the_csv_delimiter_follows_the_extension() -> None:
    assert csv_delimiter(Path("a.tsv")) == "\t"
    assert [csv_delimiter(Path(p)) for p in ("a.csv", "a.txt", "a")] == [",", ",", ","]


def test_column_names() -> None:
    assert column_names("sym", setting="by", where=WHERE, example="x") == ["sym"]
    assert column_names(["a", "b"], setting="by", where=WHERE, example="x") == ["a", "b"]
    with pytest.raises(ValueError, match="must be a column name or a non-empty list") as caught:
        column_names(["a", "a"], setting="by", where=WHERE, example='["a"]')
    assert str(caught.value) == (
        f"{WHERE}: 'by' must be a column name or a non-empty list of distinct column names, "
        """e.g. ["a"]; got ['a', 'a']"""
    )
    for bad in ("sym", [], [1], None):
        with pytest.raises(ValueError, match="'cols' must be a non-empty list of distinct"):
            column_names(bad, setting="cols", where=WHERE, example="x", one_name=False)


def test_settings_where_names_type_version_and_node() -> None:
    class Node(PureNode):
        spec = NodeSpec.model_validate(
            {"id": "my-node", "version": "2.1.0", "category": "Test", "name": "My node"}
        )

        def process(self, inputs: Any, ctx: Any) -> None:
            return None

    assert settings_where(Node("n7")) == "settings of my-node 2.1.0 (node 'n7')"
