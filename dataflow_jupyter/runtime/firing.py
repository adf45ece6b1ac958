"""Firing: one call of a node on one set of inputs, and where its results go.

Every firing, wherever it runs, takes the same steps:

1. *begin*: take the inputs (``NodeRun.take_inputs``), count the firing, show ``running``;
2. *call*: ``process`` (or an end-of-stream hook) runs where the node's ``Placement`` says
   (see ``placement``): *inline* in the dispatcher (``fire_inline``), on a *worker* thread
   in a batch of queued inputs (``fire_batch``), or awaited on the loop for an ``async``
   node. The call gives an *outcome*: the returned result or the raised exception, what
   the node emitted meanwhile, and when it started and ended;
3. *conclude* (``_conclude``, synchronous, the same for every path): a returned
   ``ErrorPacket``, an exception or a timeout becomes the firing's error; otherwise each
   emitted value is wrapped into a packet, checked against its port, passed through every
   wire's filter/transform (all of them before any is sent, so a failing expression sends
   nothing), counted, framed, logged and offered to the channels. Sends that find a
   ``block`` channel full are *waiting*;
4. *complete* (``_complete``, only when there is an error or a waiting send): wait for room,
   retry a recoverable error with backoff (each attempt goes back to step 2), then route a
   final error to the ``error`` output or the dead-letter queue;
5. *record*: log the firing (``ok``, ``filtered``, ``error``, ``dead_letter``, ...), show
   ``done`` or ``error``.

The inline path runs steps 1-3 and 5 without a coroutine, a task or a ``FiringRecord``: it
is the runtime's hot path. Only a firing that fails, or whose sends must wait, continues in
a task (step 4) that keeps the node busy, so order is kept.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from sys import getsizeof
from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter.node import NodeContext
from dataflow_jupyter.packets import ErrorCode, ErrorPacket, emitted_packet
from dataflow_jupyter.runtime.batches import Outcome, Progress, run_calls
from dataflow_jupyter.runtime.emission import (
    WRAPPED,
    Emission,
    EmitError,
    Sends,
    first_packet,
    parents_of,
)
from dataflow_jupyter.runtime.errors import DeadLetter, backoff_seconds
from dataflow_jupyter.runtime.noderun import FiringRecord, NodeRun

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from dataflow_jupyter.executors import Executor
    from dataflow_jupyter.packets import DataPacket
    from dataflow_jupyter.runtime.errors import DeadLetterQueue

__all__ = ["EmitError", "Firings", "Outcome", "next_firing_id"]

_firing_ids = itertools.count(1)
next_firing_id = _firing_ids.__next__
_CLOCK_EVERY: Final = 32  # inline firings in a row between two looks at the clock
_log = logging.getLogger("dataflow_jupyter.runtime")


class Firings(Emission):
    """The firing moves of a ``Session`` (see the module docstring)."""

    # Provided by the session (besides what ``Emission`` names).
    executor: Executor
    dlq: DeadLetterQueue
    publish: Callable[[dict[str, Any]], None] | None
    errors: list[ErrorPacket]
    finishing: set[asyncio.Task[None]]
    in_flight: int

    if TYPE_CHECKING:

        def abandon_inputs(self, run: NodeRun) -> None: ...  # the session's end-of-stream move

    # -- the dispatcher's inline firing (the hot path) ---------------------------------------

    def drain_inline(self, run: NodeRun, deadline: float) -> None:
        """Fire an inline node while it is ready, its outputs have room and it stays inline,
        until ``deadline`` (``time.perf_counter``): the dispatcher's hot loop.

        The common firing (one input edge; a dict of plain values returned for unchecked
        ports without expressions; no canvas listening) is done right here, with everything
        looked up once per call; any other goes through ``_finish_inline``, the same steps as
        ``fire_inline``. See the module docstring for the steps.
        """
        if run.single is None or self.publish is not None or run.replays:
            fired = 0
            while run.ready() and self.fire_inline(run) and run.inline and not run.busy:
                fired += 1
                if not fired % _CLOCK_EVERY and time.perf_counter() > deadline:
                    return
            return
        port_in, channel, in_frame = run.single
        if not channel:
            return
        stats, process, ctx, buffered = run.stats, run.process, run.ctx, run.buffered
        blocking, fast, outputs, out_frames = run.blocking, run.fast, run.outputs, run.out_frames
        log = self.log if self.log.enabled else None
        node_id, limit, replays = run.node_id, run.inline_limit_ns, run.replays
        time_ns, next_id, clock = time.time_ns, _firing_ids.__next__, time.perf_counter
        fired = 0
        while channel and not replays:
            for out in blocking:
                if out.full:
                    return
            packet = channel.take()
            stats.received += 1
            in_frame.append(packet)
            inputs = {port_in: packet}
            firing_id = next_id()
            stats.firings += 1
            ctx.trace_id = trace_id = packet.trace_id
            start = time_ns()
            exc: BaseException | None = None
            try:
                result = process(inputs, ctx)
            except Exception as raised:  # noqa: BLE001 - a node's failure becomes an ErrorPacket
                result, exc = None, raised
            end = time_ns()
            fired += 1
            if not fired % _CLOCK_EVERY and clock() > deadline:
                deadline = -1.0  # finish this firing, then let the loop's other tasks run
            if (
                exc is not None
                or end - start > limit
                or buffered
                or (type(result) is not dict and result is not None)
            ):
                outcome = self._inline_outcome(run, packet, result, exc, start, end)
                self._finish_inline(run, firing_id, inputs, outcome)
                if run.busy or not run.inline or deadline < 0 or end - start > limit:
                    return  # (after a slow firing the loop's other tasks get a turn)
                continue
            parents = (packet.packet_id,)
            count = 0
            # The first packet's log event waits: with no other, the firing and its packet
            # are logged as one hop (log.record_hop).
            first: tuple[DataPacket, str, int] | None = None
            pairs = () if result is None else result.items()
            for port, value in pairs:
                quick = fast.get(port)
                if (
                    not quick
                    or isinstance(value, WRAPPED)
                    or (quick is not True and type(value) not in quick)  # type: ignore[operator]
                ):  # the general way
                    if first is not None:
                        self.log_packet(log, first, trace_id, node_id, parents, firing_id)
                        first = None
                    rest = list(pairs)[count:]
                    error, sends, more = self._conclude(
                        run, firing_id, inputs, None, None, rest, 1, end
                    )
                    count += more
                    if error is not None or sends:
                        self._continue_inline(
                            run, firing_id, inputs, start, end, count, error, sends
                        )
                        return
                    break
                emitted = emitted_packet(packet, value, node_id, end, parents)
                wires = outputs[port]
                stats.emitted += 1
                out_frames[port].append(emitted)
                if log is not None:
                    if count == 0:
                        first = (emitted, port, getsizeof(value))
                    else:
                        if first is not None:
                            self.log_packet(log, first, trace_id, node_id, parents, firing_id)
                            first = None
                        self.log_packet(
                            log,
                            (emitted, port, getsizeof(value)),
                            trace_id,
                            node_id,
                            parents,
                            firing_id,
                        )
                if not wires:
                    self._kept(node_id, port, emitted)
                held: Sends = []
                for wire in wires:
                    if held or not wire.channel.offer(emitted):
                        held.append((wire, emitted))
                    else:
                        target = wire.target
                        if not target.marked:
                            self.mark(target)
                count += 1
                if held:  # the rest of this firing waits for room in a task
                    if first is not None:
                        self.log_packet(log, first, trace_id, node_id, parents, firing_id)
                        first = None
                    rest = list(pairs)[count:]
                    if rest:
                        error, more_waiting, more = self._conclude(
                            run, firing_id, inputs, None, None, rest, 1, end
                        )
                        count += more
                        held += more_waiting
                    else:
                        error = None
                    self._continue_inline(run, firing_id, inputs, start, end, count, error, held)
                    return
            if count:
                self.wake.set()
            else:
                stats.filtered += 1
            if log is not None:
                if first is not None:
                    one, port, size = first
                    log.record_hop(
                        firing_id,
                        node_id,
                        trace_id,
                        parents,
                        start,
                        end,
                        "ok",
                        one.packet_id,
                        port,
                        end,
                        size,
                        parents,
                    )
                else:
                    log.record_firing(
                        firing_id,
                        node_id,
                        trace_id,
                        parents,
                        start,
                        end,
                        "ok" if count else "filtered",
                        1,
                    )
            if ctx.wants_no_more:
                self._wants_no_more(run)
            if deadline < 0:
                return

    def fire_inline(self, run: NodeRun) -> bool:
        """Fire an inline node once, now, in the dispatcher; ``False`` when a ``block`` output
        is full (a worker then fires it: it can wait for room)."""
        for channel in run.blocking:
            if channel.full:
                return False
        inputs = run.take_inputs()
        firing_id = next(_firing_ids)
        run.stats.firings += 1
        if self.publish is not None:
            self.publish({"type": "node-status", "node_id": run.node_id, "status": "running"})
        outcome = self._call_inline(run, run.process, (inputs,), inputs)
        self._finish_inline(run, firing_id, inputs, outcome)
        return True

    def _finish_inline(
        self, run: NodeRun, firing_id: int, inputs: dict[str, DataPacket], outcome: Outcome
    ) -> None:
        """Steps 3 and 5 of an inline firing that returned (step 4 in a task if needed)."""
        result, failure, emitted_values, start, end = outcome
        error, waiting, emitted = self._conclude(
            run, firing_id, inputs, result, failure, emitted_values, 1, end
        )
        if run.ctx.wants_no_more:
            self._wants_no_more(run)
        if error is not None or waiting:
            self._continue_inline(run, firing_id, inputs, start, end, emitted, error, waiting)
            return
        if emitted:
            status = "ok"
        else:
            status = "filtered"
            run.stats.filtered += 1
        if self.log.enabled:
            self.log.record_firing(
                firing_id,
                run.node_id,
                run.ctx.trace_id,
                parents_of(inputs),
                start,
                end,
                status,
                1,
            )
        if self.publish is not None:
            self.publish({"type": "node-status", "node_id": run.node_id, "status": "done"})

    def _continue_inline(  # noqa: PLR0917
        self,
        run: NodeRun,
        firing_id: int,
        inputs: dict[str, DataPacket],
        start: int,
        end: int,
        emitted: int,
        error: ErrorPacket | None,
        waiting: Sends,
    ) -> None:
        """Step 4 of an inline firing, in a task that keeps the node busy (order is kept)."""
        if run.ctx.wants_no_more:
            self._wants_no_more(run)
        record = FiringRecord(firing_id, run.node_id, inputs, start_ns=start, end_ns=end)
        record.emitted = emitted
        run.busy = True
        self.in_flight += 1
        task = asyncio.get_running_loop().create_task(self._tail(run, record, error, waiting))
        self.finishing.add(task)
        task.add_done_callback(self.finishing.discard)

    def _inline_overrun(
        self,
        run: NodeRun,
        took_ns: int,
        first: DataPacket | None,
        exc: BaseException | ErrorPacket | None,
    ) -> BaseException | ErrorPacket | None:
        """An inline firing took longer than the slow threshold or its timeout."""
        timeout_ms = run.spec.execution.timeout_ms
        if timeout_ms is not None and took_ns > timeout_ms * 1_000_000:
            run.placement.timed_out_inline(timeout_ms)
            self._moved(run)
            return self._timeout(run, first, 1)
        if run.placement.inline_slow(took_ns, run.stats.firings):
            self._moved(run)
        return exc

    async def _tail(
        self, run: NodeRun, record: FiringRecord, error: ErrorPacket | None, waiting: Sends
    ) -> None:
        """The rest of an inline firing (step 4) in a task that keeps the node busy."""
        try:
            await self._complete(run, record, error, waiting)
        finally:
            run.busy = False
            self.in_flight -= 1
            self.mark(run)
            self.wake.set()

    # -- a worker's firings -------------------------------------------------------------------

    async def fire_batch(self, run: NodeRun) -> None:
        """Fire a ready node from its worker task.

        A node placed on a worker fires up to ``Placement.batch_size()`` queued inputs in one
        hand-off; its outputs keep their order and what a failure or a timeout left unrun is
        fired next. Other nodes (``async``, or inline ones whose outputs were full) fire once.
        """
        if run.placement.runs_on != "worker":
            await self.fire(run)
            return
        limit = run.placement.batch_size() if run.single is not None else 1
        for channel in run.blocking:  # no more than the outputs can take without waiting
            limit = min(limit, channel.size - len(channel))
        records = [FiringRecord(next(_firing_ids), run.node_id, run.take_inputs())]
        while len(records) < limit and run.ready():
            records.append(FiringRecord(next(_firing_ids), run.node_id, run.take_inputs()))
        run.stats.firings += len(records)
        if self.publish is not None:
            self.publish({"type": "node-status", "node_id": run.node_id, "status": "running"})
        self.in_flight += 1
        try:
            calls = [(run.process, (record.inputs,), record.inputs) for record in records]
            outcomes, timed_out = await self._on_worker(run, calls)
            for index, record in enumerate(records):
                if index < len(outcomes):
                    error, waiting = self._conclude_record(run, record, outcomes[index])
                elif index == timed_out:
                    error, waiting = self._timeout(run, first_packet(record.inputs), 1), []
                else:  # not run: a failure or a timeout stopped the batch
                    self._put_back(run, records[index:])
                    break
                if error is not None or waiting:
                    await self._complete(run, record, error, waiting)
                else:
                    self._record_firing(run, record)
        finally:
            self.in_flight -= 1
            self.wake.set()

    def _put_back(self, run: NodeRun, records: list[FiringRecord]) -> None:
        """Inputs taken for a batch but not fired: first in line again (or discarded, when
        the node called ``ctx.done()``)."""
        run.stats.firings -= len(records)
        if run.stop_requested and run.single is not None:  # as if never taken
            _, channel, frame = run.single
            channel.discarded += len(records)
            run.stats.received -= len(records)
            for _ in records:
                frame.pop()
            return
        run.replays.extendleft(record.inputs for record in reversed(records))

    async def fire(self, run: NodeRun) -> FiringRecord:
        """Take one firing's inputs and fire ``run`` once, with retries and error routing."""
        record = FiringRecord(next(_firing_ids), run.node_id, run.take_inputs())
        return await self.fire_record(run, record)

    async def fire_record(
        self, run: NodeRun, record: FiringRecord, hook_port: str | None = None
    ) -> FiringRecord:
        """Fire ``record`` (a ``process`` firing, or an end-of-stream hook) to its end."""
        run.stats.firings += 1
        if self.publish is not None:
            self.publish({"type": "node-status", "node_id": run.node_id, "status": "running"})
        self.in_flight += 1
        try:
            outcome = await self._call(run, record, hook_port)
            error, waiting = self._conclude_record(run, record, outcome)
            await self._complete(run, record, error, waiting, hook_port)
        finally:
            self.in_flight -= 1
            self.wake.set()
        return record

    # -- calls ----------------------------------------------------------------------------------

    async def _call(self, run: NodeRun, record: FiringRecord, hook_port: str | None) -> Outcome:
        """One attempt of ``record`` where the node runs (step 2)."""
        if record.kind == "finish":
            fn: Callable[..., Any] = run.instance.finish
            args: tuple[Any, ...] = ()
        elif record.kind == "input_finished":
            fn, args = run.instance.input_finished, (hook_port,)
        else:
            fn, args = run.process, (record.inputs,)
        if inspect.iscoroutinefunction(fn):
            return await self._call_async(run, fn, args, record)
        if run.placement.runs_on != "worker":
            return self._call_inline(run, fn, args, record.inputs)
        outcomes, timed_out = await self._on_worker(run, [(fn, args, record.inputs)])
        if timed_out is not None:
            now = time.time_ns()
            error = self._timeout(run, first_packet(record.inputs), record.attempt)
            return None, error, [], now, now
        return outcomes[0]

    def _call_inline(
        self,
        run: NodeRun,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        inputs: Mapping[str, DataPacket],
    ) -> Outcome:
        """Step 2 on the loop's thread: call ``fn(*args, ctx)`` now."""
        buffered = run.buffered
        if buffered:  # emitted between firings, after the last one had returned
            self._late_emits(run, len(buffered))
            buffered.clear()
        first = first_packet(inputs)
        run.ctx.trace_id = first.trace_id if first is not None else None
        start = time.time_ns()
        result: Any = None
        exc: BaseException | None = None
        try:
            result = fn(*args, run.ctx)
        except Exception as raised:  # noqa: BLE001 - a node's failure becomes an ErrorPacket
            exc = raised
        return self._inline_outcome(run, first, result, exc, start, time.time_ns())

    def _inline_outcome(  # noqa: PLR0917
        self,
        run: NodeRun,
        first: DataPacket | None,
        result: Any,
        exc: BaseException | None,
        start: int,
        end: int,
    ) -> Outcome:
        """An inline call's outcome: what it emitted taken, and an overrun of the slow
        threshold or of its timeout applied (``placement``)."""
        failure: BaseException | ErrorPacket | None = exc
        if end - start > run.inline_limit_ns:
            failure = self._inline_overrun(run, end - start, first, exc)
        emitted = list(run.buffered)
        run.buffered.clear()
        return result, failure, emitted, start, end

    async def _on_worker(
        self,
        run: NodeRun,
        calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...], Mapping[str, DataPacket]]],
    ) -> tuple[list[Outcome], int | None]:
        """Run ``calls`` in a row in one hand-off to the executor.

        Returns the outcomes of the calls that ran (the batch stops after a failure or a
        ``ctx.done()``) and the index of a call that overran the node's timeout (abandoned
        in its thread; nothing after it ran), else ``None``.
        """
        progress = Progress()
        job = asyncio.ensure_future(
            self.executor.submit(run_calls, run.node_id, calls, progress, run.late)
        )
        timeout = run.timeout
        timed_out: int | None = None
        try:
            if timeout is None:
                await job
            else:
                while not job.done():
                    index, started = progress.current
                    remaining = started + timeout - time.perf_counter()
                    if remaining <= 0 and progress.current == (index, started):
                        progress.cancelled = True
                        timed_out = index
                        job.cancel()
                        break
                    await asyncio.wait({job}, timeout=max(remaining, 0.0))
        except asyncio.CancelledError:
            progress.cancelled = True
            job.cancel()
            raise
        if timed_out is None:
            job.result()  # an executor failure ends the run
        outcomes = progress.results[: timed_out if timed_out is not None else len(calls)]
        late = len(run.late)
        if late:  # from any earlier call of this node: they may come much later
            self._late_emits(run, late)
            del run.late[:late]
        if progress.wants_no_more:
            self.abandon_inputs(run)
        arrow = any(p.binary_value is not None for p in calls[0][2].values())
        for outcome in outcomes:
            if run.placement.worker_took(outcome[4] - outcome[3], arrow=arrow):
                self._moved(run)
        return outcomes, timed_out

    async def _call_async(
        self, run: NodeRun, fn: Callable[..., Any], args: tuple[Any, ...], record: FiringRecord
    ) -> Outcome:
        """An ``async`` call on the loop: what it emits is sent at once (it may wait)."""
        returned = False

        async def emit_async(port: str, value: Any) -> None:
            if returned:
                self._late_emits(run, 1)
                return
            record.outputs.append((port, await self.emit(run, port, value, record.inputs, record)))

        first = first_packet(record.inputs)
        ctx = NodeContext(
            run.node_id, emit_async, trace_id=first.trace_id if first is not None else None
        )
        start = time.time_ns()
        result: Any = None
        exc: BaseException | ErrorPacket | None = None
        try:
            call = fn(*args, ctx)
            result = await (asyncio.wait_for(call, run.timeout) if run.timeout else call)
        except TimeoutError:
            exc = self._timeout(run, first, record.attempt)
        except EmitError as refused:
            exc = refused.error
        except Exception as raised:  # noqa: BLE001 - a node's failure becomes an ErrorPacket
            exc = raised
        finally:
            returned = True  # what the node emits from now on is late
        if ctx.wants_no_more:
            self.abandon_inputs(run)
        return result, exc, [], start, time.time_ns()

    # -- outcome ----------------------------------------------------------------------------

    def _conclude_record(
        self, run: NodeRun, record: FiringRecord, outcome: Outcome
    ) -> tuple[ErrorPacket | None, Sends]:
        """``_conclude`` an attempt of ``record``, noting its outputs for the debugger."""
        result, exc, emitted, record.start_ns, record.end_ns = outcome
        error, waiting, _ = self._conclude(
            run,
            record.firing_id,
            record.inputs,
            result,
            exc,
            emitted,
            record.attempt,
            record.end_ns,
            record,
        )
        self._wants_no_more(run)
        return error, waiting

    def _wants_no_more(self, run: NodeRun) -> None:
        """The node called ``ctx.done()`` during its firing: stop its input."""
        if run.ctx.wants_no_more:
            run.ctx.wants_no_more = False
            self.abandon_inputs(run)

    def _conclude(  # noqa: PLR0917 - positional on purpose: the hot path
        self,
        run: NodeRun,
        firing_id: int,
        inputs: Mapping[str, DataPacket],
        result: Any,
        exc: BaseException | ErrorPacket | None,
        emitted: list[tuple[str, Any]],
        attempt: int,
        now: int,
        record: FiringRecord | None = None,
    ) -> tuple[ErrorPacket | None, Sends, int]:
        """Step 3: the firing's error, its sends that wait for room, and how many packets it
        emitted (see the module docstring)."""
        error: ErrorPacket | None = None
        waiting: Sends = []
        count = 0
        if exc is not None:
            first = first_packet(inputs)
            error = (
                exc
                if isinstance(exc, ErrorPacket)
                else ErrorPacket.from_exception(
                    exc,
                    node_id=run.node_id,
                    packet=first,
                    recoverable=run.spec.execution.recoverable,
                    attempt=attempt,
                )
            )
        elif isinstance(result, ErrorPacket):
            error = _own_error(result, run, first_packet(inputs), attempt)
        else:
            try:
                if result is not None:  # a dict (the common case), or a bare value
                    emitted.extend(
                        result.items() if type(result) is dict else _returned(run, result)
                    )
                base = first_packet(inputs)
                fast = run.fast if base is not None else {}
                parents = parents_of(inputs)
                for port, value in emitted:
                    quick = fast.get(port)
                    if (
                        quick
                        and not isinstance(value, WRAPPED)
                        and (quick is True or type(value) in quick)  # type: ignore[operator]
                    ):
                        # the common case, in one go: a plain value derived from the input
                        packet = emitted_packet(base, value, run.node_id, now, parents)  # type: ignore[arg-type]
                        wires = run.outputs[port]
                        self._record(run, port, packet, wires, firing_id)
                        self.offer_all([(wire, packet) for wire in wires], waiting)
                        count += 1
                        if record is not None:
                            record.outputs.append((port, packet))
                        continue
                    packet, wires = self._prepare(run, port, value, inputs, firing_id)
                    plain = run.plain[port]
                    sends = [(w, packet) for w in wires] if plain else self._route(wires, packet)
                    self._record(run, port, packet, wires, firing_id)
                    self.offer_all(sends, waiting)
                    count += 1
                    if record is not None:
                        record.outputs.append((port, packet))
            except EmitError as refused:
                error = refused.error
            except Exception as raised:  # noqa: BLE001 - e.g. a bare return on several outputs
                error = ErrorPacket.from_exception(
                    raised, node_id=run.node_id, packet=first_packet(inputs), attempt=attempt
                )
        if count:
            self.wake.set()
        if record is not None:
            record.emitted += count
        return error, waiting, count

    async def _complete(
        self,
        run: NodeRun,
        record: FiringRecord,
        error: ErrorPacket | None,
        waiting: Sends,
        hook_port: str | None = None,
    ) -> None:
        """Steps 4 and 5: wait for room, retry, route the error; record the firing."""
        execution = run.spec.execution
        while True:
            for wire, packet in waiting:  # already counted as emitted: they must arrive
                await self._put(run, wire.channel, packet)
                self.mark(wire.target)
                self.wake.set()
            if error is None:
                break
            if error.recoverable and record.attempt <= execution.retry:
                self._log_firing(record, "retry", error.message)
                run.stats.retries += 1
                try:
                    await asyncio.sleep(backoff_seconds(execution.retry_backoff_ms, record.attempt))
                except asyncio.CancelledError:
                    self._cancelled_in_backoff(run, error, record)
                    raise
                record.attempt += 1
                record.outputs = []
                record.emitted = 0
                outcome = await self._call(run, record, hook_port)
                error, waiting = self._conclude_record(run, record, outcome)
                continue
            record.error = error
            record.status = await self._route_error(run, error, record.inputs, record)
            break
        self._record_firing(run, record)

    def _record_firing(self, run: NodeRun, record: FiringRecord) -> None:
        """Step 5: the firing's status in the log and on the canvas."""
        if record.error is None:
            if record.kind != "process":
                record.status = record.kind
            elif record.emitted:
                record.status = "ok"
            else:
                record.status = "filtered"
                run.stats.filtered += 1
        self._log_firing(record, record.status, record.error.message if record.error else None)
        if self.publish is not None:
            status = "error" if record.error else "done"
            self.publish({"type": "node-status", "node_id": run.node_id, "status": status})

    def _moved(self, run: NodeRun) -> None:
        """``run``'s placement changed: apply it and tell the log, the canvas and the logger."""
        placement = run.placement
        run.inline = placement.runs_on == "inline"
        run.inline_limit_ns = run.limit_ns()
        run.stats.runs_on = placement.runs_on
        run.stats.moves = placement.moves
        _log.info("node %r now runs %s: %s", run.node_id, placement.runs_on, placement.reason)
        if self.log.enabled:
            self.log.record_placement(run.node_id, placement.runs_on, placement.reason)
        if self.publish is not None:
            self.publish(
                {
                    "type": "node-placement",
                    "node_id": run.node_id,
                    "runs_on": placement.runs_on,
                    "reason": placement.reason,
                }
            )

    def _timeout(self, run: NodeRun, first: DataPacket | None, attempt: int) -> ErrorPacket:
        message = f"node {run.node_id!r} took longer than {run.spec.execution.timeout_ms} ms"
        return ErrorPacket(
            ErrorCode.TIMEOUT,
            message,
            run.node_id,
            first.trace_id if first is not None else None,
            run.spec.execution.recoverable,
            attempt,
            packet=first,
        )

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

    def _cancelled_in_backoff(self, run: NodeRun, error: ErrorPacket, record: FiringRecord) -> None:
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
        self.dlq.append(DeadLetter(cancelled, run.node_id, dict(record.inputs)))
        self._log_firing(record, record.status, message)

    async def _route_error(
        self,
        run: NodeRun,
        error: ErrorPacket,
        inputs: Mapping[str, DataPacket],
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
            except EmitError as refused:  # the error edge's own expression failed
                _log.warning("node %r: error output refused: %s", run.node_id, refused)
            else:
                run.stats.errors += 1
                record.outputs.append(("error", packet))
                return "error"
        run.stats.dead_lettered += 1
        self.dlq.append(DeadLetter(error, run.node_id, dict(inputs)))
        return "dead_letter"

    # -- emission ------------------------------------------------------------------------------


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
