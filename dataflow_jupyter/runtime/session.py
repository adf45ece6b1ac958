"""Session: the mutable state of one run of a graph, and the moves that change it.

A ``GraphRuntime`` describes how to run a graph; each ``run``, ``start`` or ``debugger``
opens a ``Session``: node instances, channels, counters, frames and the bookkeeping below.
The asyncio code is a thin shell around these moves (``ready``, ``take_inputs``, ``fire``,
``emit``), which the scheduler and the debugger share.

Glossary of the state (node runs, readiness and wires are in ``noderun``):

- *firing*: one call of ``process`` with the inputs a node run takes, retried per the
  spec's ``execution``; *inline* when the dispatcher calls a cheap synchronous node itself;
- *marks*: a heap of the node runs that may have become ready, in topological order;
- *in flight*: firings started and not finished;
- *end of stream*: a source whose ``run`` returned closes its outputs; a node whose inputs
  are closed and drained runs its ``input_finished``/``finish`` hooks (``finish_step``),
  each a firing of its own, then closes its outputs (``close_outputs``), down the graph;
- *finished*: a node whose outputs are closed (the run ends when every node is);
- *blocked puts*: tasks waiting for room on a full ``block`` edge (``stalled`` tells when
  every live task does and nothing can take from them).
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import logging
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Final, Protocol

import pyarrow as pa

from dataflow_jupyter.expressions import compile_expression, expression_names
from dataflow_jupyter.node import NodeContext, StatefulNode
from dataflow_jupyter.packets import BinaryRef, DataPacket, ErrorCode, ErrorPacket
from dataflow_jupyter.runtime.channels import DEFAULT_BUFFER_SIZE, Channel
from dataflow_jupyter.runtime.errors import DeadLetter, StallError, backoff_seconds
from dataflow_jupyter.runtime.noderun import DONE, Done, FiringRecord, NodeRun, Wire
from dataflow_jupyter.runtime.pushdown import push_down
from dataflow_jupyter.runtime.stats import Stats
from dataflow_jupyter.types import PortType, value_problem

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from dataflow_jupyter.executors import Executor
    from dataflow_jupyter.graph import Graph
    from dataflow_jupyter.registry import NodeRegistry
    from dataflow_jupyter.runtime.errors import DeadLetterQueue
    from dataflow_jupyter.runtime.log import ExecutionLog
    from dataflow_jupyter.spec import NodeSpec
    from dataflow_jupyter.state import StateAdapter

__all__ = ["NodeStartError", "Session", "SourceGate"]

_BINARY: Final = (pa.Table, pa.RecordBatch, pa.Buffer, BinaryRef)
_firing_ids = itertools.count(1)
_log = logging.getLogger("dataflow_jupyter.runtime")


class Session:
    """The mutable state of one run, and the moves that change it."""

    def __init__(
        self,
        graph: Graph,
        registry: NodeRegistry,
        order: list[str],
        *,
        state: StateAdapter,
        executor: Executor,
        log: ExecutionLog,
        dlq: DeadLetterQueue,
        frame_size: int,
        max_outputs: int,
        publish: Callable[[dict[str, Any]], None] | None,
        frame_tables: int = 2,
        pushdown: bool = True,
    ) -> None:
        self.graph = graph
        self._described = (graph.nodes, graph.edges)
        self.executor = executor
        self.log = log
        self.dlq = dlq
        self.max_outputs = max_outputs
        self.publish = publish
        self.nodes: dict[str, NodeRun] = {}
        self.channels: dict[str, tuple[str, str, Channel]] = {}
        self.frames: dict[str, deque[DataPacket]] = {}
        self.outputs: dict[str, list[DataPacket]] = {}  # the first max_outputs of each
        self.output_counts: dict[str, int] = {}  # every packet of each unconnected output
        self.outputs_total = 0
        self.errors: list[ErrorPacket] = []
        self.wake = asyncio.Event()
        self.marks: list[int] = []  # a heap of node indices that may have become ready
        self.finishing: set[asyncio.Task[None]] = set()  # inline firings that went on async
        self.in_flight = 0
        self.blocked_puts = 0  # tasks waiting for room on a full channel
        self.finished = 0  # nodes that reached end of stream
        self.source_tasks: dict[str, asyncio.Task[None]] = {}
        self.started_ns = time.time_ns()
        inline_ok = bool(getattr(executor, "runs_inline", False))
        described_by_id = {node.id: node for node in graph.nodes}
        for index, node_id in enumerate(order):
            described = described_by_id[node_id]
            node_type = registry.get(described.type_id, described.version)
            try:
                instance = node_type.load()(node_id, described.settings)
            except Exception as exc:
                what = f"node {node_id!r} ({described.type_id} {described.version})"
                msg = f"{what} could not be made from its settings: {type(exc).__name__}: {exc}"
                raise NodeStartError(node_id, msg) from exc
            if isinstance(instance, StatefulNode):
                instance.bind_state(state, f"{graph.id}/{node_id}")
            run = NodeRun(node_id, index, instance, node_type.spec)
            run.inline = (
                inline_ok
                and not run.offload
                and run.timeout is None
                and not inspect.iscoroutinefunction(run.process)
            )
            arrow = _arrow_ports(node_type.spec)  # their frames keep frame_tables packets
            for port in run.inputs:
                size = min(frame_tables, frame_size) if port in arrow else frame_size
                run.in_frames[port] = self.frames[f"{node_id}.{port}"] = deque(maxlen=size)
            for port in run.outputs:
                size = min(frame_tables, frame_size) if port in arrow else frame_size
                run.out_frames[port] = self.frames[f"{node_id}.{port}"] = deque(maxlen=size)
            self.nodes[node_id] = run
        for edge in graph.edges:
            size = edge.buffer.size if edge.buffer else DEFAULT_BUFFER_SIZE
            overflow = edge.buffer.overflow if edge.buffer else "block"
            channel = Channel(edge.id, size, overflow)
            self.channels[edge.id] = (edge.source, edge.target, channel)
            self.nodes[edge.target].inputs[edge.target_port].append(channel)
            self.nodes[edge.source].outputs[edge.source_port].append(
                Wire(
                    edge.id,
                    self.nodes[edge.target],
                    channel,
                    compile_expression(edge.filter) if edge.filter else None,
                    compile_expression(edge.transform) if edge.transform else None,
                )
            )
        if pushdown:
            push_down(graph, order, {n: r.instance for n, r in self.nodes.items()})
        self.runs = list(self.nodes.values())  # by topological index
        for run in self.runs:
            run.wired()
            # a port with no edge is closed from the start
            run.any_closed = not run.is_source and not all(run.inputs.values())
            self.mark(run)
        self.stats = Stats({n: r.stats for n, r in self.nodes.items()}, self.channels)

    def matches(self, graph: Graph) -> bool:
        """Whether ``graph`` still holds the very node and edge descriptions this was built from.

        Descriptions are frozen and replaced on every change, so identity tells.
        """
        nodes, edges = self._described
        now_nodes, now_edges = graph.nodes, graph.edges
        return (
            len(nodes) == len(now_nodes)
            and len(edges) == len(now_edges)
            and all(a is b for a, b in zip(nodes, now_nodes, strict=True))
            and all(a is b for a, b in zip(edges, now_edges, strict=True))
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def setup(self) -> None:
        """Set every node up, in order; on a failure tear down those already set up."""
        done: list[NodeRun] = []
        for run in self.nodes.values():
            try:
                await run.instance.setup()
            except Exception as exc:
                await self.teardown(done)
                msg = f"node {run.node_id!r} ({run.spec.id} {run.spec.version}) failed to set up"
                raise NodeStartError(run.node_id, f"{msg}: {type(exc).__name__}: {exc}") from exc
            done.append(run)

    async def teardown(self, runs: list[NodeRun] | None = None) -> None:
        """Tear every node down; a failing teardown is logged and never stops the others."""
        for run in reversed(runs if runs is not None else list(self.nodes.values())):
            try:
                await run.instance.teardown()
            except Exception:  # noqa: BLE001 - one node's cleanup must not block the others
                _log.exception("node %r failed to tear down", run.node_id)
        for _, _, channel in self.channels.values():
            channel.clear_waiters()

    def mark(self, run: NodeRun) -> None:
        """Note that ``run`` may have become ready (a packet arrived, or it went idle)."""
        if not run.marked:
            run.marked = True
            heapq.heappush(self.marks, run.index)

    def next_marked(self) -> NodeRun | None:
        """The marked node that comes first in topological order, unmarked; ``None`` if none."""
        if not self.marks:
            return None
        run = self.runs[heapq.heappop(self.marks)]
        run.marked = False
        return run

    def idle(self) -> bool:
        """Nothing is in flight and no node is ready."""
        return self.in_flight == 0 and not any(run.ready() for run in self.nodes.values())

    @property
    def all_finished(self) -> bool:
        """Every node reached end of stream."""
        return self.finished == len(self.runs)

    # -- end of stream ------------------------------------------------------------------------

    def settle(self, run: NodeRun) -> bool:
        """Apply the end-of-stream rules to a node that is not ready and not busy.

        Ports that closed are noted; a node whose end of stream came and that has no hook
        left to run is finished here. Returns whether a hook must run (``finish_step``, in a
        firing of its own). Raises ``StallError`` for a dead node (``NodeRun.dead_port``).
        """
        if run.finished:
            return False
        problem = run.dead_port()
        if problem is not None:
            raise StallError(problem)
        while (port := run.newly_closed_port()) is not None:
            if run.has_input_finished and not run.stop_requested:
                return True
            run.ports_finished.add(port)
        if not run.finish_due():
            return False
        if run.has_finish:
            return True
        self.close_outputs(run)
        return False

    async def finish_step(self, run: NodeRun) -> FiringRecord | None:
        """Run the next end-of-stream hook of ``run`` (``settle`` said one is due).

        ``input_finished`` of a port that closed comes first; ``finish`` last, after which
        the node's outputs close. Returns the hook's firing record.
        """
        port = None if run.stop_requested else run.newly_closed_port()
        if port is not None:
            run.ports_finished.add(port)
            return await self._fire_hook(run, "input_finished", port)
        record = await self._fire_hook(run, "finish", None) if run.has_finish else None
        self.close_outputs(run)
        return record

    async def _fire_hook(self, run: NodeRun, kind: str, port: str | None) -> FiringRecord:
        record = FiringRecord(next(_firing_ids), run.node_id, {}, kind=kind)
        self.in_flight += 1
        try:
            return await self.fire_with(run, {}, record, hook=port)
        finally:
            self.in_flight -= 1
            self.wake.set()

    def close_outputs(self, run: NodeRun) -> None:
        """``run`` reached end of stream: close its output edges and tell their targets."""
        if run.finished:
            return
        run.finished = True
        self.finished += 1
        # what still waits on an abandoned or optional input will never be taken
        for port in run.inputs:
            for channel in run.inputs[port]:
                if channel:
                    channel.abandon()
        for wires in run.outputs.values():
            for wire in wires:
                wire.channel.close()
                wire.target.any_closed = True
                self.mark(wire.target)
        self.wake.set()
        if self.publish is not None:
            self.publish({"type": "node-status", "node_id": run.node_id, "status": "finished"})

    def abandon_inputs(self, run: NodeRun) -> None:
        """``run`` called ``ctx.done()``: discard its input from now on and stop upstream
        nodes (a source is cancelled) once nobody listens to them any more."""
        if run.stop_requested:
            return
        run.stop_requested = True
        run.any_closed = True
        producers: dict[str, NodeRun] = {}
        for source, target, channel in self.channels.values():
            if target == run.node_id:
                channel.abandon()
                producers[source] = self.nodes[source]
        self.mark(run)
        self.wake.set()
        for producer in producers.values():
            if producer.finished or not all(
                wire.channel.abandoned for wires in producer.outputs.values() for wire in wires
            ):
                continue
            if producer.is_source:
                task = self.source_tasks.get(producer.node_id)
                if task is not None and not task.done():
                    task.cancel()
            else:
                self.abandon_inputs(producer)

    def stalled(self) -> str | None:
        """Why the run cannot progress; ``None`` while it may.

        It cannot when something waits for room on a full edge, every busy node's firing
        and every live source waits for room too, and no node is ready or marked: nobody is
        left to take a packet from those edges.
        """
        if not self.blocked_puts or self.marks:
            return None
        for run in self.runs:
            if run.busy or (run.is_source and not run.finished):
                if not run.blocked_puts:
                    return None  # it is working, or waiting on something else
            elif run.ready():
                return None
        blocked = [
            (edge_id, source, target, channel)
            for edge_id, (source, target, channel) in self.channels.items()
            if channel.blocked
        ]
        if sum(channel.blocked for *_, channel in blocked) < self.blocked_puts:
            return None  # a waiter was woken and has not run yet
        lines = [
            f"{source!r} waits for room on edge {edge_id!r} ({len(channel)}/{channel.size} "
            f"queued) into {target!r}, which {self._why_waiting(self.nodes[target])}"
            for edge_id, source, target, channel in blocked
        ]
        return (
            "the run cannot progress: every task waits for room on a full edge, and nothing "
            "can take from them. " + "; ".join(lines)
        )

    def _why_waiting(self, run: NodeRun) -> str:
        if run.busy:
            return "is busy with a firing that waits too"
        reasons = []
        for port in run.required or tuple(run.inputs):
            if run.has(port):
                continue
            channels = run.inputs[port]
            if channels and all(channel.closed for channel in channels):
                got = sum(channel.delivered for channel in channels)
                reasons.append(f"waits on {port!r}, which finished after {got} packets")
            else:
                upstream = sorted(
                    {s for s, t, c in self.channels.values() if t == run.node_id and c in channels}
                )
                reasons.append(
                    f"waits on {port!r}, where nothing arrives (from {', '.join(upstream)})"
                )
        return "; ".join(reasons) or "cannot fire"

    def describe_waiting(self) -> str:
        """Which nodes have not finished, and what each waits on (for a run that ends idle)."""
        parts = [
            f"{run.node_id!r} {self._why_waiting(run)}"
            for run in self.runs
            if not run.finished and not run.is_source
        ]
        return "; ".join(parts) or "no node waits"

    # -- firing ------------------------------------------------------------------------------

    async def fire(self, run: NodeRun) -> FiringRecord:
        """Take one firing's inputs and fire ``run``, with retries and error routing."""
        inputs = run.take_inputs()
        self.in_flight += 1
        try:
            return await self.fire_with(run, inputs)
        finally:
            self.in_flight -= 1
            self.wake.set()

    async def fire_with(
        self,
        run: NodeRun,
        inputs: dict[str, DataPacket],
        record: FiringRecord | None = None,
        error: ErrorPacket | None = None,
        hook: str | None = None,
    ) -> FiringRecord:
        """Fire ``run`` with ``inputs`` until it succeeds or its failure is routed.

        An inline firing that failed hands over its ``record`` and first ``error``: the
        retries go on from there. A ``record`` of kind ``finish``/``input_finished`` runs
        that end-of-stream hook instead of ``process`` (``hook`` is the port of
        ``input_finished``).
        """
        if record is None or record.kind != "process":
            if record is None:
                record = FiringRecord(next(_firing_ids), run.node_id, inputs)
            run.stats.firings += 1
            if self.publish is not None:
                self.publish({"type": "node-status", "node_id": run.node_id, "status": "running"})
        first = next(iter(inputs.values()), None)
        trace_id = first.trace_id if first is not None else None
        execution = run.spec.execution
        while True:
            if error is None:
                record.start_ns = time.time_ns()
                error = await self._attempt(run, inputs, record, trace_id, hook)
                record.end_ns = time.time_ns()
                if error is None:
                    if record.kind != "process":
                        record.status = record.kind
                    elif record.outputs:
                        record.status = "ok"
                    else:
                        record.status = "filtered"
                        run.stats.filtered += 1
                    break
            if error.recoverable and record.attempt <= execution.retry:
                self._log_firing(record, "retry", error.message)
                run.stats.retries += 1
                try:
                    await asyncio.sleep(backoff_seconds(execution.retry_backoff_ms, record.attempt))
                except asyncio.CancelledError:
                    self._cancelled_in_backoff(run, error, inputs, record)
                    raise
                record.attempt += 1
                error = None
                continue
            record.error = error
            record.status = await self._route_error(run, error, inputs, record)
            break
        self._log_firing(record, record.status, record.error.message if record.error else None)
        if self.publish is not None:
            status = "error" if record.error else "done"
            self.publish({"type": "node-status", "node_id": run.node_id, "status": status})
        return record

    def fire_inline(self, run: NodeRun) -> bool:
        """Fire an inline node (synchronous ``process``, ``offload: none``, no timeout) now.

        Only when every ``block`` output has room; otherwise return ``False`` and let a
        worker fire it (it can wait for room). A failure, or sends that find a channel
        full, continue in a task that keeps the node busy, so order is kept. This is the
        runtime's hot path: it allocates one context-free firing and no coroutine.
        """
        for channel in run.blocking:
            if channel.full:
                return False
        inputs = run.take_inputs()
        first = next(iter(inputs.values()), None)
        firing_id = next(_firing_ids)
        run.stats.firings += 1
        buffered = run.buffered
        if buffered:  # emitted between firings, after the last one had returned
            self._late_emits(run, len(buffered))
            buffered.clear()
        run.ctx.trace_id = trace_id = first.trace_id if first is not None else None
        publish = self.publish
        if publish is not None:
            publish({"type": "node-status", "node_id": run.node_id, "status": "running"})
        start = time.time_ns()
        error: ErrorPacket | None = None
        waiting: list[tuple[Wire, DataPacket]] = []
        emitted = 0
        try:
            result = run.process(inputs, run.ctx)
            if isinstance(result, ErrorPacket):
                error = _own_error(result, run, first, 1)
            else:
                if result is not None:  # a dict (the common case), or a bare value
                    buffered.extend(
                        result.items() if type(result) is dict else _returned(run, result)
                    )
                for port, value in buffered:
                    packet, wires = self._prepare(run, port, value, inputs, firing_id)
                    self._record(run, port, packet, wires, firing_id)
                    emitted += 1
                    for wire in wires:
                        sent = (
                            packet
                            if wire.filter is None and wire.transform is None
                            else self._on_wire(wire, packet)
                        )
                        if sent is not None:
                            if waiting or not wire.channel.offer(sent):
                                waiting.append((wire, sent))
                            else:
                                self.mark(wire.target)
        except _EmitError as exc:
            error = exc.error
        except Exception as exc:  # noqa: BLE001 - a node's failure becomes an ErrorPacket
            error = ErrorPacket.from_exception(
                exc, node_id=run.node_id, packet=first, recoverable=run.spec.execution.recoverable
            )
        end = time.time_ns()
        buffered.clear()
        if emitted:
            self.wake.set()
        if run.ctx.wants_no_more:
            run.ctx.wants_no_more = False
            self.abandon_inputs(run)
        if error is not None or waiting:
            record = FiringRecord(firing_id, run.node_id, inputs, start_ns=start, end_ns=end)
            run.busy = True
            self.in_flight += 1
            task = asyncio.get_running_loop().create_task(self._finish(run, record, error, waiting))
            self.finishing.add(task)
            task.add_done_callback(self.finishing.discard)
            return True
        status = "ok"
        if not emitted:
            status = "filtered"
            run.stats.filtered += 1
        if self.log.enabled:
            ids = (
                (first.packet_id,)
                if len(inputs) == 1 and first is not None
                else tuple(p.packet_id for p in inputs.values())
            )
            self.log.record_firing(firing_id, run.node_id, trace_id, ids, start, end, status, 1)
        if publish is not None:
            publish({"type": "node-status", "node_id": run.node_id, "status": "done"})
        return True

    async def _finish(
        self,
        run: NodeRun,
        record: FiringRecord,
        error: ErrorPacket | None,
        waiting: list[tuple[Wire, DataPacket]],
    ) -> None:
        """The rest of an inline firing: sends that wait for room, or retries and routing."""
        try:
            for wire, packet in waiting:  # already counted as emitted: they must arrive
                await self._put(run, wire.channel, packet)
                self.mark(wire.target)
                self.wake.set()
            if error is not None:
                await self.fire_with(run, record.inputs, record, error)
                return
            record.status = "ok"
            self._log_firing(record, record.status, None)
            if self.publish is not None:
                self.publish({"type": "node-status", "node_id": run.node_id, "status": "done"})
        finally:
            run.busy = False
            self.in_flight -= 1
            self.mark(run)
            self.wake.set()

    async def _attempt(
        self,
        run: NodeRun,
        inputs: dict[str, DataPacket],
        record: FiringRecord,
        trace_id: str | None,
        hook_port: str | None = None,
    ) -> ErrorPacket | None:
        record.outputs = []
        buffered: list[tuple[str, Any]] = []
        call: Callable[..., Any]
        args: tuple[Any, ...]
        if record.kind == "finish":
            call, args = run.instance.finish, ()
        elif record.kind == "input_finished":
            call, args = run.instance.input_finished, (hook_port,)
        else:
            call, args = run.process, (inputs,)
        is_async = inspect.iscoroutinefunction(call)

        returned = False

        def emit_sync(port: str, value: Any) -> Done:
            if returned:
                self._late_emits(run, 1)
            else:
                buffered.append((port, value))
            return DONE

        async def emit_async(port: str, value: Any) -> None:
            if returned:
                self._late_emits(run, 1)
                return
            record.outputs.append((port, await self.emit(run, port, value, inputs, record)))

        ctx = NodeContext(run.node_id, emit_async if is_async else emit_sync, trace_id=trace_id)
        first = next(iter(inputs.values()), None)
        try:
            submitted = self.executor.submit(call, *args, ctx, offload=run.offload)
            result = await (asyncio.wait_for(submitted, run.timeout) if run.timeout else submitted)
            if ctx.wants_no_more:
                self.abandon_inputs(run)
            if isinstance(result, ErrorPacket):
                return _own_error(result, run, first, record.attempt)
            if result is not None:
                buffered.extend(_returned(run, result))
            for port, value in buffered:
                record.outputs.append((port, await self.emit(run, port, value, inputs, record)))
        except TimeoutError:
            message = f"node {run.node_id!r} took longer than {run.spec.execution.timeout_ms} ms"
            return ErrorPacket(
                ErrorCode.TIMEOUT,
                message,
                run.node_id,
                trace_id,
                run.spec.execution.recoverable,
                record.attempt,
                packet=first,
            )
        except _EmitError as exc:
            return exc.error
        except Exception as exc:  # noqa: BLE001 - a node's failure becomes an ErrorPacket
            return ErrorPacket.from_exception(
                exc,
                node_id=run.node_id,
                packet=first,
                recoverable=run.spec.execution.recoverable,
                attempt=record.attempt,
            )
        finally:
            returned = True  # what the node emits from now on is late
        return None

    def _late_emits(self, run: NodeRun, count: int) -> None:
        """Packets a node emitted after its firing had returned: counted, never sent."""
        if not run.stats.late_emits:
            _log.warning(
                "node %r emitted after its firing had returned (from a thread or a task it "
                "started?); such packets are counted as late_emits and not sent. Emit before "
                "process returns, or await ctx.emit in an async process",
                run.node_id,
            )
        run.stats.late_emits += count

    def _cancelled_in_backoff(
        self,
        run: NodeRun,
        error: ErrorPacket,
        inputs: dict[str, DataPacket],
        record: FiringRecord,
    ) -> None:
        """The run stopped while a retry waited: the input goes to the dead-letter queue."""
        message = (
            f"node {run.node_id!r}: the run stopped while retry {record.attempt} waited "
            f"(after: {error.message}); replay it from the dead-letter queue"
        )
        cancelled = ErrorPacket(
            ErrorCode.CANCELLED,
            message,
            run.node_id,
            error.trace_id,
            recoverable=True,
            attempt=record.attempt,
            packet=error.packet,
        )
        record.error = cancelled
        record.status = "dead_letter"
        self.errors.append(cancelled)
        run.stats.dead_lettered += 1
        self.dlq.append(DeadLetter(cancelled, run.node_id, dict(inputs)))
        self._log_firing(record, record.status, message)

    async def _route_error(
        self,
        run: NodeRun,
        error: ErrorPacket,
        inputs: dict[str, DataPacket],
        record: FiringRecord,
    ) -> str:
        self.errors.append(error)
        if self.publish is not None:
            self.publish(
                {"type": "node-execution-error", "node_id": run.node_id, "error": error.to_dict()}
            )
        if run.outputs.get("error"):
            try:
                packet = await self.emit(run, "error", error, inputs, record)
            except _EmitError as refused:  # the error edge's own expression failed
                _log.warning("node %r: error output refused: %s", run.node_id, refused)
            else:
                run.stats.errors += 1
                record.outputs.append(("error", packet))
                return "error"
        run.stats.dead_lettered += 1
        self.dlq.append(DeadLetter(error, run.node_id, dict(inputs)))
        return "dead_letter"

    # -- emission ----------------------------------------------------------------------------

    async def emit(
        self,
        run: NodeRun,
        port: str,
        value: Any,
        inputs: Mapping[str, DataPacket] | None,
        record: FiringRecord | None = None,
    ) -> DataPacket:
        """Wrap ``value``, check it against the port, record it and send it on every wire."""
        firing_id = record.firing_id if record is not None else None
        packet, wires = self._prepare(run, port, value, inputs, firing_id)
        taken = 0
        try:
            for wire in wires:
                await self._send(run, wire, packet)
                taken += 1
        finally:
            # a send cancelled before any edge took the packet (a webhook's 503) never
            # emitted it; once one edge has it, it counts
            if taken or not wires:
                self._record(run, port, packet, wires, firing_id)
        return packet

    def _prepare(
        self,
        run: NodeRun,
        port: str,
        value: Any,
        inputs: Mapping[str, DataPacket] | None,
        firing_id: int | None,
    ) -> tuple[DataPacket, list[Wire]]:
        """Wrap and check an emitted value; return the packet and the wires to send on.

        Raises ``_EmitError`` when the port does not exist or refuses the value. The caller
        sends the packet, then ``_record``s it.
        """
        wires = run.outputs.get(port)
        if wires is None:
            msg = (
                f"node {run.node_id!r} emitted on port {port!r}, which {run.spec.id} does not "
                f"have; its outputs: {', '.join(run.outputs) or 'none'}"
            )
            raise _EmitError(ErrorPacket(ErrorCode.VALIDATION, msg, run.node_id))
        packet = self._wrap(run, port, value, inputs)
        check = run.checks[port]
        if check is not None and not isinstance(value, ErrorPacket):
            problem = value_problem(check, packet, node_id=run.node_id, port=port)
            if problem is not None:
                run.stats.type_mismatches += 1
                first = next(iter(inputs.values()), None) if inputs else None
                raise _EmitError(
                    ErrorPacket(
                        ErrorCode.TYPE_MISMATCH, problem, run.node_id, packet.trace_id, packet=first
                    )
                )
        return packet, wires

    def _record(
        self,
        run: NodeRun,
        port: str,
        packet: DataPacket,
        wires: list[Wire],
        firing_id: int | None,
    ) -> None:
        """Count a packet that left ``port`` (its wires took it) in stats, frames and log."""
        run.stats.emitted += 1
        run.out_frames[port].append(packet)
        if self.log.enabled:
            self.log.record_packet(
                packet.packet_id,
                packet.trace_id,
                run.node_id,
                port,
                packet.timestamp,
                _size(packet),
                packet.parents,
                firing_id,
            )
        if not wires:
            key = f"{run.node_id}.{port}"
            kept = self.outputs.setdefault(key, [])
            if len(kept) < self.max_outputs:
                kept.append(packet)
            self.output_counts[key] = self.output_counts.get(key, 0) + 1
            self.outputs_total += 1

    async def _send(self, run: NodeRun, wire: Wire, packet: DataPacket) -> None:
        sent = self._on_wire(wire, packet)
        if sent is not None:
            if not wire.channel.offer(sent):
                await self._put(run, wire.channel, sent)
            self.mark(wire.target)
        self.wake.set()

    async def _put(self, run: NodeRun, channel: Channel, packet: DataPacket) -> None:
        """Wait for room on a full channel, counted as a blocked put (see ``stalled``)."""
        self.blocked_puts += 1
        run.blocked_puts += 1
        self.wake.set()  # the dispatcher looks again: this may be the last live task
        try:
            await channel.put(packet)
        finally:
            self.blocked_puts -= 1
            run.blocked_puts -= 1

    def _on_wire(self, wire: Wire, packet: DataPacket) -> DataPacket | None:
        """The packet after the edge's filter and transform; ``None`` when filtered."""
        if wire.filter is not None or wire.transform is not None:
            names = expression_names(packet)
            try:
                if wire.filter is not None and not wire.filter.test(names):
                    wire.channel.filtered += 1
                    return None
                if wire.transform is not None:
                    packet = packet.derive(wire.transform.evaluate(names))
            except Exception as exc:
                message = f"edge {wire.edge_id!r}: {exc}"
                error = ErrorPacket(
                    getattr(exc, "error_code", ErrorCode.EXPRESSION),
                    message,
                    packet.origin_node,
                    packet.trace_id,
                    packet=packet,
                )
                raise _EmitError(error) from exc
        return packet

    def _wrap(
        self,
        run: NodeRun,
        port: str,
        value: Any,
        inputs: Mapping[str, DataPacket] | None,
    ) -> DataPacket:
        node_id = run.node_id
        version = run.versions.get(port)
        if isinstance(value, DataPacket):
            if value.origin_node == node_id and version is None:
                return value
            return value.derive(origin_node=node_id, schema_version=version or value.schema_version)
        base = next(iter(inputs.values()), None) if inputs else None
        if isinstance(value, _BINARY):
            payload, binary = None, value
        else:
            payload, binary = value, None
        if base is None:
            return DataPacket(payload, binary, version or "1.0.0", origin_node=node_id)
        parents = None if len(inputs or ()) <= 1 else [p.packet_id for p in inputs.values()]  # type: ignore[union-attr]
        return base.derive(
            payload,
            binary_value=binary,
            origin_node=node_id,
            schema_version=version or base.schema_version,
            parents=parents,
        )

    def _log_firing(self, record: FiringRecord, status: str, error: str | None) -> None:
        if self.log.enabled:
            self.log.record_firing(
                record.firing_id,
                record.node_id,
                next(iter(record.inputs.values())).trace_id if record.inputs else None,
                tuple(p.packet_id for p in record.inputs.values()),
                record.start_ns,
                record.end_ns or time.time_ns(),
                status,
                record.attempt,
                error,
            )

    # -- sources -----------------------------------------------------------------------------

    async def run_source(self, run: NodeRun, gate: SourceGate | None = None) -> None:
        """Run a source's loop; each emission starts a trace. Failures are routed as errors.

        With a ``gate`` (the debugger's), every emission waits for a permit first.
        """
        record = FiringRecord(next(_firing_ids), run.node_id, {})

        async def emit(port: str, value: Any) -> None:
            if gate is not None:
                await gate.acquire(run)
            packet = await self.emit(run, port, value, None, record)
            if gate is not None:
                gate.emitted(run, port, packet)

        ctx = NodeContext(run.node_id, emit)
        task = asyncio.current_task()
        if task is not None:
            self.source_tasks[run.node_id] = task
        try:
            await run.instance.run(ctx)  # type: ignore[attr-defined]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing source must not stop the others
            error = (
                exc.error
                if isinstance(exc, _EmitError)
                else ErrorPacket.from_exception(exc, node_id=run.node_id)
            )
            record.end_ns = time.time_ns()
            record.error = error
            record.status = await self._route_error(run, error, {}, record)
            self._log_firing(record, record.status, error.message)
        else:
            if run.has_finish:
                await self._fire_hook(run, "finish", None)
        finally:
            self.close_outputs(run)  # end of stream, also when stopped (stop drains)
            self.wake.set()


