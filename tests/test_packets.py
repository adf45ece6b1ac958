from __future__ import annotations

import dataclasses

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataflow_jupyter import BinaryRef, DataPacket, ErrorCode, ErrorPacket
from dataflow_jupyter.packets import RemoteTable

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


def test_packets_are_frozen() -> None:
    packet = DataPacket({"a": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        packet.value = 2  # type: ignore[misc]


def test_derive_keeps_trace_and_links_parent() -> None:
    source = DataPacket({"a": 1}, origin_node="src")
    child = source.derive({"a": 2}, origin_node="map")
    assert child.trace_id == source.trace_id
    assert child.parents == (source.packet_id,)
    assert child.packet_id != source.packet_id
    assert child.origin_node == "map"
    assert child.value == {"a": 2}
    assert source.value == {"a": 1}


def test_new_packets_start_new_traces_with_unique_ids() -> None:
    packets = [DataPacket(i) for i in range(1000)]
    assert len({p.trace_id for p in packets}) == 1000
    assert len({p.packet_id for p in packets}) == 1000


def test_derive_from_several_parents() -> None:
    a, b = DataPacket(1), DataPacket(2)
    joined = a.derive(3, parents=[a.packet_id, b.packet_id])
    assert joined.parents == (a.packet_id, b.packet_id)


def test_derive_shares_a_100_mb_table_without_copying() -> None:
    table = pa.table({"x": pa.array(range(100 * 1024 * 1024 // 8), type=pa.int64())})
    assert table.nbytes >= 100 * 1024 * 1024
    address = table.column("x").chunk(0).buffers()[1].address
    before = pa.total_allocated_bytes()
    packet = DataPacket(binary_value=table)
    for hop in range(10):
        packet = packet.derive(origin_node=f"n{hop}")
    assert packet.binary_value is table
    assert packet.binary_value.column("x").chunk(0).buffers()[1].address == address
    assert pa.total_allocated_bytes() - before < 1024 * 1024


def test_to_pandas_of_a_table() -> None:
    table = pa.table({"price": [1.5, 2.5], "sym": ["a", "b"]})
    frame = DataPacket(binary_value=table).to_pandas()
    pd.testing.assert_frame_equal(frame, table.to_pandas())


def test_to_pandas_of_a_record_batch_and_a_buffer() -> None:
    batch = pa.record_batch({"x": [1, 2]})
    assert DataPacket(binary_value=batch).to_pandas()["x"].tolist() == [1, 2]
    frame = DataPacket(binary_value=pa.py_buffer(b"abc")).to_pandas()
    assert frame["bytes"].tolist() == [b"abc"]


def test_to_pandas_of_a_dict_is_one_row() -> None:
    frame = DataPacket({"a": 1, "b": "x"}).to_pandas()
    assert frame.to_dict("records") == [{"a": 1, "b": "x"}]


def test_to_pandas_of_a_list_of_dicts_is_rows() -> None:
    frame = DataPacket([{"a": 1}, {"a": 2}]).to_pandas()
    assert frame["a"].tolist() == [1, 2]


def test_to_pandas_of_a_scalar_and_a_list_of_scalars() -> None:
    assert DataPacket(42).to_pandas().to_dict("records") == [{"value": 42}]
    assert DataPacket([1, 2, 3]).to_pandas()["value"].tolist() == [1, 2, 3]
    assert DataPacket(None).to_pandas().empty


def test_binary_ref_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    table = pa.table({"x": [1, 2, 3]})
    ref = BinaryRef.write(table, tmp_path / "t.arrow")  # type: ignore[operator]
    assert ref.num_rows == 3
    assert ref.read().equals(table)
    assert DataPacket(binary_value=ref).to_pandas()["x"].tolist() == [1, 2, 3]


def test_binary_ref_to_a_missing_file_names_it(tmp_path: pytest.TempPathFactory) -> None:
    ref = BinaryRef(str(tmp_path / "gone.arrow"))  # type: ignore[operator]
    with pytest.raises(FileNotFoundError, match=r"gone\.arrow"):
        ref.read()


def test_error_packet_from_exception_keeps_traceback_and_input() -> None:
    failed = DataPacket({"a": 1})
    try:
        _ = 1 / 0
    except ZeroDivisionError as exc:
        error = ErrorPacket.from_exception(exc, node_id="div", packet=failed, recoverable=True)
    assert error.code is ErrorCode.NODE_EXCEPTION
    assert error.trace_id == failed.trace_id
    assert error.packet is failed
    assert error.recoverable
    assert "ZeroDivisionError" in error.details["traceback"]
    record = error.to_dict()
    assert record["code"] == "NODE_EXCEPTION"
    assert record["failed_packet_id"] == failed.packet_id
    assert error.to_pandas().loc[0, "node_id"] == "div"


@given(json_values)
def test_any_json_value_becomes_a_frame(value: object) -> None:
    frame = DataPacket(value).to_pandas()
    assert isinstance(frame, pd.DataFrame)


def test_table_gives_the_payload_as_an_arrow_table(tmp_path: pytest.TempPathFactory) -> None:
    table = pa.table({"x": [1, 2]})
    assert DataPacket(binary_value=table).table() is table
    assert DataPacket(binary_value=table.to_batches()[0]).table().equals(table)
    ref = BinaryRef.write(table, tmp_path / "t.arrow")  # type: ignore[operator]
    assert DataPacket(binary_value=ref).table().equals(table)
    assert DataPacket([{"x": 1}, {"x": 2}]).table().equals(table)
    assert DataPacket({"x": 1}).table() is None
    assert DataPacket(binary_value=pa.py_buffer(b"x")).table() is None


class HeldElsewhere(RemoteTable):
    """A ``RemoteTable`` whose data is here, counting how often it is read."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self.num_rows = table.num_rows
        self.nbytes = table.nbytes
        self.schema = table.schema
        self.reads = 0

    def read(self) -> pa.Table:
        self.reads += 1
        return self._table


def test_a_remote_table_is_described_without_reading_and_read_on_demand() -> None:
    remote = HeldElsewhere(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}))
    packet = DataPacket(binary_value=remote)
    assert "<remote table 3 rows x 2 columns, 39 bytes: a: int64, b: string>" in repr(packet)
    assert remote.reads == 0
    assert packet.table() == remote.read()
    assert packet.to_pandas()["b"].tolist() == ["x", "y", "z"]
    assert remote.reads == 3


def test_an_error_from_elsewhere_keeps_its_original_type_and_traceback() -> None:
    class CarriedError(Exception):
        exception_type = "KeyError"
        traceback = "Traceback (most recent call last):\n  ...\nKeyError: 'sym'\n"

    error = ErrorPacket.from_exception(CarriedError("'sym'"), node_id="n")
    assert error.details == {"exception_type": "KeyError", "traceback": CarriedError.traceback}
    assert error.message == "'sym'"


def test_a_remote_table_type_must_say_how_to_read_it() -> None:
    from dataflow_jupyter.packets import RemoteTable

    with pytest.raises(TypeError, match=r"must define read\(\)"):

        class Unreadable(RemoteTable):  # pragma: no cover - refused when defined
            pass
