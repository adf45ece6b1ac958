"""cluster: nodes fired on a Dask cluster (``offload: cluster``) against the same graph in
the kernel and against plain Dask running the same function.

Two measurements on one 2-process ``LocalCluster`` (one thread per worker), made once and
closed at the end:

- **speed-up**: ``batches`` Arrow tables (``rows`` int64 values each) from a source in the
  kernel into ``gil-work``, a pure-Python loop over the batch's values that holds the GIL
  (about 25 ms a batch here), with ``parallelism: 2`` on the cluster; against the same graph
  with the node left to the runtime's default on the ``LocalExecutor`` (threads: one firing
  at a time, the GIL serialises them anyway), and against ``client.map`` of the same
  function over the same batches (gathered). Every side goes through the same batches,
  made in the kernel before any timing: our source emits them during the run and each
  firing carries its table to a worker; the peer's go to the workers as ``client.map``'s
  arguments. Goals: at least 1.7x the local run, and within 15 % of ``client.map``.
- **per-firing overhead**: ``firings`` small ints through ``bump`` (``value + 1``) on the
  cluster with ``parallelism: 1`` and ``8``, two ways: as a user's cheap node goes (its
  queued inputs in groups, one task firing a group), and one firing per task (the node
  given a timeout, as a slow node goes: no groups, none waiting). The second's time per
  firing, less the time per call of the same function through plain ``client.submit`` with
  as many calls in flight (one at a time; a window of 8), is what the runtime adds to a
  Dask task. Goal: under 2 ms.

Every run's answer is checked: the 400 sums in input order (the local run's, which is the
reference, must match ``gil_work`` on the first and last batches; every other side must
equal it), the bumped ints.

The node classes live in this module, registered from Python: the executor ships them to
the workers by reference (this folder is on the workers' ``sys.path``: ``LocalCluster``
spawns them with the kernel's), so the nodes and the peer call the very same ``gil_work``.
"""

from __future__ import annotations

import asyncio
import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from harness import Result, Side, best_of, optional

from dataflow_jupyter import Graph, IONode, PureNode
from dataflow_jupyter.runtime import GraphRuntime
from dataflow_jupyter.testing import node_registry, spec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from harness import Prepared

    from dataflow_jupyter import DataPacket, NodeRegistry

ROUNDS = 200  # the inner loop per value: about 25 ms for a batch of 2,000 values here
SPEEDUP_GOAL = 1.7
DASK_GOAL = 1.15  # ours at most 15 % slower than client.map
OVERHEAD_GOAL_MS = 2.0
WINDOWS = (1, 8)  # firings in flight for the overhead: parallelism 1 and 8


def make_batch(index: int, rows: int) -> pa.Table:
    """Batch ``index``: ``rows`` consecutive int64 values."""
    start = index * rows
    return pa.table({"v": pa.array(range(start, start + rows), pa.int64())})


def gil_work(table: pa.Table) -> int:
    """Pure Python over a batch's values (holds the GIL): a few hundred LCG steps each."""
    total = 0
    for value in table.column(0).to_pylist():
        x = value
        for _ in range(ROUNDS):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        total += x % 1000
    return total


def bump(value: int) -> int:
    """The trivial function of the overhead measurement."""
    return value + 1


# -- the nodes ---------------------------------------------------------------------------------


@functools.cache
def premade_batches(count: int, rows: int) -> tuple[pa.Table, ...]:
    """The ``count`` batches of ``rows`` values every side goes through, made once."""
    return tuple(make_batch(index, rows) for index in range(count))


class Batches(IONode):
    """Emits the ``count`` batches of ``rows`` values (``premade_batches``: made before the run)."""

    async def run(self, ctx: Any) -> None:
        for table in premade_batches(self.settings["count"], self.settings["rows"]):
            await ctx.emit("out", table)


class Numbers(IONode):
    """Emits ``0 .. count - 1``."""

    async def run(self, ctx: Any) -> None:
        for value in range(self.settings["count"]):
            await ctx.emit("out", value)


