"""streaming: small dict packets through 10 map nodes into a sink, vs a plain loop and streamz.

Our side runs with the defaults on (packet metadata, the execution log, frames); the map
nodes fire inline. ``map_chain_peers`` is shared with ``streaming-default``: the same
``maps`` map steps (``bench_nodes.map_x``) over the same packets, as a plain Python loop
and as a streamz pipeline. Goal: at least 3x streamz's throughput.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench_nodes import START_X, Collected, chain_graph, map_x, registry
from harness import Result, Side, best_of, peer_side

from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from harness import Prepared

GOAL = 3.0  # times streamz's throughput


def map_chain_peers(
    ours_rate: float, packets: int, maps: int, repeat: int, peers: bool
) -> tuple[list[Side], dict[str, float | None]]:
    """The peers of a streaming benchmark, the same ``maps`` map steps over ``packets``
    small dicts: a plain Python loop and streamz. Returns their sides (pkt/s) and our
    ratios to them."""
    expect_x = START_X + maps

    def plain() -> Prepared:
        fns = [map_x] * maps
        seen: list[Any] = []

        def run() -> None:
            sink = seen.append
            for i in range(packets):
                value: Any = {"i": i, "x": START_X}
                for fn in fns:
                    value = fn(value)
                sink(value)

        def check(_: Any) -> None:
            assert len(seen) == packets
            assert seen[-1] == {"i": packets - 1, "x": expect_x}

        return run, check

    plain_rate = packets / best_of(plain, repeat)

    def measure_streamz(streamz: Any) -> float:
        def prepare() -> Prepared:
            source = streamz.Stream()
            node = source
            for _ in range(maps):
                node = node.map(map_x)
            seen: list[Any] = []
            node.sink(seen.append)

            def run() -> None:
                emit = source.emit
                for i in range(packets):
                    emit({"i": i, "x": START_X})

            def check(_: Any) -> None:
                assert len(seen) == packets
                assert seen[-1] == {"i": packets - 1, "x": expect_x}

            return run, check

        return best_of(prepare, repeat)

    side, streamz_s = peer_side("streamz", "streamz", "pkt/s", measure_streamz, peers)
    if streamz_s is not None:
        side.value = packets / streamz_s
    ratios: dict[str, float | None] = {
        "ours/streamz": ours_rate / side.value if side.value else None,
        "ours/plain": ours_rate / plain_rate,
    }
    return [Side("plain loop", plain_rate, "pkt/s"), side], ratios


def bench_streaming(
    packets: int = 200_000, maps: int = 10, repeat: int = 3, peers: bool = True
) -> Result:
    """Small dict packets through ``maps`` map nodes into a sink."""
    expect_x = START_X + maps

    def ours() -> Prepared:
        got = Collected()
        graph, _ = chain_graph(
            registry(sink_into=got), ("dict-source", {"count": packets}), "map-x", maps, sink=True
        )
        rt = GraphRuntime(graph)  # the defaults: metadata, execution log and frames all on

        def check(result: Any) -> None:
            assert result.ok, result.errors[:1]
            assert got.count == packets, (got.count, packets)
            assert got.last == {"i": packets - 1, "x": expect_x}, got.last
            assert rt.log.enabled

        return rt.run, check

    ours_s = best_of(ours, repeat)
    sides, ratios = map_chain_peers(packets / ours_s, packets, maps, repeat, peers)
    met = None if ratios["ours/streamz"] is None else ratios["ours/streamz"] >= GOAL
    return Result(
        "streaming",
        Side("ours", packets / ours_s, "pkt/s"),
        sides,
        ratios,
        ">= 3x streamz throughput",
        met,
        {"packets": packets, "maps": maps, "ours_seconds": ours_s},
    )
