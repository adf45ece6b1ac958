"""RunControl: the runtime behind one editor, and the runs and steps it starts.

Which runtime. A run or a step needs a ``GraphRuntime`` for the editor's current graph. The
one in use is kept while the graph means the same thing: its *run key* (the document
without node positions and metadata, so dragging a node never restarts anything) equals
the key of the runtime's graph (each runtime's key is worked out once, and keys compare as
plain data, never serialised). Otherwise the runtime the user passed is taken again when
its graph has that key, else a new ``GraphRuntime(graph, registry, executor=...)`` is made.
A runtime the editor made itself and replaces is closed in the background (``aclose()``),
after the debugger open on it; a runtime the user passed is never closed by the editor.

Which executor. An executor the user passed (``GraphEditor(..., executor=DaskExecutor())``)
runs every runtime the editor makes, one after another: each gets it wrapped in a
``SharedExecutor``, which is the executor in all but ``close``, so retiring a runtime never
closes it (nor the cluster behind it). The user closes it when done, as with a runtime.

Runs and steps never block the caller: they are tasks on the running loop (the kernel's),
started by a front-end message or a cell, and nothing here awaits the front end.

- ``run``: with no breakpoint set and no debugger open, ``await rt.start()``,
  ``await rt.wait()``; the run state ends ``done``, ``stopped`` (after ``stop``) or
  ``failed`` (the exception text as the message). With breakpoints, or while stepping, Run
  is a debugger's *continue*: ``await dbg.resume_async()`` runs to the next breakpoint
  (the node shows ``breakpoint``, the run state stays ``stepping``) or to the end
  (``done``); Run again continues from there.
- ``step``: opens a debugger on the runtime if none is open (the breakpoints applied), then
  ``await dbg.step_async()``; steps run one after another (a lock), and the run state is
  ``stepping`` until the debugger is done.
- ``stop``: stops a run (``await rt.stop()``: sources stop, packets drain), else closes the
  editor's debugger.
- breakpoints live in the status board (``board.breakpoints``: node id -> condition) and
  are applied, conditions included, to the editor's debugger, the current one and each one
  opened later (so Stop then Run stops only where a condition holds).
- a failure says where: ``board.fail(exc)`` ends the run ``failed`` and marks the node the
  exception names (the runtime's start errors carry ``node_id``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from dataflow_jupyter._aio import running_loop
from dataflow_jupyter.expressions import compile_expression
from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Coroutine

    from dataflow_jupyter.executors import Executor
    from dataflow_jupyter.graph import Graph
    from dataflow_jupyter.registry import NodeRegistry
    from dataflow_jupyter.runtime import Debugger, Step
    from dataflow_jupyter.widget.status import StatusBoard

__all__ = ["RunControl", "SharedExecutor", "run_key"]

_log = logging.getLogger("dataflow_jupyter.widget")


def run_key(graph: Graph) -> dict[str, Any]:
    """What a run depends on: the document without node positions and metadata (compare
    two keys with ``==``)."""
    document = graph.to_dict()
    document.pop("metadata", None)
    document.pop("$schema", None)
    for node in document.get("nodes", []):
        node.pop("position", None)
    return document


def loop_or_raise(what: str) -> asyncio.AbstractEventLoop:
    """The running loop; a ``RuntimeError`` with a hint in plain synchronous code."""
    loop = running_loop()
    if loop is None:
        msg = (
            f"{what} starts work on the running event loop (a notebook kernel's) and returns "
            "at once, but no loop runs here. In a script use editor.debugger().step(), or "
            "GraphRuntime(editor.to_graph()).run()"
        )
        raise RuntimeError(msg)
    return loop


class SharedExecutor:
    """An executor lent to the runtimes an editor makes: every attribute is the executor's
    own (``inline``, ``submit``, a cluster executor's ``start``, ``fire`` and
    ``dashboard_link``), but ``close`` does nothing, so a retired runtime leaves it open."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.inline = executor.inline

    async def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        return await self.executor.submit(fn, *args)

    async def close(self) -> None:
        """Nothing: the executor outlives the runtime; whoever made it closes it."""

    def __getattr__(self, name: str) -> Any:
        if name == "executor":  # not set yet (a copy being made): never recurse
            raise AttributeError(name)
        return getattr(self.executor, name)

    def __repr__(self) -> str:
        return f"<shared {self.executor!r}>"


