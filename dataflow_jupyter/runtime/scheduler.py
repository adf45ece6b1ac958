"""GraphRuntime: runs a graph on asyncio, in a script, a notebook cell or the background.

Selection policy. The dispatcher looks at the *marked* nodes (those that received a packet
or went idle since it last looked) in topological order (ties by insertion order), so a
packet costs the same in a 10-node graph as in a 1,000-node one. An *inline* node (a
synchronous node the ``placement`` rule put there: measured cheap, or ``offload: none``) is
fired right there (``Session.drain_inline``), on batches of its queued inputs while it is
ready and its outputs have room; what a batch emits goes straight on to the next inline
node along a fused link, so one pass carries packets down a whole chain without a queue or a
task switch between its nodes. The dispatcher lets the loop's other tasks (a notebook cell)
run at least every 10 ms: a drain out of time leaves its work queued and marked. Every other *ready*
node (see ``noderun``) gets a worker task, while fewer than ``max_concurrency`` workers
run. A worker fires its node again and again while it stays ready (``fire_batch``: a node
placed on a worker hands a batch of its queued inputs to the executor's thread at once), so
a node fires one firing at a time and every edge keeps its order; independent branches
have their own workers and run concurrently. Sources run as tasks of their own. Every
firing takes the same steps wherever it runs (``firing``).

Backpressure rule. Edges are bounded channels. A ``block`` edge that is full suspends the
emitting firing, which keeps its worker until the consumer takes a packet; a source that
emits into it waits too, so a slow sink slows the whole chain. A firing that waits for room
gives up its concurrency slot while it waits, so the consumer it waits for can always get
one (otherwise ``max_concurrency`` waiting producers would wait for each other forever).

End of stream. A source whose ``run`` returns (inject with a count, read-file at the end of
its file, a source written in Python) has finished: its own ``finish`` hook runs, then its
output edges close. A node finishes when it is not busy, not ready, and every input port is
closed (all edges into it closed) and drained (for ``fire: all``: every required port):
its ``input_finished(port)`` hook runs once per port as each port closes, then ``finish``
(each hook a firing of its own: counted, logged with status ``finish`` /
``input_finished``, a debugger step; what they emit starts new traces), then its outputs
close, and so on down the graph. A node that calls ``ctx.done()`` finishes early: what
still comes on its inputs is discarded (counted per edge), and upstream nodes that nobody
listens to any more stop (a source is cancelled). Nodes without hooks finish in the
dispatcher itself, at no cost per packet, and a chain of them closes in one go
(``Session.close_outputs``).

Termination. A run ends when every node has finished and no firing is in flight; in
deployed mode (``start()``) an endless source never finishes its branch, so the run goes on
until ``stop()``, which cancels the sources (their outputs close, so ``finish`` hooks
downstream still run while in-flight packets drain, or everything is cancelled after
``timeout``), tears the nodes down and leaves no task behind.

Stalls. A run that cannot progress ends with ``StallError`` naming who waits on what,
instead of hanging: a ``fire: all`` node one of whose required inputs finished while
another still holds packets (they can never be used); or every live task waiting for room
on a full edge while no node can fire; or nothing left to do while a node still waits.

Modes: ``run()`` (blocking; works in a notebook cell, where a loop already runs),
``await run_async()``, ``await start()`` / ``await stop()`` (deployed: the notebook stays
usable; ``await wait()`` waits for a started run to end) and ``debugger()`` (one firing
per ``step()``, driven from cells). The ``Debugger`` gets what it works with from here (a
session, the loop owner, the publish callable); it never reaches back into the runtime.

Events. ``subscribe(callback)`` hands the callback typed events (``runtime.events``). While
nobody subscribes a session's ``publish`` is ``None``: no event is made and the
dispatcher's hot batches stay on.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dataflow_jupyter.dataroot import DataRoot
from dataflow_jupyter.executors import Executor, LocalExecutor
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime._progress import Progress
from dataflow_jupyter.runtime._session import Session
from dataflow_jupyter.runtime._sync import LoopOwner
from dataflow_jupyter.runtime.debugger import Debugger
from dataflow_jupyter.runtime.errors import DeadLetter, DeadLetterQueue, StallError
from dataflow_jupyter.runtime.events import RunStateChanged
from dataflow_jupyter.runtime.frames import RunResult, frame_of
from dataflow_jupyter.runtime.log import ExecutionLog
from dataflow_jupyter.state import FileState, MemoryState, StateAdapter

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterator

    import pandas as pd

    from dataflow_jupyter.graph import Graph
    from dataflow_jupyter.packets import DataPacket
    from dataflow_jupyter.runtime._noderun import NodeRun
    from dataflow_jupyter.runtime.events import Publish, RuntimeEvent
    from dataflow_jupyter.runtime.stats import Stats

__all__ = ["GraphRuntime"]

_log = logging.getLogger("dataflow_jupyter.runtime")
_YIELD_EVERY = 64  # a worker yields to the loop after this many firings that never suspended
_SLICE_S = 0.01  # the dispatcher lets the loop's other tasks run at least this often
_SOURCE_GRACE_S = 5.0  # how long a run's end waits for cancelled sources
_LAST_LOOK_S = 0.05  # after a stop's timeout, one short wait for the cancelled run

StateChoice = Literal["memory", "file", "redis"] | StateAdapter


class GraphRuntime:
    """Runs a validated graph. See the module docstring for the policy.

    ``data_root``: the folder that nodes' file paths and file state stay inside (default: the
    graph file's folder; see ``dataflow_jupyter.dataroot``). Only code widens it.

    Frames (``rt.frame``): each port keeps its last ``frame_size`` packets, and a port
    declared ``table`` or ``binary`` its last ``frame_tables`` (default 2: Arrow payloads are
    large, and a frame holds them alive). ``pushdown``: tell nodes which columns the graph
    uses, so ``read-file`` reads only those (``dataflow_jupyter.runtime._pushdown``).
    """

    def __init__(
        self,
        graph: Graph,
        registry: NodeRegistry | None = None,
        state: StateChoice | None = None,
        executor: Executor | None = None,
        max_concurrency: int | None = None,
        *,
        frame_size: int = 100,
        frame_tables: int = 2,
        max_outputs: int = 10_000,
        log: ExecutionLog | bool = True,
        progress: bool | None = None,
        data_root: str | os.PathLike[str] | DataRoot | None = None,
        pushdown: bool = True,
    ) -> None:
        self.registry = registry or graph.registry or NodeRegistry.default()
        graph.validate(self.registry)
        analysis = graph.analyze()
        assert analysis.order is not None  # validate() refuses cycles
        self.graph = graph
        self._order = list(analysis.order)
        # Files stay under this folder (dataflow_jupyter.dataroot); only code widens it.
        self.data_root = DataRoot.choose(data_root, graph.folder)
        self.state = _make_state(state, graph, self.data_root)
        self.executor: Executor = executor or LocalExecutor()
        self.max_concurrency = max_concurrency or graph.config.max_concurrency
        if self.max_concurrency < 1:
            msg = f"max_concurrency must be at least 1; got {self.max_concurrency}"
            raise ValueError(msg)
        self.frame_size = frame_size
        self.frame_tables = frame_tables
        self.pushdown = pushdown
        self.max_outputs = max_outputs
        if isinstance(log, ExecutionLog):
            self.log = log
        else:
            self.log = ExecutionLog(enabled=bool(log))
        self.progress = progress
        self.dlq = DeadLetterQueue(self._replay)
        self._subscribers: list[Publish] = []
        self._stopping = False  # stop() was called on the run going on
        self._session: Session | None = None
        self._sources: list[asyncio.Task[None]] = []
        self._background: asyncio.Task[RunResult] | None = None
        self.not_stopped: list[str] = []  # nodes a stop() left running (they ignored it)
        self.last_replay: RunResult | None = None  # the result of the last dlq.replay()
        self._loops = LoopOwner()
        # Nodes are instantiated now, so bad settings fail here and the first run starts at
        # once; every later run (or a changed graph) gets a fresh session.
        self._prepared: Session | None = self._new_session()

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return f"<GraphRuntime {self.graph.id!r} {len(self._order)} nodes, {state}>"

    # -- public API ----------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Run the graph to the end and return its result (blocking; fine in a notebook cell)."""
        self._refuse_while_running("run")
        return self._loops.run(self.run_async())

    async def run_async(self) -> RunResult:
        """Run the graph to the end on the current loop."""
        self._refuse_while_running("run")
        return await self._run(None)

    def _refuse_while_running(self, what: str) -> None:
        if self.running:
            msg = (
                f"graph {self.graph.id!r} is running in the background (start()); {what} would "
                "share its state. Call `await rt.stop()` first, or make a second GraphRuntime"
            )
            raise RuntimeError(msg)

    async def _run(self, set_up: asyncio.Event | None) -> RunResult:
        session = self._open_session()
        self._stopping = False
        if set_up is not None:  # a background run: the notebook's cells share the loop
            for run in session.runs:
                run.placement.stay_on_worker()
        await session.setup()
        if set_up is not None:
            set_up.set()
        self._tell(RunStateChanged("running"))
        ended = RunStateChanged("stopped")  # unless the run ends on its own, or raises
        try:
            self._sources = [
                asyncio.create_task(session.run_source(run), name=f"dataflow source {run.node_id}")
                for run in session.nodes.values()
                if run.is_source
            ]
            await self._drive(session)
            if not self._stopping:
                ended = RunStateChanged("done")
        except Exception as exc:
            ended = RunStateChanged("failed", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            await self._cancel_sources()
            await session.teardown()
            self._tell(ended)
        return self._result(session)

    def _tell(self, event: RuntimeEvent) -> None:
        """Publish a run's own event (``_publish`` checks nothing: it is called by sessions
        only while somebody subscribes)."""
        if self._subscribers:
            self._publish(event)

    async def start(self) -> None:
        """Start the graph in the background on the running loop.

        Returns once every node is set up (a listener accepts connections from then on);
        a node that fails to set up raises here.
        """
        if self.running:
            msg = f"graph {self.graph.id!r} is already running; call stop() first"
            raise RuntimeError(msg)
        set_up = asyncio.Event()
        task = self._background = asyncio.create_task(self._run(set_up), name="dataflow run")
        waiting = asyncio.ensure_future(set_up.wait())
        await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if task.done() and not set_up.is_set():  # setup failed: say so here
            self._background = None
            task.result()

    async def stop(self, *, drain: bool = True, timeout: float = 10.0) -> RunResult | None:
        """Stop a started run: stop the sources, drain in-flight packets, tear down.

        With ``drain=False``, or when draining takes longer than ``timeout`` seconds,
        everything still running is cancelled. Returns the run's result within ``timeout``
        seconds whatever a node does: a node that ignores its cancellation is left running
        in the background, logged as a warning and listed in ``not_stopped``.
        """
        task = self._background
        if task is None:
            return None
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.not_stopped = []
        await self._cancel_sources(deadline)
        if not drain:
            task.cancel()
        try:
            return await asyncio.wait_for(asyncio.shield(task), max(deadline - loop.time(), 0))
        except TimeoutError:
            task.cancel()
            await asyncio.wait({task}, timeout=max(deadline - loop.time(), _LAST_LOOK_S))
            if not task.done():
                session = self._session
                busy = [r.node_id for r in session.runs if r.busy] if session else []
                self._left_running(busy or ["(the run's teardown)"], timeout)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
        finally:
            self._background = None
        return self._result(self._session) if self._session is not None else None

    def _left_running(self, node_ids: list[str], timeout: float) -> None:
        for node_id in node_ids:
            if node_id not in self.not_stopped:
                self.not_stopped.append(node_id)
            _log.warning(
                "graph %r: node %r did not stop within %.3g s of being cancelled; it is left "
                "running in the background (a node should let asyncio.CancelledError through)",
                self.graph.id,
                node_id,
                timeout,
            )

    async def wait(self) -> RunResult | None:
        """Wait until a started run ends (on its own or through ``stop()``); return its result.

        ``None`` when no run was started (or ``stop()`` already collected it), or when
        ``stop(drain=False)`` cancelled it. A run that failed raises its exception here.
        Waiting never stops the run: cancelling the waiter leaves the run going.
        """
        task = self._background
        if task is None:
            return None
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            waiter = asyncio.current_task()
            if task.cancelled() and (waiter is None or not waiter.cancelling()):
                return None  # the run was cancelled, not this waiter
            raise
        except Exception:
            if self._background is task:
                self._background = None  # the failure is told here, once; stop() is a no-op
            raise

    async def aclose(self) -> None:
        """Stop a started run, then release the executor's threads, the state and the log."""
        await self.stop()
        await self.executor.close()
        await self.state.close()
        self.log.close()

    def close(self) -> None:
        """``aclose()`` from synchronous code."""
        self._loops.run(self.aclose())
        self._loops.close()

    @property
    def running(self) -> bool:
        """Whether a started run is still going."""
        return self._background is not None and not self._background.done()

    def debugger(self) -> Debugger:
        """A step-by-step debugger over a fresh run of this graph (see ``Debugger``)."""
        self._refuse_while_running("debugger()")
        return Debugger(
            self._open_session(), graph_id=self.graph.id, loops=self._loops, publish=self._publish
        )

    @property
    def stats(self) -> Stats:
        """Counters of the current or last run, per node and edge."""
        return self._current().stats

    def frame(self, where: str) -> pd.DataFrame:
        """The last packets that crossed ``"node.port"`` as a DataFrame, metadata first."""
        return frame_of(self.packets(where))

    def packets(self, where: str) -> list[DataPacket]:
        """The last packets that crossed ``"node.port"`` (at most ``frame_size``), oldest first."""
        session = self._current()
        if where not in session.frames:
            known = ", ".join(sorted(session.frames)) or "none"
            msg = f"no port {where!r} in graph {self.graph.id!r}; ports: {known}"
            raise KeyError(msg)
        return list(session.frames[where])

    def subscribe(self, callback: Publish) -> Callable[[], None]:
        """Call ``callback`` with every event of the runs from now on (a ``RuntimeEvent``:
        ``NodeStatusChanged``, ``NodeFailed``, ... see ``dataflow_jupyter.runtime.events``).

        Returns a function that unsubscribes.
        """
        self._subscribers.append(callback)
        for session in (self._session, self._prepared):  # a run going on hears it from now
            if session is not None:
                session.publish = self._publish
        return lambda: self._subscribers.remove(callback)

    # -- internals -----------------------------------------------------------------------------

    def _current(self) -> Session:
        if self._session is None:
            msg = "the graph has not run yet: call run(), start() or debugger() first"
            raise RuntimeError(msg)
        return self._session

    def _open_session(self) -> Session:
        """A fresh session: the one prepared by the constructor if the graph is unchanged."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared.matches(self.graph):
            prepared.publish = self._publish if self._subscribers else None
            prepared.started_ns = time.time_ns()
            self._session = prepared
            return prepared
        self._session = self._new_session()
        return self._session

    def _new_session(self) -> Session:
        session = Session(
            self.graph,
            self.registry,
            self._order,
            state=self.state,
            executor=self.executor,
            log=self.log,
            dlq=self.dlq,
            frame_size=self.frame_size,
            max_outputs=self.max_outputs,
            publish=self._publish if self._subscribers else None,
            frame_tables=self.frame_tables,
            pushdown=self.pushdown,
        )
        for run in session.runs:
            run.instance.bind_data_root(self.data_root)
        return session

    def _publish(self, event: RuntimeEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - a subscriber never breaks the run
                _log.exception("event subscriber %r failed", callback)

    async def _drive(self, session: Session) -> None:
        with _heap_frozen():
            await self._dispatch(session)

    async def _dispatch(self, session: Session) -> None:
        workers: dict[asyncio.Task[None], NodeRun] = {}
        failures: list[BaseException] = []
        # A background run shows progress only when asked: its line would land in whatever
        # cell runs at the time.
        shown = self.progress if self.progress is not None or not self.running else False
        progress = Progress.maybe(shown, session)
        passes = 0
        waiting_for_slot: list[NodeRun] = []  # ready, but max_concurrency workers run
        clock = time.perf_counter
        yield_at = clock() + _SLICE_S
        try:
            while True:
                session.wake.clear()
                while (run := session.next_marked()) is not None:
                    if run.busy or run.finished:
                        continue  # a busy node's worker marks it again when it lets go
                    if run.inline:
                        out_of_time = session.drain_inline(run, yield_at)
                        if out_of_time or clock() > yield_at:
                            await asyncio.sleep(0)  # the loop's other tasks (a cell) get a turn
                            yield_at = clock() + _SLICE_S
                        if out_of_time:
                            session.mark(run)  # its turn again, after nodes before it
                            continue
                    if run.busy or (
                        not run.ready() and not (run.any_closed and session.settle(run))
                    ):
                        continue
                    if self._slots_taken(workers) >= self.max_concurrency:
                        waiting_for_slot.append(run)
                        continue
                    run.busy = True  # one worker per node; it releases the node on exit
                    task = asyncio.create_task(self._worker(session, run, workers, failures))
                    workers[task] = run
                if waiting_for_slot and self._slots_taken(workers) < self.max_concurrency:
                    for run in waiting_for_slot:
                        session.mark(run)
                    waiting_for_slot.clear()
                if failures:
                    raise failures[0]
                finishing = any(not t.done() for t in session.finishing)
                if session.all_finished and not workers and not finishing:
                    break
                sources_alive = sum(not t.done() for t in self._sources)
                if (
                    not workers
                    and not finishing
                    and not sources_alive
                    and not session.marks
                    and session.idle()
                ):
                    msg = f"the run cannot progress: {session.describe_waiting()}"
                    raise StallError(msg)
                passes += 1
                if session.marks:
                    session.wake.set()  # nodes left for a free slot: look again
                if passes % _YIELD_EVERY == 0 or not session.wake.is_set():
                    await asyncio.sleep(0)  # let sources and workers run, then look again
                if not session.wake.is_set() and session.stalled() is not None:
                    await asyncio.sleep(0)  # a woken producer may not have run yet
                    problem = session.stalled()
                    if problem is not None:
                        raise StallError(problem)
                await session.wake.wait()
                yield_at = clock() + _SLICE_S  # the loop's other tasks just had their turn
                if progress is not None:
                    progress.update()
        finally:
            pending = [*workers, *session.finishing]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            if progress is not None:
                progress.close()

    async def _worker(
        self,
        session: Session,
        run: NodeRun,
        workers: dict[asyncio.Task[None], NodeRun],
        failures: list[BaseException],
    ) -> None:
        try:
            streak = 0
            while True:
                ready = run.ready()
                if ready and run.inline and not any(channel.full for channel in run.blocking):
                    break  # its outputs have room again: the dispatcher fires it inline
                if ready:
                    await session.fire_batch(run)
                elif run.any_closed and session.settle(run):
                    await session.finish_step(run)
                else:
                    break
                streak += 1
                if streak % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - an internal failure ends the run, not hangs it
            failures.append(exc)
        finally:
            run.busy = False
            workers.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            session.mark(run)
            session.wake.set()

    def _slots_taken(self, workers: dict[asyncio.Task[None], NodeRun]) -> int:
        """Workers that hold a concurrency slot: those not waiting for room on an edge."""
        if len(workers) < self.max_concurrency:
            return len(workers)
        return sum(1 for run in workers.values() if not run.blocked_puts)

    async def _cancel_sources(self, deadline: float | None = None) -> None:
        """Cancel the sources and wait for them until ``deadline`` (loop time; by default
        ``_SOURCE_GRACE_S`` from now); a source still running then is reported."""
        sources, self._sources = self._sources, []
        for task in sources:
            task.cancel()
        session = self._session
        if session is not None:  # a source cancelled before it ran closes its outputs here
            for run in session.runs:
                if run.is_source:
                    session.close_outputs(run)
        if not sources:
            return
        loop = asyncio.get_running_loop()
        start = loop.time()
        end = deadline if deadline is not None else start + _SOURCE_GRACE_S
        _, running = await asyncio.wait(sources, timeout=max(end - start, 0))
        if running and session is not None:
            names = {task: node_id for node_id, task in session.source_tasks.items()}
            self._left_running([names.get(t, t.get_name()) for t in running], end - start)

    def _result(self, session: Session) -> RunResult:
        return RunResult(
            packets={k: list(v) for k, v in session.outputs.items()},
            counts=dict(session.output_counts),
            errors=list(session.errors),
            stats=session.stats,
            frames=session.frames,
            duration_s=(time.time_ns() - session.started_ns) / 1e9,
        )

    def _replay(self, letters: list[DeadLetter]) -> RunResult:
        self._refuse_while_running("replay()")
        return self._loops.run(self._replay_async(letters))

    async def _replay_async(self, letters: list[DeadLetter]) -> RunResult:
        """Fire the letters' nodes again in a session of its own: ``rt.stats`` and frames keep
        the run's figures; the replay's are in the result (and ``rt.last_replay``)."""
        session = self._new_session()
        for letter in letters:
            session.nodes[letter.node_id].replays.append(dict(letter.inputs))
        for run in session.runs:
            if run.is_source:  # a replay runs no source: their streams have ended
                session.close_outputs(run)
        await session.setup()
        try:
            await self._drive(session)
        finally:
            await session.teardown()
        self.last_replay = self._result(session)
        return self.last_replay


_frozen_runs = 0


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """Keep the cyclic GC off the heap that existed before the run, while runs go on.

    A run allocates a packet, a dict and a few tuples per hop; each young collection would
    otherwise be followed by full ones that walk every object of the kernel (pandas,
    pyarrow, the notebook's data). ``gc.freeze`` parks those objects until the last run
    ends; garbage made during the run is collected as usual.
    """
    global _frozen_runs  # noqa: PLW0603 - one counter for every runtime of the process
    if _frozen_runs == 0:
        gc.freeze()
    _frozen_runs += 1
    try:
        yield
    finally:
        _frozen_runs -= 1
        if _frozen_runs == 0:
            gc.unfreeze()


def _make_state(choice: StateChoice | None, graph: Graph, data_root: DataRoot) -> StateAdapter:
    storage = graph.config.state_storage
    kind: object = storage.type if choice is None else choice
    if isinstance(kind, StateAdapter):
        return kind
    if kind == "memory":
        return MemoryState()
    if kind == "file":
        folder = storage.path or str(Path(".dataflow-state") / graph.id)
        return FileState(data_root.make_dirs(folder, where="config.stateStorage.path"))
    if kind == "redis":
        # Imported by name when asked for: redis loads only for a graph that uses it, and the
        # runtime's import graph stays free of it (only state/redis.py names redis).
        try:
            module = importlib.import_module("dataflow_jupyter.state.redis")
        except ImportError as exc:  # redis is a dependency: a broken installation
            msg = (
                f"state='redis' uses dataflow_jupyter.state.redis (RedisState), which could not "
                f"be imported ({exc}); reinstall dataflow-jupyter with its dependencies, use "
                "state='file' or pass a StateAdapter"
            )
            raise ValueError(msg) from exc
        adapter: StateAdapter = module.RedisState(url=storage.url, prefix=storage.prefix)
        return adapter
    msg = f"state must be 'memory', 'file', 'redis' or a StateAdapter; got {kind!r}"
    raise ValueError(msg)
