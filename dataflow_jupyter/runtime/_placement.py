"""Placement: where a synchronous node's firings run, decided by measurement.

A synchronous ``process`` runs either *inline* (the dispatcher calls it on the event loop's
thread: no hand-off, but the loop waits while it runs) or on a *worker* (a thread of the
executor: the loop stays free, and GIL-releasing work of independent branches overlaps, at
the price of a hand-off per batch of firings). ``execution.offload`` forces one: ``none``
(inline) or ``thread`` (worker). Without the key (``auto``, the default) this rule decides:

- A node starts on a worker, so a first slow firing never stalls the loop. In a background
  run (``start()``, the canvas's Run button) the loop is the notebook's: there a measured
  node stays on its worker, so no firing, however slow it turns, holds up a cell.
- It moves inline once ``PROVE`` firings in a row each took at most ``CHEAP_NS`` (a thread
  hand-off costs tens of microseconds, more than such a firing), unless its inputs carry
  Arrow payloads: those nodes stay on a worker, where pyarrow releases the GIL and
  independent branches run in parallel.
- An inline node moves back to a worker when ``SLOW_OF`` of its last ``WINDOW`` firings
  each took more than ``SLOW_NS``, or one firing took more than ``STALL_NS``: one
  garbage-collection pause (up to about 10 ms) does not move a healthy node, a node that
  became slow moves within a few firings, and a single long stall moves it at once.
- An inline firing that overruns its ``timeoutMs`` fails as ``TIMEOUT`` when it returns
  (what it emitted is not sent) and moves the node to a worker for good, where later
  firings are abandoned at their deadline.

A node on a worker fires in batches: the worker calls ``process`` for up to ``batch_size()``
queued inputs in a row and hands the results back at once (one loop wake-up for many
firings). The batch is sized from the measured cost so that one batch takes about
``BATCH_NS``; a slow node's batch is one firing, so its outputs leave as soon as each is done.

``offload: cluster`` sends a node's firings to a cluster (a ``ClusterExecutor`` such as
``DaskExecutor``), its ``process`` sync or async: up to ``execution.parallelism`` of them
running at once, their outputs in input order (``Firings.fire_cluster``). A pure node's
queued inputs go to the cluster in groups, fired one after the other by one task
(``group_size``): each group takes about ``GROUP_NS`` by the measured cost, so the cost of a
task (a few milliseconds of the scheduler's and the client's work, on the kernel's machine)
is shared by a cheap node's firings; a node whose firings take over half ``GROUP_NS`` sends
one firing per task, and the queued inputs are shared among the free slots, so no worker
waits while another has a long group. A node fed by a cluster node fires on a worker, where
the tables it receives are read from the cluster without holding up the loop.

Every move is logged (``placement`` events in ``rt.log``, a ``dataflow_jupyter.runtime``
log record), counted in ``rt.stats`` (``runs_on``, ``moves``) and shown on the canvas.
"""

from __future__ import annotations

from collections import deque
from typing import Final, Literal

__all__ = ["Placement", "RunsOn"]

# "loop": a source or an async node; "cluster": ``offload: cluster`` (a ``ClusterExecutor``)
RunsOn = Literal["inline", "worker", "loop", "cluster"]

CHEAP_NS: Final = 200_000  # a firing this cheap costs less inline than a thread hand-off
PROVE: Final = 16  # cheap firings in a row before a node moves inline
SLOW_NS: Final = 2_000_000  # an inline firing slower than this holds the loop too long
WINDOW: Final = 16  # recent inline firings looked at
SLOW_OF: Final = 3  # slow firings among them that move the node to a worker
STALL_NS: Final = 100_000_000  # one inline firing this long moves the node at once
BATCH_NS: Final = 5_000_000  # a worker's batch of firings takes about this long
MAX_BATCH: Final = 64
GROUP_NS: Final = 100_000_000  # a cluster task's group of firings takes about this long
MAX_GROUP: Final = 32