class RunControl:
    """Owns an editor's runtime, its debugger and its background tasks."""

    def __init__(
        self,
        board: StatusBoard,
        registry: NodeRegistry,
        runtime: GraphRuntime | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.board = board
        self.registry = registry
        self.executor = executor
        self.runtime = runtime
        self.debugger: Debugger | None = None
        self._given = runtime
        self._given_key = None if runtime is None else run_key(runtime.graph)
        self._key = self._given_key  # the run key of ``runtime``
        self._tasks: set[asyncio.Task[Any]] = set()
        self._run_task: asyncio.Task[None] | None = None
        self._step_lock: asyncio.Lock | None = None
        self._stopping = False
        if runtime is not None:
            board.attach(runtime)

    @property
    def running(self) -> bool:
        """Whether a run goes on (one the editor started, or a cell's ``start()``)."""
        if self._run_task is not None and not self._run_task.done():
            return True
        return self.runtime is not None and self.runtime.running

    # -- the runtime ---------------------------------------------------------------------------

    def runtime_for(self, graph: Graph) -> GraphRuntime:
        """The runtime for ``graph`` (see the module docstring); call only while nothing runs."""
        key = run_key(graph)
        if self.runtime is not None and self._key == key:
            return self.runtime
        if self._given is not None and self._given_key == key:
            new = self._given
        else:
            shared = None if self.executor is None else SharedExecutor(self.executor)
            new = GraphRuntime(graph, self.registry, executor=shared)
        old, dbg = self.runtime, self.debugger
        self.runtime, self.debugger, self._key = new, None, key
        self._retire(dbg, None if old is self._given else old)
        self.board.attach(new)
        return new

    def _retire(self, dbg: Debugger | None, runtime: GraphRuntime | None) -> None:
        """Close a debugger, then a runtime: in the background on a loop, else now."""
        if dbg is None and runtime is None:
            return
        if running_loop() is None:
            if dbg is not None:
                dbg.close()
            if runtime is not None:
                runtime.close()
            return
        self._spawn(_close_both(dbg, runtime))

    def close(self, *, release: bool = True) -> None:
        """Stop following events; close the editor's debugger and the runtime it made.

        ``release=False`` (garbage collection) only lets go of the events.
        """
        self.board.detach()
        dbg, self.debugger = self.debugger, None
        own = self.runtime if self.runtime is not self._given else None
        if release:
            self._retire(dbg, own)

    # -- runs ----------------------------------------------------------------------------------

    def run(self, graph: Graph) -> asyncio.Task[None]:
        """Start a background run of ``graph`` (validated by the caller); return its task."""
        loop_or_raise("run()")
        if self.running:
            msg = "the graph is already running: stop it first"
            raise RuntimeError(msg)
        if self.board.breakpoints or (self.debugger is not None and not self.debugger.done):
            return self._spawn(self._resume(self.open_debugger(graph)))
        rt = self.runtime_for(graph)
        dbg, self.debugger = self.debugger, None
        self._stopping = False
        self.board.begin("running")
        task = self._run_task = self._spawn(self._run(rt, dbg))
        return task

    async def _run(self, rt: GraphRuntime, dbg: Debugger | None) -> None:
        try:
            if dbg is not None:
                async with self._lock():  # after a step that is under way
                    await dbg.aclose()
            await rt.start()
            await rt.wait()
        except asyncio.CancelledError:
            self.board.set_run("stopped")
            raise
        except Exception as exc:  # noqa: BLE001 - shown on the canvas, never raised into the loop
            self.board.fail(exc)
            return
        self.board.set_run("stopped" if self._stopping else "done")

    def stop(self) -> asyncio.Task[None] | None:
        """Stop a run, else close the editor's debugger; return the task doing it, if any."""
        rt = self.runtime
        if rt is not None and self.running:
            self._stopping = True
            return self._spawn(self._stop_run(rt))
        dbg, self.debugger = self.debugger, None
        if dbg is None:
            return None
        if running_loop() is None:
            dbg.close()
            self.board.set_run("stopped")
            return None
        return self._spawn(self._stop_debugger(dbg))

    async def _stop_run(self, rt: GraphRuntime) -> None:
        await rt.stop()
        if self._run_task is None or self._run_task.done():  # a cell's start(): say it here
            self.board.set_run("stopped")

    async def _stop_debugger(self, dbg: Debugger) -> None:
        async with self._lock():
            await dbg.aclose()
        self.board.set_run("stopped")

    # -- steps ---------------------------------------------------------------------------------

    def open_debugger(self, graph: Graph) -> Debugger:
        """The editor's debugger over ``graph``: the open one, or a new one with the breakpoints."""
        if self.running:
            msg = "the graph is running: stop it before stepping"
            raise RuntimeError(msg)
        rt = self.runtime_for(graph)
        if self.debugger is None or self.debugger.done:
            dbg = self.debugger = rt.debugger()
            for node_id, condition in sorted(self.board.breakpoints.items()):
                if node_id in self.board.states:
                    dbg.add_breakpoint(node_id, condition)
            self.board.begin("stepping")
        return self.debugger

    def step(self, graph: Graph) -> asyncio.Task[None]:
        """One step of the editor's debugger (opened if needed), as a task."""
        loop_or_raise("step()")
        dbg = self.open_debugger(graph)
        return self._spawn(self._step(dbg))

    async def _step(self, dbg: Debugger) -> None:
        await self._advance(dbg, dbg.step_async)

    async def _resume(self, dbg: Debugger) -> None:
        await self._advance(dbg, dbg.resume_async)

    async def _advance(self, dbg: Debugger, move: Callable[[], Awaitable[Step | None]]) -> None:
        """One step or one resume of ``dbg``, after any under way; the end says ``done``."""
        async with self._lock():
            if dbg.done:
                return
            try:
                step = await move()
            except Exception as exc:  # noqa: BLE001 - shown on the canvas
                self._forget(dbg)
                self.board.fail(exc)
                return
            if step is None:
                self._forget(dbg)
                self.board.set_run("done")

    def _forget(self, dbg: Debugger) -> None:
        if self.debugger is dbg:
            self.debugger = None

    def set_breakpoint(
        self,
        node_id: str,
        *,
        enabled: bool,
        nodes: Collection[str],
        condition: str | None = None,
    ) -> None:
        """Remember a breakpoint (and its condition) and apply it to the editor's debugger.

        Only on a node of the canvas's graph (``nodes``): anything else raises ``ValueError``.
        Breakpoints on nodes since removed are dropped, so there are never more than nodes.
        A condition that is not a valid expression raises ``ExpressionError`` and changes
        nothing.
        """
        if enabled and node_id not in nodes:
            msg = (
                f"no node {node_id!r:.80} in the canvas's graph to set a breakpoint on; "
                f"nodes: {', '.join(sorted(nodes)[:20]) or 'none'}"
            )
            raise ValueError(msg)
        if enabled and condition:
            compile_expression(condition)
        for stale in set(self.board.breakpoints) - set(nodes):
            self.board.set_breakpoint(stale, enabled=False)
        self.board.set_breakpoint(node_id, enabled=enabled, condition=condition)
        dbg = self.debugger
        if dbg is None or dbg.done:
            return
        try:
            if enabled:
                dbg.add_breakpoint(node_id, condition or None)
            else:
                dbg.remove_breakpoint(node_id)
        except KeyError as exc:
            _log.warning("breakpoint not applied to the debugger: %s", exc.args[0])

    # -- tasks ---------------------------------------------------------------------------------

    async def wait(self) -> None:
        """Wait until every task started here has ended (runs, steps, stops, closes)."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.wait(pending)

    def _lock(self) -> asyncio.Lock:
        if self._step_lock is None:
            self._step_lock = asyncio.Lock()
        return self._step_lock

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("a canvas task failed", exc_info=task.exception())


async def _close_both(dbg: Debugger | None, runtime: GraphRuntime | None) -> None:
    try:
        if dbg is not None:
            await dbg.aclose()
        if runtime is not None:
            await runtime.aclose()
    except Exception:  # noqa: BLE001 - closing is best effort, and said in the log
        _log.exception("closing a replaced runtime failed")