class GilWork(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": gil_work(inputs["in"].payload)}


class Bump(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": bump(inputs["in"].value)}


def cluster_registry() -> NodeRegistry:
    """The built-in nodes (as a user's registry has them) and this benchmark's five."""
    count = {"name": "count", "type": "integer", "default": 1}
    rows = {"name": "rows", "type": "integer", "default": 1}
    return node_registry(
        (spec("batches", [], ["out"], settings=[count, rows]), Batches),
        (spec("numbers", [], ["out"], settings=[count]), Numbers),
        (spec("gil-work", ["in"], ["out"]), GilWork),
        (spec("bump", ["in"], ["out"]), Bump),
        # with a timeout: one firing per task, none waiting (what a slow node gets)
        (spec("bump-timed", ["in"], ["out"], execution={"timeoutMs": 60_000}), Bump),
        include_builtin=True,
    )


def one_node_graph(
    reg: NodeRegistry, source: tuple[str, dict[str, Any]], node: str, execution: Any
) -> Graph:
    """``source -> node``; the node's output is the run's output ``work.out``."""
    graph = Graph(id="cluster", registry=reg)
    src = graph.add_node(source[0], id="src", settings=source[1])
    graph.add_node(node, id="work", execution=execution)
    graph.connect(src, "out", "work", "in")
    return graph


def on_cluster(parallelism: int) -> dict[str, Any]:
    return {"offload": "cluster", "parallelism": parallelism}


# -- plain Dask --------------------------------------------------------------------------------


def submit_window(
    client: Any, fn: Callable[[Any], Any], items: Iterable[Any], window: int
) -> list[Any]:
    """``fn`` over ``items`` by plain ``client.submit``, ``window`` calls in flight, each
    result gathered as it completes (what the runtime does with ``parallelism: window``)."""
    distributed = optional("distributed")
    assert distributed is not None
    pending = iter(enumerate(items))
    where: dict[str, int] = {}
    results: dict[int, Any] = {}
    done = distributed.as_completed()

    def push() -> None:
        item = next(pending, None)
        if item is not None:
            future = client.submit(fn, item[1], pure=False)
            where[future.key] = item[0]
            done.add(future)

    for _ in range(window):
        push()
    for future in done:
        results[where.pop(future.key)] = future.result()
        push()
    return [results[i] for i in range(len(results))]


# -- the benchmark -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    """What every side shares: the registry, the started executor, the cluster's client."""

    registry: NodeRegistry
    executor: Any  # a started DaskExecutor on ``client``
    client: Any  # a distributed.Client of the 2-worker LocalCluster
    repeat: int

    def runtime(self, source: tuple[str, dict[str, Any]], node: str, execution: Any) -> Any:
        """A ``GraphRuntime`` of ``source -> node``: on the cluster when ``execution`` says so."""
        graph = one_node_graph(self.registry, source, node, execution)
        if execution is None:
            return GraphRuntime(graph)  # the default LocalExecutor
        return GraphRuntime(graph, executor=self.executor)

    def interleaved(self, sides: dict[str, Callable[[], Prepared]]) -> dict[str, float]:
        """Best seconds of each side, the sides interleaved (a noisy neighbour hits all)."""
        best = dict.fromkeys(sides, math.inf)
        for _ in range(self.repeat):
            for name, prepare in sides.items():
                best[name] = min(best[name], best_of(prepare, 1))
        return best


def bench_cluster(
    batches: int = 400, rows: int = 2_000, firings: int = 500, repeat: int = 3
) -> Result:
    """Speed-up of a GIL-holding node on 2 worker processes, and the cost of a firing."""
    distributed = optional("distributed")
    if distributed is None:
        note = "distributed not installed (pip install 'dataflow-jupyter[dask]')"
        return Result("cluster", Side("ours", None, "s", note), [], {}, "-", None)
    from dataflow_jupyter.executors import DaskExecutor  # noqa: PLC0415 - needs distributed

    reg = cluster_registry()
    quiet = {"dashboard_address": ":0", "worker_dashboard_address": ":0", "silence_logs": 40}
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, **quiet)
    client = distributed.Client(cluster)
    executor = DaskExecutor(client)
    try:
        asyncio.run(executor.start(reg))  # the packs reach the workers once, untimed
        client.run(lambda: None)  # both workers up and answering
        bench = Bench(reg, executor, client, repeat)
        speed = _speedup(bench, batches, rows)
        overhead = _overhead(bench, firings)
    finally:
        asyncio.run(executor.close())
        client.close()
        cluster.close()
    return _result(speed, overhead, batches, rows, firings)


def _speedup(bench: Bench, batches: int, rows: int) -> dict[str, float]:
    """Best seconds of the three sides over ``batches`` batches."""
    source = ("batches", {"count": batches, "rows": rows})
    tables = premade_batches(batches, rows)  # made here, before any side's timing
    reference: list[int] = []

    def check(out: list[int]) -> None:
        assert out == reference, "a side's sums differ from the local run's"

    def graph_side(execution: Any) -> Prepared:
        rt = bench.runtime(source, "gil-work", execution)

        def run() -> list[int]:
            result = rt.run()
            assert result.ok, result.errors[:1]
            on_the_cluster = rt.stats.node("work").runs_on == "cluster"
            assert on_the_cluster == (execution is not None)
            return list(result.outputs["work.out"])

        return run, check

    def local() -> Prepared:
        run, _ = graph_side(None)

        def first_check(out: list[int]) -> None:
            if not reference:  # the first run: the reference, checked against gil_work
                assert len(out) == batches
                assert out[0] == gil_work(tables[0])
                assert out[-1] == gil_work(tables[-1])
                reference.extend(out)
            check(out)

        return run, first_check

    def plain() -> Prepared:
        def run() -> list[int]:
            futures = bench.client.map(gil_work, tables, pure=False)
            return list(bench.client.gather(futures))

        return run, check

    return bench.interleaved(
        {
            "local": local,
            "ours": lambda: graph_side(on_cluster(2)),
            "ours-4": lambda: graph_side(on_cluster(4)),
            "client.map": plain,
        }
    )


def _overhead(bench: Bench, firings: int) -> dict[str, float]:
    """Best seconds per firing (ours) and per call (plain ``client.submit``) per window."""
    source = ("numbers", {"count": firings})
    expected = [bump(i) for i in range(firings)]

    def check(out: list[int]) -> None:
        assert out == expected

    def ours(window: int, *, single: bool) -> Callable[[], Prepared]:
        node = "bump-timed" if single else "bump"

        def prepare() -> Prepared:
            rt = bench.runtime(source, node, on_cluster(window))

            def run() -> list[int]:
                result = rt.run()
                assert result.ok, result.errors[:1]
                return list(result.outputs["work.out"])

            return run, check

        return prepare

    def plain(window: int) -> Callable[[], Prepared]:
        def prepare() -> Prepared:
            return lambda: submit_window(bench.client, bump, range(firings), window), check

        return prepare

    sides: dict[str, Callable[[], Prepared]] = {}
    for window in WINDOWS:
        sides[f"ours-{window}"] = ours(window, single=False)
        sides[f"single-{window}"] = ours(window, single=True)
        sides[f"submit-{window}"] = plain(window)
    return {name: seconds / firings for name, seconds in bench.interleaved(sides).items()}


def _result(
    speed: dict[str, float], per: dict[str, float], batches: int, rows: int, firings: int
) -> Result:
    ms = 1e3
    overhead = {w: (per[f"single-{w}"] - per[f"submit-{w}"]) * ms for w in WINDOWS}
    speedup = speed["local"] / speed["ours"]
    versus_dask = speed["ours"] / speed["client.map"]
    met = (
        speedup >= SPEEDUP_GOAL
        and versus_dask <= DASK_GOAL
        and all(o < OVERHEAD_GOAL_MS for o in overhead.values())
    )
    grouped = ", ".join(f"{per[f'ours-{w}'] * ms:.2f} ms at {w}" for w in WINDOWS)
    single = ", ".join(f"{per[f'single-{w}'] * ms:.2f} ms at {w}" for w in WINDOWS)
    peers = [
        Side("ours with parallelism: 4", speed["ours-4"], "s"),
        Side("local threads", speed["local"], "s"),
        Side("client.map", speed["client.map"], "s"),
        *(Side(f"client.submit {w} in flight", per[f"submit-{w}"] * ms, "ms") for w in WINDOWS),
    ]
    added = ", ".join(f"{overhead[w]:.2f} ms at {w}" for w in WINDOWS)
    suffix = f" (a firing: {grouped} grouped; one per task {single}, added {added})"
    return Result(
        "cluster",
        Side("ours", speed["ours"], "s"),
        peers,
        {
            "local/ours": speedup,
            "ours/client.map": versus_dask,
            "local/ours-4": speed["local"] / speed["ours-4"],
        },
        f">= {SPEEDUP_GOAL}x local, <= {DASK_GOAL}x client.map, "
        f"< {OVERHEAD_GOAL_MS:g} ms/firing added",
        met,
        {
            "batches": batches,
            "rows": rows,
            "firings": firings,
            "one_batch_s": speed["local"] / batches,
            "seconds": speed,
            "per_firing_ms": {name: value * ms for name, value in per.items()},
            "overhead_ms": {str(w): overhead[w] for w in WINDOWS},
            "cluster": "LocalCluster: 2 worker processes, 1 thread each",
        },
        ours_suffix=suffix,
    )