class Placement:
    """Where one node's firings run, and the measurements that decide it."""

    __slots__ = ("_cheap_streak", "_mean_ns", "_slow_at", "fixed", "moves", "reason", "runs_on")

    def __init__(self, runs_on: RunsOn, reason: str, *, fixed: bool) -> None:
        self.runs_on: RunsOn = runs_on
        self.fixed = fixed  # forced by ``offload`` or by the node's kind: never moves
        self.moves = 0
        self.reason = reason
        self._cheap_streak = 0
        self._slow_at: deque[int] = deque(maxlen=SLOW_OF)  # firing numbers of slow firings
        self._mean_ns = 0.0

    @classmethod
    def choose(
        cls, offload: str, *, is_async: bool, executor_inline: bool, is_source: bool = False
    ) -> Placement:
        """Where a node starts, from its ``execution.offload`` and what the executor allows.

        A source runs on the loop; a node with ``offload: cluster`` on the cluster, its
        ``process`` sync or async (a worker awaits it); other async nodes on the loop.
        """
        if is_source:
            return cls("loop", "a source: runs on the loop", fixed=True)
        if offload == "cluster":
            return cls("cluster", "offload: cluster", fixed=True)
        if is_async:
            return cls("loop", "async: awaited on the loop", fixed=True)
        if not executor_inline:
            return cls("worker", "the executor runs every firing", fixed=True)
        if offload == "none":
            return cls("inline", "offload: none", fixed=True)
        if offload == "thread":
            return cls("worker", "offload: thread", fixed=True)
        return cls("worker", "starts on a worker until its firings prove cheap", fixed=False)

    def worker_took(self, duration_ns: int, *, arrow: bool) -> bool:
        """A firing on a worker took ``duration_ns``; ``True`` when the node moves inline."""
        self.took(duration_ns)
        if self.fixed or self.runs_on != "worker":
            return False
        if duration_ns > CHEAP_NS or arrow:
            self._cheap_streak = 0
            return False
        self._cheap_streak += 1
        if self._cheap_streak < PROVE:
            return False
        self._move("inline", f"{PROVE} firings in a row took under {CHEAP_NS // 1000} us each")
        return True

    def inline_slow(self, duration_ns: int, firing: int) -> bool:
        """An inline firing (number ``firing``) took more than ``SLOW_NS``; ``True`` when the
        node moves to a worker. Cheaper firings are not reported: the hot path only compares."""
        if self.fixed or self.runs_on != "inline":
            return False
        if duration_ns > STALL_NS:
            self._move("worker", f"one firing took {duration_ns / 1e6:.0f} ms")
            return True
        slow_at = self._slow_at
        slow_at.append(firing)
        if len(slow_at) == SLOW_OF and firing - slow_at[0] < WINDOW:
            self._move(
                "worker",
                f"{SLOW_OF} of {WINDOW} firings in a row took over {SLOW_NS // 1_000_000} ms",
            )
            return True
        return False

    def timed_out_inline(self, timeout_ms: int) -> None:
        """An inline firing overran ``timeoutMs``: from now on the node runs on a worker."""
        self._move("worker", f"a firing overran its timeout of {timeout_ms} ms inline")
        self.fixed = True

    def stay_on_worker(self) -> None:
        """A background run (``start()``, the canvas's Run) shares the loop with the notebook's
        cells: a measured node stays on its worker there, so no firing can hold a cell up."""
        if not self.fixed and self.runs_on == "worker":
            self.fixed = True
            self.reason = "background run: the loop is the notebook's, so it stays on a worker"

    def fetch_remote_inputs(self) -> None:
        """The node's inputs come from cluster nodes, as tables that live on the cluster:
        it fires on a worker, where reading them never holds up the loop."""
        if self.runs_on in ("inline", "worker"):  # where it starts: not a move
            self.runs_on = "worker"
            self.fixed = True
            self.reason = "its inputs come from the cluster: read off the loop"

    def batch_size(self) -> int:
        """How many queued inputs a worker fires in one go (see the module docstring)."""
        return self._firings_in(BATCH_NS, MAX_BATCH)

    def group_size(self, queued: int, slots: int) -> int:
        """How many of ``queued`` inputs one cluster task fires, ``slots`` tasks free to
        take them (see the module docstring)."""
        shared = -(-queued // max(slots, 1))  # every free slot gets its share
        return max(1, min(self._firings_in(GROUP_NS, MAX_GROUP), shared))

    def took(self, duration_ns: int) -> None:
        """A firing took ``duration_ns`` where it ran (a worker thread, a cluster worker):
        the running mean ``batch_size`` and ``group_size`` go by."""
        mean = self._mean_ns
        self._mean_ns = 0.8 * mean + 0.2 * duration_ns if mean else float(duration_ns)

    def _firings_in(self, budget_ns: int, most: int) -> int:
        """How many firings of the measured mean cost fit in ``budget_ns`` (1 to ``most``;
        1 while nothing is measured: one firing first)."""
        if self._mean_ns <= 0:
            return 1
        return max(1, min(most, int(budget_ns // max(self._mean_ns, 1.0))))

    def _move(self, runs_on: RunsOn, reason: str) -> None:
        self.runs_on = runs_on
        self.moves += 1
        self.reason = reason
        self._cheap_streak = 0
        self._slow_at.clear()
