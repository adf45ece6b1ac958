"""payload: a ~200 MB Arrow table through 10 identity nodes into a sink.

No peer: the goal is absolute. The time per hop is ``rt.run()`` over the number of hops;
the memory is measured in a separate run (the sampling thread would disturb the timing), as
the peak growth over a baseline taken with the table already allocated. The sink checks
that it got the very table the source emitted. Goal: no copy (peak memory grows by under
5 MB) and under 100 us per hop.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from bench_nodes import Collected, chain_graph, registry
from harness import MemorySampler, Result, Side, best_of, fmt

from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from harness import Prepared


def bench_payload(rows: int = 25_000_000, hops: int = 10, repeat: int = 3) -> Result:
    """A ~200 MB Arrow table through ``hops`` identity nodes: time per hop, memory growth."""
    table = pa.table({"v": pa.array(np.arange(rows, dtype=np.int64))})
    table_mb = table.nbytes / (1 << 20)

    def ours() -> Prepared:
        got = Collected()
        graph, _ = chain_graph(
            registry(table, sink_into=got), ("one-shot", {}), "identity", hops, sink=True
        )
        rt = GraphRuntime(graph)

        def check(result: Any) -> None:
            assert result.ok, result.errors[:1]
            assert got.count == 1
            assert got.last is table, "the sink did not get the very table the source emitted"

        return rt.run, check

    hop_us = best_of(ours, repeat) * 1e6 / hops
    # Memory in a separate run: the sampling thread would disturb the timing.
    run, check = ours()
    gc.collect()
    with MemorySampler() as sampler:
        out = run()
    check(out)
    del out
    growth = sampler.growth()
    measured = [v for v in growth.values() if v is not None]
    worst = max(measured) if measured else None
    met = worst is not None and worst < 5.0 and hop_us < 100.0
    return Result(
        "payload",
        Side("ours", hop_us, "us"),
        [],
        {},
        "< 100 us/hop, < 5 MB growth",
        met,
        {
            "rows": rows,
            "hops": hops,
            "table_mb": table_mb,
            "unit": "microseconds per hop",
            "peak_growth_mb": worst,
            **growth,
        },
        ours_suffix="/hop, peak " + (fmt(worst, "MB") if worst is not None else "n/a"),
    )
