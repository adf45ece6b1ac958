"""The harness every benchmark shares: timing, peers, results and the report.

- Timing: a side is ``prepare() -> (run, check)``, built outside the timed region;
  ``best_of`` times ``run()`` ``repeat`` times (a fresh side each time) and calls
  ``check(out)`` on what each run produced, so a side that silently did nothing raises
  instead of looking fast. ``timed_with_cpu`` also gives the CPU seconds of one run.
- Peers: ``peer_side`` measures a peer when its module is installed; a missing or failing
  peer is a row note (``NOT_INSTALLED``, ``did not run: ...``), never a number.
- Memory: ``MemorySampler`` samples RSS and Arrow's allocations in a thread during a run.
- Results: a benchmark returns a ``Result``: our ``Side``, the peers' sides, the ratios, the
  goal, whether it is met, and its own ``headline`` (our figure as the report's ``ours``
  column shows it: ``/node``, ``in a kernel``...). ``report`` lays results out as a table
  without knowing which benchmark is which.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.metadata
import math
import os
import platform
import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
NOT_INSTALLED = "peer not installed"

Prepared = tuple["Callable[[], Any]", "Callable[[Any], None]"]
"""A side built (untimed): ``(run, check)``."""


# -- results -----------------------------------------------------------------------------------


@dataclass
class Side:
    """One system's figure in one benchmark: a value in ``unit``, or why there is none."""

    name: str
    value: float | None
    unit: str
    note: str = ""

    def text(self) -> str:
        if self.value is None:
            return f"{self.name}: {self.note or 'n/a'}"
        note = f" ({self.note})" if self.note else ""
        return f"{self.name} {fmt(self.value, self.unit)}{note}"


@dataclass
class Result:
    """One benchmark: our figure, the peers', the ratios, the goal and whether it is met.

    ``ours_suffix`` is what the report writes after our figure (``"/node"``,
    ``" in a kernel"``...): each benchmark says how its headline reads.
    """

    name: str
    ours: Side
    peers: list[Side]
    ratios: dict[str, float | None]
    goal: str
    met: bool | None
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    ours_suffix: str = ""

    def headline(self) -> str:
        """Our figure as the report's ``ours`` column shows it."""
        figure = fmt(self.ours.value, self.ours.unit) if self.ours.value is not None else "n/a"
        return figure + self.ours_suffix

    def row(self) -> list[str]:
        """The report's cells: benchmark, ours, peers, ratio, goal, met?."""
        met = {True: "yes", False: "NO", None: "n/a"}[self.met]
        peers = "; ".join(p.text() for p in self.peers) or "-"
        return [self.name, self.headline(), peers, fmt_ratio(self.ratios), self.goal, met]


def fmt(value: float, unit: str) -> str:
    """A figure for the table: rates with k/M, times in the unit given."""
    if unit == "pkt/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f}M pkt/s"
        return f"{value / 1e3:.1f}k pkt/s"
    if unit == "us":
        return f"{value:.2f} us" if value < 100 else f"{value:,.0f} us"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "MB":
        return f"{value:+.2f} MB"
    return f"{value:g} {unit}"


def fmt_ratio(ratios: dict[str, float | None]) -> str:
    parts = [f"{k} {v:.2f}x" if v is not None else f"{k} n/a" for k, v in ratios.items()]
    return ", ".join(parts) or "-"


def report(results: list[Result]) -> str:
    """The results as an aligned text table."""
    header = ["benchmark", "ours", "peers", "ratio", "goal", "met?"]
    rows = [header, *(r.row() for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


# -- timing ------------------------------------------------------------------------------------


def best_of(prepare: Callable[[], Prepared], repeat: int) -> float:
    """Best elapsed seconds of ``repeat`` runs; ``prepare`` builds a side (untimed).

    ``prepare()`` returns ``(run, check)``: ``run()`` is what is timed, ``check(out)`` then
    verifies what it produced (it raises when the side did not do the work).
    """
    best = math.inf
    for _ in range(repeat):
        run, check = prepare()
        gc.collect()
        started = time.perf_counter()
        out = run()
        elapsed = time.perf_counter() - started
        check(out)
        best = min(best, elapsed)
    return best


def timed_with_cpu(prepare: Callable[[], Prepared]) -> tuple[float, float]:
    """One run of a side: wall seconds and process CPU seconds (all threads)."""
    run, check = prepare()
    gc.collect()
    cpu0 = time.process_time()
    started = time.perf_counter()
    out = run()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    check(out)
    return wall, cpu


# -- peers -------------------------------------------------------------------------------------


def optional(module: str) -> Any | None:
    """The peer's module, or ``None`` when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def peer_side(
    name: str, module: str, unit: str, measure: Callable[[Any], float], enabled: bool = True
) -> tuple[Side, float | None]:
    """Measure a peer if it is installed: its ``Side`` (value unset) and its best seconds.

    A peer that is missing or fails is reported in the row, never faked.
    """
    if not enabled:
        return Side(name, None, unit, "skipped"), None
    mod = optional(module)
    if mod is None:
        return Side(name, None, unit, NOT_INSTALLED), None
    try:
        seconds = measure(mod)
    except Exception as exc:  # noqa: BLE001 - a broken peer is a row note, not a crash
        return Side(name, None, unit, f"did not run: {type(exc).__name__}: {exc}"[:160]), None
    return Side(name, None, unit), seconds


# -- memory ------------------------------------------------------------------------------------


def rss_bytes() -> int | None:
    """The current resident set size, from /proc (Linux) or psutil; ``None`` if neither."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        psutil = optional("psutil")
        return None if psutil is None else int(psutil.Process().memory_info().rss)


class MemorySampler:
    """Samples RSS and Arrow's allocated bytes in a thread; the peaks are the growth bounds."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.pool = pa.default_memory_pool()
        self.base_rss = rss_bytes()
        self.base_arrow = pa.total_allocated_bytes()
        self.base_arrow_peak = self.pool.max_memory()
        self.base_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak_rss = self.base_rss
        self.peak_arrow = self.base_arrow
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def _sample(self) -> None:
        rss = rss_bytes()
        if rss is not None and self.peak_rss is not None:
            self.peak_rss = max(self.peak_rss, rss)
        self.peak_arrow = max(self.peak_arrow, pa.total_allocated_bytes())

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def growth(self) -> dict[str, float | None]:
        """Peak growth in MB over the baseline taken before the run."""
        mb = 1 / (1 << 20)
        peak_arrow = self.peak_arrow
        pool_peak = self.pool.max_memory()
        if pool_peak is not None and pool_peak > (self.base_arrow_peak or 0):
            peak_arrow = max(peak_arrow, pool_peak)  # the pool saw a new all-time peak
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        rss = None
        if self.base_rss is not None and self.peak_rss is not None:
            rss = (self.peak_rss - self.base_rss) * mb
        return {
            "arrow_peak_growth_mb": (peak_arrow - self.base_arrow) * mb,
            "rss_peak_growth_mb": rss,
            "maxrss_growth_mb": (maxrss - self.base_maxrss) * mb,
        }


# -- the machine -------------------------------------------------------------------------------


def version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = None
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "-C", str(HERE), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        commit = head.stdout.strip() or None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "git": commit,
        "versions": {
            dist: version_of(dist)
            for dist in (
                "dataflow-jupyter",
                "pyarrow",
                "numpy",
                "streamz",
                "ryvencore",
                "dask",
                "distributed",
                "ipykernel",
                "nbclient",
                "nest-asyncio2",
                "pandas",
                "polars",
            )
        },
    }
