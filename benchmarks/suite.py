"""Performance suite: our runtime measured side by side with its peers, as ratios.

Run it with ``bash benchmarks/run.sh`` (which makes ``benchmarks/.venv`` and installs the
peers pinned), or directly with any Python that has ``dataflow_jupyter`` installed:
``python benchmarks/suite.py [--quick] [--only NAME] [--repeat N]``. A peer that is not
installed is reported as such; our side always runs.

This module is the command line and the catalogue: which benchmarks there are, their sizes,
and the report. Each benchmark lives in its own module next to this one (named below), on
the harness of ``harness.py`` (timing, peers, ``Result``, the report table) and the nodes of
``bench_nodes.py``; a benchmark's module is imported when it runs. The benchmarks (see
``benchmarks/README.md`` for why each one):

- ``streaming`` (``streaming.py``): small dict packets through 10 map nodes into a sink,
  with packet metadata, the execution log and frames on, vs a plain Python loop and
  streamz. Goal: 3x streamz.
- ``dispatch`` (``dispatch.py``): one packet through a chain of 1,000 add-one nodes, vs
  plain calls, ryvencore 0.5 and ``dask.delayed`` (synchronous scheduler). Goal: at most
  2 us per node and ahead of both peers.
- ``payload`` (``payload.py``): a ~200 MB Arrow table through 10 identity nodes. Goal: no
  copy (peak memory grows by under 5 MB) and under 100 us per hop.
- ``parallel`` (``parallel.py``): two independent branches of GIL-releasing pyarrow
  compute, their nodes written without an ``offload`` key, vs the same two calls one after
  the other (and, for reference, the same nodes forced to ``offload: thread``). Goal: at
  least 1.8x.
- ``streaming-default`` (``streaming_default.py``): ``streaming`` with user-written node
  folders whose ``schema.json`` is written like the seed's example (timeoutMs, retry,
  recoverable, no offload), vs the plain loop and streamz. Goal: at least 1.5x streamz.
- ``notebook`` (``notebook_run.py``): the ``streaming-default`` run in a Jupyter kernel vs
  the same run as a script. Goal: the kernel within 1.2x.
- ``cluster`` (``cluster.py``): 400 Arrow batches through a GIL-holding pure-Python node
  with ``offload: cluster`` and ``parallelism: 2`` on a 2-process ``LocalCluster``, vs the
  same graph on the local thread executor and ``client.map`` of the same function; and the
  per-firing overhead of a cluster node (parallelism 1 and 8; one firing per task, over plain
  ``client.submit``, and in the runtime's groups).
  Goals: at least 1.7x local, within 15 % of ``client.map``, under 2 ms added per firing.
- ``table``, ``table-csv`` (in ``table.py``): a 10M-row Parquet / CSV file through read-file,
  filter-rows, select-columns and aggregate, vs pyarrow directly, pandas, polars and
  streamz.dataframe. Goal: at most 1.3x pyarrow's time and its peak memory, ahead of pandas.

Every side is built outside the timed region and only its execution is timed; each timing
is the best of ``--repeat`` runs, and each run's result is checked, so a side that silently
did nothing cannot look fast. The table goes to stdout and everything to
``benchmarks/results/latest.json``. The exit code is 0 even when goals are missed (this is a
report); only a crash of our own side makes it nonzero.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the benchmark modules import each other by name
    sys.path.insert(0, str(HERE))

from harness import Result, machine_info, report  # noqa: E402 - needs the path above

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_JSON = HERE / "results" / "latest.json"

# Sizes: (full, quick). Goals are stated for the full sizes.
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "streaming": {"packets": (200_000, 5_000), "maps": (10, 10)},
    "dispatch": {"nodes": (1_000, 1_000)},
    "payload": {"rows": (25_000_000, 2_500_000), "hops": (10, 10)},
    "parallel": {"rows": (8_000_000, 400_000)},
    "streaming-default": {"packets": (200_000, 5_000), "maps": (10, 10)},
    "notebook": {"packets": (200_000, 5_000), "maps": (10, 10)},
    "cluster": {"batches": (400, 40), "rows": (2_000, 2_000), "firings": (500, 100)},
}


def sibling(module: str) -> Any:
    """A benchmark's module next to this file, imported when it runs."""
    return importlib.import_module(module)


def size(bench: str, name: str, quick: bool) -> int:
    full, small = SIZES[bench][name]
    return small if quick else full


BENCHMARKS: dict[str, Callable[[bool, int], Result]] = {
    "streaming": lambda quick, repeat: sibling("streaming").bench_streaming(
        size("streaming", "packets", quick), size("streaming", "maps", quick), repeat
    ),
    "dispatch": lambda quick, repeat: sibling("dispatch").bench_dispatch(
        size("dispatch", "nodes", quick), repeat
    ),
    "payload": lambda quick, repeat: sibling("payload").bench_payload(
        size("payload", "rows", quick), size("payload", "hops", quick), repeat
    ),
    # parallel: at least 7 interleaved rounds at full size, the machine's noise is larger there
    "parallel": lambda quick, repeat: sibling("parallel").bench_parallel(
        size("parallel", "rows", quick), repeat if quick else max(repeat, 7)
    ),
    "streaming-default": lambda quick, repeat: sibling("streaming_default").bench_streaming_default(
        size("streaming-default", "packets", quick),
        size("streaming-default", "maps", quick),
        repeat,
    ),
    "notebook": lambda quick, repeat: sibling("notebook_run").bench_notebook(
        size("notebook", "packets", quick), size("notebook", "maps", quick), repeat
    ),
    "cluster": lambda quick, repeat: sibling("cluster").bench_cluster(
        size("cluster", "batches", quick),
        size("cluster", "rows", quick),
        size("cluster", "firings", quick),
        repeat,
    ),
    "table": lambda quick, repeat: sibling("table").bench_table(
        "parquet", quick=quick, repeat=repeat
    ),
    "table-csv": lambda quick, repeat: sibling("table").bench_table(
        "csv", quick=quick, repeat=repeat
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only NAME")
    parser.add_argument("--repeat", type=int, default=None, help="runs per side (best of)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 3)
    names = args.only or list(BENCHMARKS)
    info = machine_info()
    print(
        f"dataflow-jupyter {info['versions']['dataflow-jupyter']} | python {info['python']} | "
        f"{info['cpu_count']} cpus | {'quick' if args.quick else 'full'} sizes, best of {repeat}"
    )
    results: list[Result] = []
    for name in names:
        print(f"running {name} ...", flush=True)
        started = time.perf_counter()
        result = BENCHMARKS[name](args.quick, repeat)
        result.seconds = time.perf_counter() - started
        results.append(result)
    print()
    print(report(results))
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeat": repeat,
        "machine": info,
        "results": [asdict(r) for r in results],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