class SourceGate(Protocol):
    """Lets a source emit one packet at a time (the debugger steps sources this way)."""

    async def acquire(self, run: NodeRun) -> None:
        """Wait for the permit to emit one packet."""
        ...

    def emitted(self, run: NodeRun, port: str, packet: DataPacket) -> None:
        """The permitted packet went out."""
        ...


class NodeStartError(RuntimeError):
    """A node could not be made or set up, so the run could not start; ``node_id`` says which."""

    def __init__(self, node_id: str, message: str) -> None:
        super().__init__(message)
        self.node_id = node_id


class _EmitError(Exception):
    """An emission the port or the wire refused; carries the ErrorPacket."""

    def __init__(self, error: ErrorPacket) -> None:
        super().__init__(error.message)
        self.error = error


def _returned(run: NodeRun, result: Any) -> Any:
    """The ``(port, value)`` pairs a returned result emits: a dict's items, or a bare value
    (falsy ones too: only ``None`` means nothing) on the node's one data output."""
    if isinstance(result, dict):
        return result.items()
    port = run.data_output
    if port is None:
        outputs = ", ".join(run.outputs) or "none"
        msg = (
            f"node {run.node_id!r} returned {type(result).__name__} {result!r:.60} but has "
            f"several outputs ({outputs}); return {{port: value}}, or None to emit nothing"
        )
        raise TypeError(msg)
    return ((port, result),)


def _own_error(
    error: ErrorPacket, run: NodeRun, first: DataPacket | None, attempt: int
) -> ErrorPacket:
    """A node's returned ErrorPacket, with the node, trace, input and attempt filled in."""
    return ErrorPacket(
        error.code,
        error.message,
        error.node_id or run.node_id,
        error.trace_id or (first.trace_id if first is not None else None),
        error.recoverable,
        attempt,
        error.timestamp,
        error.details,
        error.packet or first,
    )


def _size(packet: DataPacket) -> int:
    binary = packet.binary_value
    if binary is None:
        return sys.getsizeof(packet.value)
    if isinstance(binary, BinaryRef):
        return binary.nbytes or 0
    nbytes = getattr(binary, "nbytes", None)  # a table's nbytes walks its buffers: once
    return int(binary.size if nbytes is None else nbytes)


def _arrow_ports(spec: NodeSpec) -> frozenset[str]:
    """The ports declared to carry Arrow data (``table``, ``binary``): their frames are short."""
    ports = [*spec.ports.inputs, *spec.ports.outputs]
    return frozenset(p.name for p in ports if p.type in (PortType.TABLE, PortType.BINARY))
