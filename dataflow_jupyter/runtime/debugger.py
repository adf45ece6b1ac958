"""Debugger: run a graph one firing at a time, driven from notebook cells.

```python
dbg = rt.debugger()
dbg.step()                      # one firing; returns a Step (its HTML repr shows the tables)
dbg.step(5)                     # five, as a list
dbg.add_breakpoint("n3", condition="value['x'] > 3")
dbg.resume()                    # runs until a breakpoint is about to fire: returns that Step
dbg.pending                     # queued packets per edge, as a DataFrame
```

Code that already runs on the loop (the canvas widget) uses ``await dbg.step_async()``,
``await dbg.resume_async()`` and ``await dbg.aclose()``: the synchronous calls would
re-enter the running loop.

While debugging, ``block`` edges hold whatever they are given: nothing runs between steps,
so a firing that emitted more than an edge's size would otherwise wait forever.

Deterministic order: each step fires the first ready node in topological order (ties by
insertion order). When no node is ready, the first node whose end of stream came runs its
``input_finished``/``finish`` hook (a ``"finish"`` step). Only when neither is left does a
source emit, one packet per step; the sources take turns in topological order. Sources
run as tasks that wait for a permit before each emission, so the same graph stepped twice
gives the same sequence of steps.
``step()`` returns ``None`` once nothing is left to run; ``done`` is then true.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from dataflow_jupyter.expressions import Expression, compile_expression, expression_names
from dataflow_jupyter.packets import describe_payload
from dataflow_jupyter.runtime.events import BreakpointChanged, DebugStepped
from dataflow_jupyter.runtime.frames import frame_page

if TYPE_CHECKING:
    from dataflow_jupyter.packets import DataPacket, ErrorPacket
    from dataflow_jupyter.runtime._noderun import FiringRecord, NodeRun
    from dataflow_jupyter.runtime._session import Session
    from dataflow_jupyter.runtime._sync import LoopOwner
    from dataflow_jupyter.runtime.events import Publish, StepKind

__all__ = ["Debugger", "Step"]


@dataclass(frozen=True, slots=True)
class Step:
    """One step: a firing (``kind="firing"``), a source's emission (``"emit"``), an
    end-of-stream hook (``"finish"``: ``status`` is ``finish`` or ``input_finished``), or a
    firing about to happen at a breakpoint (``"breakpoint"``, not executed yet)."""

    index: int
    node_id: str
    kind: str
    status: str
    inputs: dict[str, DataPacket] = field(default_factory=dict)
    outputs: list[tuple[str, DataPacket]] = field(default_factory=list)
    error: ErrorPacket | None = None

    def signature(self) -> tuple[Any, ...]:
        """What identifies the step regardless of ids and times (for comparing runs)."""
        return (
            self.kind,
            self.node_id,
            self.status,
            tuple((port, repr(p.payload)) for port, p in self.inputs.items()),
            tuple((port, repr(p.payload)) for port, p in self.outputs),
        )

    def __repr__(self) -> str:
        ins = ", ".join(f"{k}={describe_payload(p.payload):.60}" for k, p in self.inputs.items())
        outs = ", ".join(f"{k}={describe_payload(p.payload):.60}" for k, p in self.outputs)
        return f"<Step {self.index} {self.kind} {self.node_id} {self.status}: ({ins}) -> ({outs})>"

    def _repr_html_(self) -> str:
        parts = [
            f"<div><b>Step {self.index}</b> · {html.escape(self.kind)} at node "
            f"<code>{html.escape(self.node_id)}</code> · {html.escape(self.status)}</div>"
        ]
        if self.error is not None:
            parts.append(f"<pre>{html.escape(self.error.message)}</pre>")
        for title, packets in (
            ("inputs", list(self.inputs.items())),
            ("outputs", self.outputs),
        ):
            parts.append(f"<div><i>{title}</i></div>")
            if not packets:
                parts.append("<div>(none)</div>")
            for port, packet in packets:
                parts.append(f"<div><code>{html.escape(port)}</code></div>")
                parts.append(_preview_html(packet))
        return "".join(parts)


def _preview_html(packet: DataPacket) -> str:
    """A packet as an HTML table of at most pandas' ``display.max_rows`` rows."""
    limit = int(pd.get_option("display.max_rows") or 60)
    page, total = frame_page([packet], 0, limit)
    shown = page.to_html(index=False, max_cols=int(pd.get_option("display.max_columns") or 20))
    if total > len(page):
        shown += f"<div><i>first {len(page):,} of {total:,} rows</i></div>"
    return shown


