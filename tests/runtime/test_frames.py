"""frame_of and frame_page: packets as a DataFrame, whole or a page at a time."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from dataflow_jupyter.packets import BinaryRef, DataPacket
from dataflow_jupyter.runtime.frames import METADATA_COLUMNS, frame_of, frame_page


def packets(tmp_path_factory: pytest.TempPathFactory) -> list[DataPacket]:
    """One of each payload shape: a table, rows, a scalar, nothing, an empty table, a ref."""
    table = pa.table({"a": list(range(7)), "b": [f"r{i}" for i in range(7)]})
    ref = BinaryRef.write(table.slice(2, 3), tmp_path_factory.mktemp("ref") / "t.arrow")
    return [
        DataPacket(None, binary_value=table, origin_node="src"),
        DataPacket([{"a": 10, "b": "x"}, {"a": 11, "b": "y"}], origin_node="src"),
        DataPacket(42, origin_node="src"),
        DataPacket(None, origin_node="src"),
        DataPacket(None, binary_value=table.slice(0, 0), origin_node="src"),
        DataPacket(None, binary_value=ref, origin_node="src"),
        DataPacket(None, binary_value=table.to_batches()[0].slice(5), origin_node="src"),
    ]


@pytest.mark.parametrize(("offset", "limit"), [(0, 5), (5, 5), (6, 3), (0, 100), (13, 4), (30, 5)])
def test_a_page_is_the_same_rows_as_the_whole_frame(
    tmp_path_factory: pytest.TempPathFactory, offset: int, limit: int
) -> None:
    sent = packets(tmp_path_factory)
    whole = frame_of(sent)
    page, total = frame_page(sent, offset, limit)
    assert total == len(whole) == 7 + 2 + 1 + 1 + 1 + 3 + 2
    expected = whole.iloc[offset : offset + limit].reset_index(drop=True)
    pd.testing.assert_frame_equal(page, expected[list(page.columns)], check_dtype=False)
    assert list(page.columns)[: len(METADATA_COLUMNS)] == list(METADATA_COLUMNS)


def test_no_packets_give_the_metadata_columns_and_no_rows() -> None:
    page, total = frame_page([], 0, 10)
    assert (list(page.columns), len(page), total) == (list(METADATA_COLUMNS), 0, 0)
