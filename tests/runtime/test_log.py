"""ExecutionLog: recording, bounds, trace, summary and the file sink."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
import pyarrow.ipc
import pytest

from dataflow_jupyter.runtime.log import EVENT_COLUMNS, ExecutionLog

MS = 1_000_000  # ns


def record_lineage(log: ExecutionLog) -> None:
    """Source packet -> firing at b -> packet -> firing at c, plus noise from another trace."""
    log.record_packet("p1", "t1", "a", "out", 1_000 * MS, 100, (), None)
    log.record_packet("q1", "t2", "a", "out", 1_001 * MS, 100, (), None)
    # The scheduler records a firing when it ends, so after the packets it emitted.
    log.record_packet("p2", "t1", "b", "out", 1_007 * MS, 50, ("p1",), 1)
    log.record_firing(1, "b", "t1", ("p1",), 1_002 * MS, 1_008 * MS, "ok", 1)
    log.record_firing(2, "b", "t2", ("q1",), 1_003 * MS, 1_004 * MS, "filtered", 1)
    log.record_firing(3, "c", "t1", ("p2",), 1_010 * MS, 1_013 * MS, "retry", 1, "boom")
    log.record_firing(4, "c", "t1", ("p2",), 1_014 * MS, 1_020 * MS, "ok", 2)


def test_to_pandas_has_every_column_in_time_order() -> None:
    log = ExecutionLog()
    record_lineage(log)

    frame = log.to_pandas()

    assert tuple(frame.columns) == EVENT_COLUMNS
    assert len(log) == len(frame) == 7
    assert frame["timestamp_ns"].is_monotonic_increasing
    assert frame["kind"].tolist() == [
        "packet",
        "packet",
        "firing",
        "firing",
        "packet",
        "firing",
        "firing",
    ]
    firing = frame[frame["firing_id"] == 1].iloc[0]
    assert firing["kind"] == "firing"
    assert firing["duration_ms"] == pytest.approx(6.0)
    assert firing["inputs"] == ("p1",)
    assert firing["status"] == "ok"
    assert pd.isna(firing["packet_id"])
    packet = frame[frame["packet_id"] == "p2"].iloc[0]
    assert packet["parents"] == ("p1",)
    assert packet["size_bytes"] == 50
    assert packet["firing_id"] == 1
    assert math.isnan(packet["duration_ms"])


def test_firings_and_packets_split_the_events() -> None:
    log = ExecutionLog()
    record_lineage(log)

    firings = log.firings()
    packets = log.packets()

    assert firings["firing_id"].tolist() == [1, 2, 3, 4]
    assert firings["duration_ms"].tolist() == pytest.approx([6.0, 1.0, 3.0, 6.0])
    assert firings["error"].tolist()[2] == "boom"
    assert "packet_id" not in firings.columns
    assert packets["packet_id"].tolist() == ["p1", "q1", "p2"]
    assert packets["port"].tolist() == ["out"] * 3
    assert "status" not in packets.columns


def test_an_empty_log_gives_empty_frames_with_columns() -> None:
    log = ExecutionLog()

    assert tuple(log.to_pandas().columns) == EVENT_COLUMNS
    assert log.to_pandas().empty
    assert log.trace("nope").empty
    assert log.summary().empty
    assert list(log.summary().columns) == [
        "firings",
        "packets_out",
        "errors",
        "retries",
        "p50_ms",
        "p95_ms",
        "mean_ms",
    ]


def test_memory_is_bounded_and_keeps_the_newest() -> None:
    log = ExecutionLog(max_events=10)
    for i in range(25):
        log.record_packet(f"p{i}", "t", "a", "out", i, 1, (), None)

    assert len(log) == 10
    assert log.dropped == 15
    assert log.packets()["packet_id"].tolist() == [f"p{i}" for i in range(15, 25)]

    log.clear()
    assert len(log) == 0
    assert log.dropped == 0


def test_trace_follows_one_input_through_the_graph() -> None:
    log = ExecutionLog()
    record_lineage(log)

    trace = log.trace("t1")

    assert list(zip(trace["kind"], trace["node_id"], strict=True)) == [
        ("packet", "a"),
        ("firing", "b"),
        ("packet", "b"),
        ("firing", "c"),
        ("firing", "c"),
    ]
    assert trace["packet_id"].iloc[[0, 2]].tolist() == ["p1", "p2"]
    assert pd.isna(trace["firing_id"].iloc[0])  # a source packet, outside any firing
    assert trace["firing_id"].iloc[1:].tolist() == [1, 1, 3, 4]
    assert trace["status"].iloc[[1, 3, 4]].tolist() == ["ok", "retry", "ok"]
    assert trace["attempt"].iloc[[3, 4]].tolist() == [1, 2]
    durations = trace["duration_ms"].tolist()
    assert durations[1] == pytest.approx(6.0)
    assert durations[3] == pytest.approx(3.0)
    assert durations[4] == pytest.approx(6.0)
    assert trace["offset_ms"].tolist() == pytest.approx([0.0, 2.0, 7.0, 10.0, 14.0])
    assert trace["start_ns"].iloc[1] == 1_002 * MS
    assert trace["end_ns"].iloc[4] == 1_020 * MS


def test_trace_includes_a_firing_of_another_trace_that_consumed_its_packet() -> None:
    log = ExecutionLog()
    log.record_packet("p1", "t1", "a", "out", 10, 1, (), None)
    log.record_packet("q1", "t2", "a", "out", 11, 1, (), None)
    log.record_firing(1, "join", None, ("q1", "p1"), 20, 30, "ok", 1)

    assert log.trace("t1")["kind"].tolist() == ["packet", "firing"]
    assert log.trace("t2")["kind"].tolist() == ["packet", "firing"]


def test_summary_counts_and_latency_percentiles() -> None:
    log = ExecutionLog()
    for i in range(1, 101):  # durations 1..100 ms
        start = i * 1_000 * MS
        log.record_firing(i, "slow", f"t{i}", (f"p{i}",), start, start + i * MS, "ok", 1)
        log.record_packet(f"o{i}", f"t{i}", "slow", "out", start + 1, 10, (f"p{i}",), i)
    log.record_firing(101, "slow", "x", ("px",), 0, 10_000 * MS, "retry", 1, "boom")
    log.record_firing(102, "slow", "x", ("px",), 0, 10_000 * MS, "dead_letter", 2, "boom")
    log.record_firing(103, "other", "y", ("py",), 0, 2 * MS, "error", 1, "bad")
    log.record_packet("s1", "t0", "source", "out", 0, 10, (), None)

    summary = log.summary()

    assert summary.index.name == "node_id"
    assert sorted(summary.index) == ["other", "slow", "source"]
    slow = summary.loc["slow"]
    assert slow["firings"] == 102
    assert slow["packets_out"] == 100
    assert slow["errors"] == 1
    assert slow["retries"] == 1
    assert slow["p50_ms"] == pytest.approx(50.5)
    assert slow["p95_ms"] == pytest.approx(95.05)
    assert slow["mean_ms"] == pytest.approx(50.5)
    other = summary.loc["other"]
    assert (other["firings"], other["errors"], other["packets_out"]) == (1, 1, 0)
    assert math.isnan(other["p50_ms"])  # no ok/filtered firing: no latency
    assert summary.loc["source", "packets_out"] == 1
    assert summary.loc["source", "firings"] == 0
    assert summary["firings"].dtype == "int64"


@pytest.mark.parametrize("suffix", [".parquet", ".arrow", ".feather", ".ipc"])
def test_the_file_holds_every_event_after_close(tmp_path, suffix: str) -> None:
    path = tmp_path / f"log{suffix}"
    log = ExecutionLog(max_events=5, path=path, batch_size=7)
    for i in range(20):
        log.record_packet(f"p{i}", "t", "a", "out", i, 3, (f"p{i - 1}",), None)
        log.record_firing(i, "b", "t", (f"p{i}",), i, i + 2 * MS, "ok", 1)
    log.close()
    log.close()  # idempotent

    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        with pa.memory_map(str(path)) as source:
            frame = pyarrow.ipc.open_file(source).read_all().to_pandas()
    assert len(log) == 5
    assert len(frame) == 40
    assert tuple(frame.columns) == EVENT_COLUMNS
    assert frame["kind"].value_counts().to_dict() == {"packet": 20, "firing": 20}
    firings = frame[frame["kind"] == "firing"]
    assert firings["duration_ms"].tolist() == pytest.approx([2.0] * 20)
    assert list(frame.loc[frame["packet_id"] == "p3", "parents"].iloc[0]) == ["p2"]
    assert list(firings["inputs"].iloc[0]) == ["p0"]


def test_the_file_is_written_in_batches(tmp_path) -> None:
    import pyarrow.parquet as pq

    path = tmp_path / "log.parquet"
    with ExecutionLog(path=path, batch_size=1_000) as log:
        for i in range(2_500):
            log.record_packet(f"p{i}", "t", "a", "out", i, 1, (), None)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3  # 1000 + 1000 + 500 on close

    path = tmp_path / "flushed.parquet"
    log = ExecutionLog(path=path)
    log.record_packet("p", "t", "a", "out", 1, 1, (), None)
    log.flush()
    log.flush()  # nothing pending: no empty row group
    log.close()
    assert pq.ParquetFile(path).metadata.num_row_groups == 1


def test_the_file_is_completed_when_the_log_is_collected(tmp_path) -> None:
    import gc

    path = tmp_path / "log.arrow"
    log = ExecutionLog(path=path)
    log.record_packet("p", "t", "a", "out", 1, 1, (), None)
    del log
    gc.collect()

    with pa.memory_map(str(path)) as source:
        assert pyarrow.ipc.open_file(source).read_all().num_rows == 1


def test_after_close_the_log_records_in_memory_only(tmp_path) -> None:
    path = tmp_path / "log.parquet"
    log = ExecutionLog(path=path)
    log.close()
    log.record_packet("p", "t", "a", "out", 1, 1, (), None)
    log.flush()

    assert len(log) == 1
    assert len(pd.read_parquet(path)) == 0


def test_a_bad_path_fails_at_construction(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ExecutionLog(path=tmp_path / "missing" / "log.parquet")
    with pytest.raises(ValueError, match=r"\.parquet, \.arrow"):
        ExecutionLog(path=tmp_path / "log.csv")
    with pytest.raises(ValueError, match="max_events"):
        ExecutionLog(max_events=-1)


def test_disabled_log_records_nothing(tmp_path) -> None:
    path = tmp_path / "log.parquet"
    log = ExecutionLog(path=path, enabled=False)
    record_lineage(log)
    log.close()

    assert len(log) == 0
    assert log.dropped == 0
    assert log.to_pandas().empty
    assert len(pd.read_parquet(path)) == 0

    log = ExecutionLog()
    log.enabled = False
    record_lineage(log)
    log.enabled = True
    log.record_packet("p", "t", "a", "out", 1, 1, (), None)
    assert len(log) == 1


def test_recording_is_a_plain_append(monkeypatch) -> None:
    """Recording builds a tuple and appends it: no frame, no table, no file until a batch."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("recording must not build frames or tables")

    log = ExecutionLog(max_events=1_000)
    monkeypatch.setattr(pd, "DataFrame", forbidden)
    monkeypatch.setattr(pd, "Series", forbidden)
    monkeypatch.setattr(pa, "array", forbidden)
    for i in range(200_000):
        log.record_packet("p", "t", "a", "out", i, 1, (), 1)
    log.record_firing(1, "a", "t", ("p",), 1, 2, "ok", 1)
    monkeypatch.undo()

    assert len(log) == 1_000
    assert log.dropped == 200_001 - 1_000
    assert type(log._events[-1]) is tuple
    assert type(log._events[0]) is tuple


def test_repr_shows_counts() -> None:
    log = ExecutionLog(max_events=3)
    record_lineage(log)

    assert repr(log) == ("ExecutionLog(events=3, firings=3, packets=0, dropped=4, max_events=3)")
    html = log._repr_html_()
    assert "firings=3" in html
    assert "<table" in html