class _Gate:
    """Holds every source before each emission until the debugger grants one permit."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.emissions: dict[str, asyncio.Future[tuple[str, DataPacket]]] = {}
        self.changed = asyncio.Event()

    async def acquire(self, run: NodeRun) -> None:
        permit = asyncio.get_running_loop().create_future()
        self.waiting[run.node_id] = permit
        self.changed.set()
        await permit

    def emitted(self, run: NodeRun, port: str, packet: DataPacket) -> None:
        future = self.emissions.pop(run.node_id, None)
        if future is not None and not future.done():
            future.set_result((port, packet))


class Debugger:
    """Step-by-step execution of a fresh run of a graph (see the module docstring).

    Made by ``GraphRuntime.debugger()``, which hands it what it works with: the ``session``
    of the run to step through, the ``loops`` that synchronous calls run on, and ``publish``
    for its events (``DebugStepped``, ``BreakpointChanged``).
    """

    def __init__(
        self, session: Session, *, graph_id: str, loops: LoopOwner, publish: Publish
    ) -> None:
        self._graph_id = graph_id
        self._loops = loops
        self._publish = publish
        self._session = session
        # Nothing runs between steps, so a firing that emits more than a `block` edge holds
        # would wait forever: while debugging, edges hold what they are given (``pending``
        # shows it). Drop policies keep their size: dropping is what they are for.
        for _, _, channel in self._session.channels.values():
            if channel.overflow == "block":
                channel.size = sys.maxsize
        self._gate: _Gate | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._turn = 0
        self._index = itertools.count(1)
        self._breakpoints: dict[str, Expression | None] = {}
        self._paused: str | None = None
        self._started = False
        self.done = False
        self.history: list[Step] = []

    def __repr__(self) -> str:
        state = "done" if self.done else f"{len(self.history)} steps"
        return f"<Debugger {self._graph_id!r} {state}>"

    # -- public API ---------------------------------------------------------------------------

    def step(self, n: int | None = None) -> Any:
        """Execute one firing and return its ``Step`` (``None`` at the end).

        ``step(n)`` executes up to ``n`` and returns the list of steps.
        """
        if n is None:
            return self._loops.run(self.step_async())
        steps = []
        for _ in range(n):
            step = self.step()
            if step is None:
                break
            steps.append(step)
        return steps

    async def step_async(self) -> Step | None:
        """``step()`` for code that already runs on the loop (the canvas's Step button)."""
        return await self._step_async(check_breakpoints=False)

    def resume(self) -> Step | None:
        """Run until a breakpoint is about to fire and return that step; ``None`` at the end."""
        return self._loops.run(self.resume_async())

    async def resume_async(self) -> Step | None:
        """``resume()`` for code that already runs on the loop (the canvas's Run button)."""
        return await self._resume_async()

    def add_breakpoint(self, node_id: str, condition: str | None = None) -> None:
        """Stop ``resume()`` before ``node_id`` fires (when ``condition`` holds on its input)."""
        if node_id not in self._session.nodes:
            known = ", ".join(self._session.nodes)
            msg = f"no node {node_id!r} in graph {self._graph_id!r}; nodes: {known}"
            raise KeyError(msg)
        self._breakpoints[node_id] = compile_expression(condition) if condition else None
        self._publish(BreakpointChanged(node_id, enabled=True, condition=condition or None))

    def remove_breakpoint(self, node_id: str) -> None:
        """Forget the breakpoint on ``node_id``."""
        self._breakpoints.pop(node_id, None)
        self._publish(BreakpointChanged(node_id, enabled=False))

    @property
    def breakpoints(self) -> list[str]:
        """The nodes that have a breakpoint."""
        return list(self._breakpoints)

    @property
    def current(self) -> str | None:
        """The node of the last step (the canvas highlights it)."""
        return self.history[-1].node_id if self.history else None

    @property
    def pending(self) -> pd.DataFrame:
        """The packets queued on each edge, oldest first."""
        rows = []
        for edge_id, (source, target, channel) in self._session.channels.items():
            for position, packet in enumerate(channel.snapshot()):
                rows.append(
                    {
                        "edge": edge_id,
                        "source": source,
                        "target": target,
                        "position": position,
                        "packet_id": packet.packet_id,
                        "trace_id": packet.trace_id,
                        "value": _pending_value(packet.payload),
                    }
                )
        columns = ["edge", "source", "target", "position", "packet_id", "trace_id", "value"]
        return pd.DataFrame(rows, columns=columns)

    @property
    def stats(self) -> Any:
        """The counters of the debugged run."""
        return self._session.stats

    def close(self) -> None:
        """Stop the sources and tear the nodes down."""
        if self._started and not self.done:
            self._loops.run(self.aclose())

    async def aclose(self) -> None:
        """``close()`` for code that already runs on the loop."""
        if self._started and not self.done:
            await self._finish()

    # -- internals ------------------------------------------------------------------------------

    async def _start(self) -> None:
        if self._started:
            return
        self._gate = _Gate()
        await self._session.setup()  # a failure here leaves the debugger unstarted
        self._started = True
        for run in self._session.nodes.values():
            if run.is_source:
                task = asyncio.create_task(self._session.run_source(run, self._gate))
                self._tasks[run.node_id] = task

    async def _resume_async(self) -> Step | None:
        while True:
            step = await self._step_async(check_breakpoints=True)
            if step is None or step.kind == "breakpoint":
                return step

    async def _step_async(self, *, check_breakpoints: bool) -> Step | None:
        if self.done:
            return None
        await self._start()
        session = self._session
        sources_ended = False
        while True:
            ready = next((run for run in session.runs if run.ready()), None)
            if ready is not None:
                if check_breakpoints and self._hits_breakpoint(ready):
                    self._paused = ready.node_id
                    return self._record(
                        ready.node_id, "breakpoint", "paused", inputs=_peek_inputs(ready)
                    )
                self._paused = None
                record = await session.fire(ready)
                return self._record_firing(record)
            finished = session.finished
            due = next((r for r in session.runs if r.any_closed and session.settle(r)), None)
            if due is not None:
                hooked = await session.finish_step(due)
                if hooked is not None:
                    return self._record_firing(hooked)
                continue
            if session.finished != finished:
                continue  # nodes finished without a hook: their end of stream goes on
            if not sources_ended:
                step = await self._emit_one()
                if step is not None:
                    return step
                sources_ended = True  # the last source ended: what follows from it comes first
                continue
            await self._finish()
            return None

    def _hits_breakpoint(self, run: NodeRun) -> bool:
        if run.node_id not in self._breakpoints or self._paused == run.node_id:
            return False
        condition = self._breakpoints[run.node_id]
        if condition is None:
            return True
        first = next(iter(_peek_inputs(run).values()), None)
        return first is not None and condition.test(expression_names(first))

    async def _emit_one(self) -> Step | None:
        assert self._gate is not None
        gate = self._gate
        sources = [node_id for node_id in self._tasks if not self._tasks[node_id].done()]
        while sources:
            node_id = sources[self._turn % len(sources)]
            task = self._tasks[node_id]
            while node_id not in gate.waiting and not task.done():
                gate.changed.clear()
                changed = asyncio.ensure_future(gate.changed.wait())
                await asyncio.wait([task, changed], return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
            if node_id in gate.waiting:
                self._turn += 1
                emission: asyncio.Future[tuple[str, DataPacket]] = (
                    asyncio.get_running_loop().create_future()
                )
                gate.emissions[node_id] = emission
                gate.waiting.pop(node_id).set_result(None)
                await asyncio.wait([emission, task], return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
                if emission.done():
                    port, packet = emission.result()
                    return self._record(node_id, "emit", "ok", outputs=[(port, packet)])
                gate.emissions.pop(node_id, None)
                return self._record(node_id, "emit", "error", error=self._last_error(node_id))
            sources = [n for n in self._tasks if not self._tasks[n].done()]
        return None

    def _last_error(self, node_id: str) -> ErrorPacket | None:
        return next((e for e in reversed(self._session.errors) if e.node_id == node_id), None)

    async def _finish(self) -> None:
        self.done = True
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self._session.teardown()

    def _record_firing(self, record: FiringRecord) -> Step:
        return self._record(
            record.node_id,
            "firing" if record.kind == "process" else "finish",
            record.status,
            inputs=record.inputs,
            outputs=record.outputs,
            error=record.error,
        )

    def _record(self, node_id: str, kind: StepKind, status: str, **parts: Any) -> Step:
        step = Step(next(self._index), node_id, kind, status, **parts)
        self.history.append(step)
        self._publish(DebugStepped(node_id, step.index, kind))
        return step


def _pending_value(payload: Any) -> Any:
    """A queued payload as ``pending`` shows it: a table by its shape, a value as itself."""
    return describe_payload(payload) if isinstance(payload, pa.Table | pa.RecordBatch) else payload


def _peek_inputs(run: NodeRun) -> dict[str, DataPacket]:
    """The inputs the next firing of ``run`` would take, left in place."""
    if run.replays:
        return dict(run.replays[0])
    inputs: dict[str, DataPacket] = {}
    ports = (
        [next(p for p in run.inputs if run.has(p))]
        if (run.fire_any or not run.required)
        else [*run.required, *(p for p in run.optional if run.has(p))]
    )
    for port in ports:
        channels = run.inputs[port]
        start = run.rr[port]
        for offset in range(len(channels)):
            channel = channels[(start + offset) % len(channels)]
            if channel:
                inputs[port] = channel.peek()
                break
    for port, packet in run.last.items():
        inputs.setdefault(port, packet)
    return inputs
