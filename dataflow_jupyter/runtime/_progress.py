"""Progress: a line that updates in place while a long run goes on.

It appears once a run has lasted a second (short runs stay quiet) and shows the packets the
sources emitted (*in*) with their rate, the packets that reached the graph's unconnected
outputs (*out*) and the errors (failures sent to an ``error`` output or to the dead-letter
queue). When every source knows how many packets it will emit (``IONode.expected_packets``,
e.g. an inject with a count), it shows that total, a percentage and the time left::

    graph demo:  41%|███▏    | 82000/200000 [00:03<00:04, 27000.00 packets in/s, out 81990]

In a terminal it is a tqdm line on stderr; in a notebook the same line updates in place in
the cell's output. Pass ``progress=False`` to the runtime to turn it off; ``None`` (the
default) shows it when stderr is a terminal or a notebook kernel runs, except for runs
started in the background with ``start()``, whose line would land in whatever cell runs at
the time.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from dataflow_jupyter.runtime._session import Session

__all__ = ["Progress", "expected_total"]

_DELAY_S: Final = 1.0
_EVERY_S: Final = 0.25
_log = logging.getLogger("dataflow_jupyter.runtime")


class Progress:
    """Counters of a session, shown at most four times a second."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._sources = [run for run in session.runs if run.is_source]
        self._total = expected_total(session)
        self._started = time.monotonic()
        self._next = self._started + _DELAY_S
        self._bar: Any = None

    @classmethod
    def maybe(cls, enabled: bool | None, session: Session) -> Progress | None:
        """A progress display when ``enabled`` (or, for ``None``, when someone can see it)."""
        if enabled is None:
            enabled = sys.stderr.isatty() or _in_a_kernel()
        return cls(session) if enabled else None

    def update(self) -> None:
        """Refresh the line if it is time to."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _EVERY_S
        if self._bar is None:
            from tqdm import tqdm  # noqa: PLC0415 - only long runs pay for it

            self._bar = tqdm(
                desc=f"graph {self._session.graph.id}",
                total=self._total,
                unit=" packets in",
                mininterval=0,
                smoothing=0,  # the rate since the run started, not of the last instant
            )
            self._bar.start_t = time.time() - (now - self._started)  # tqdm's clock
        arrived = sum(run.stats.emitted for run in self._sources)
        totals = self._session.stats.totals()
        errors = totals["errors"] + totals["dead_lettered"]
        self._bar.set_postfix_str(
            f"out {self._session.outputs_total}, errors {errors}", refresh=False
        )
        self._bar.update(arrived - self._bar.n)

    def close(self) -> None:
        """Finish the line."""
        if self._bar is not None:
            self._next = 0.0  # the last refresh is never skipped
            self.update()
            self._bar.close()


def expected_total(session: Session) -> int | None:
    """How many packets the sources will emit in all, when every one of them says so."""
    counts = []
    for run in session.runs:
        if not run.is_source:
            continue
        expected = getattr(run.instance, "expected_packets", None)
        try:
            count = expected() if callable(expected) else None
        except Exception:  # noqa: BLE001 - a progress display never fails a run
            _log.exception("%s: expected_packets() failed", run.node_id)
            count = None
        if not isinstance(count, int) or count < 0:
            return None
        counts.append(count)
    return sum(counts) if counts else None


def _in_a_kernel() -> bool:
    """Whether this process is a Jupyter kernel (a notebook shows the progress line).

    Not merely "ipykernel was imported": a process that starts kernels (jupyter_client,
    nbclient) imports parts of it too. IPython is looked up, never imported, here.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None
