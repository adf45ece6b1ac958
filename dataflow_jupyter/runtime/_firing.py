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

The hottest path of all (``drain_inline``, ``_fire_hot``): an inline node with one input
edge fires on a batch of queued inputs in a tight loop, in which a firing that returns
``None`` or one plain value for its data output is concluded on the spot (steps 3 and 5:
packet, log event), and the batch's stats and frames are counted once. What the batch
emitted goes down a *fused link* straight to the next inline node's batch, without a
channel hand-off (``_deliver``). The first firing that leaves the common case ends the
batch; it is concluded the general way (``_conclude_odd``) once what the batch emitted
before it has gone on, and the rest of the batch follows.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
from collections import deque
from dataclasses import replace
from sys import getsizeof
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from dataflow_jupyter.node import NodeContext
from dataflow_jupyter.packets import ErrorCode, ErrorPacket, RemoteTable, emitted_packet
from dataflow_jupyter.runtime._batches import Outcome, Progress, run_calls
from dataflow_jupyter.runtime._emission import (
    WRAPPED,
    Emission,
    EmitError,
    Sends,
    first_packet,
    parents_of,
)
from dataflow_jupyter.runtime._noderun import FiringRecord, NodeRun
from dataflow_jupyter.runtime.errors import ClusterLostError, DeadLetter, backoff_seconds
from dataflow_jupyter.runtime.events import NodeFailed, NodeMoved, NodeStatusChanged
from dataflow_jupyter.runtime.log import FIRING_EVENT, HOP_EVENT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from dataflow_jupyter.executors import ClusterExecutor, Executor, RemoteOutcome
    from dataflow_jupyter.packets import DataPacket
    from dataflow_jupyter.runtime.errors import DeadLetterQueue
    from dataflow_jupyter.runtime.events import Publish

__all__ = ["EmitError", "Firings", "Outcome", "next_firing_id"]

_firing_ids = itertools.count(1)
next_firing_id = _firing_ids.__next__
_CLOCK_EVERY: Final = 32  # inline firings in a row between two looks at the clock
_BATCH: Final = 64  # inputs of a node fired in one go by the dispatcher's hot loop
# A hot firing that left the common case: firing id, inputs, result, exception, start, end
_Odd: TypeAlias = tuple[int, dict[str, "DataPacket"], Any, BaseException | None, int, int]
_log = logging.getLogger("dataflow_jupyter.runtime")


class Firings(Emission):
    """The firing moves of a ``Session`` (see the module docstring)."""

    # Provided by the session (besides what ``Emission`` names).
    executor: Executor
    dlq: DeadLetterQueue
    publish: Publish | None  # None while nobody subscribes (see ``runtime.events``)
    errors: list[ErrorPacket]
    finishing: set[asyncio.Task[None]]
    in_flight: int

    if TYPE_CHECKING:

        def abandon_inputs(self, run: NodeRun) -> None: ...  # the session's end-of-stream move

    # -- the dispatcher's inline firing (the hot path) ---------------------------------------

    def drain_inline(self, run: NodeRun, deadline: float) -> bool:
        """Fire an inline node while it is ready, its outputs have room and it stays inline,
        until ``deadline`` (``time.perf_counter``): the dispatcher's hot loop.

        A node with one input edge and a quickly checked data output (``NodeRun.hot``) fires
        on a *batch* of its queued packets at a time, no more than its outputs have room
        for, in ``_fire_hot``; the batch's stats, frames and sends are counted once. What
        the batch emitted then goes straight to the next node's firings when the data output
        is a *fused link* (``NodeRun.link``) whose target runs inline, is free, has nothing
        queued and has room for it: a chain of inline nodes fires batch by batch without a
        channel hand-off or a dispatcher pass between them. A firing outside the common
        case (an error, a slow firing, several packets, a full check...) ends its batch: it
        goes through ``_finish_inline``, the same steps as ``fire_inline``, after what the
        batch emitted before it. Any other node fires one input at a time. See the module
        docstring for the steps.

        Returns whether it stopped because ``deadline`` passed (with work left, perhaps
        for nodes downstream, which are marked).
        """
        if run.hot is None or self.publish is not None or run.replays:
            fired = 0
            while run.ready() and self.fire_inline(run) and run.inline and not run.busy:
                fired += 1
                if not fired % _CLOCK_EVERY and time.perf_counter() > deadline:
                    return True
            return False
        head = run
        channel = head.single[1]  # type: ignore[index]
        log = self.log
        store = log.appender() if log.enabled else None
        clock = time.perf_counter
        # What is left to do, last first: the head's batch, and (node, the rest of its batch,
        # its firing that left the common case, concluded before the rest is fired)
        todo: list[tuple[NodeRun, list[DataPacket], _Odd | None]] = []
        fired = 0
        while channel and head.inline and not head.busy and not head.replays:
            size = min(len(channel), _BATCH)
            for out in head.blocking:
                room = out.size - len(out.packets)
                size = min(size, room)
            if size <= 0:
                return False
            todo.append((head, channel.take_many(size), None))
            while todo:
                run, batch, odd = todo.pop()
                if fired and clock() > deadline:  # the loop's other tasks get a turn first
                    self._set_aside(run, batch, odd)
                    continue
                if odd is not None and not self._conclude_odd(run, odd, batch):
                    continue
                while True:  # down the fused links
                    outs, taken, odd, stored = self._fire_hot(run, batch, store)
                    fired += taken
                    if stored:
                        log.counted(stored)
                    if odd is not None:
                        todo.append((run, batch[taken:], odd))
                        if odd[5] - odd[4] > run.inline_limit_ns:
                            deadline = -1.0  # after a slow firing the loop's others run
                    elif taken < len(batch):  # it called ctx.done()
                        self._go_on(run, batch[taken:])
                    target = self._deliver(run, outs) if outs else None
                    if target is None:
                        break
                    if clock() > deadline:
                        self._set_aside(target, outs, None)
                        break
                    run, batch = target, outs
            if clock() > deadline:
                return True
        return False

    def _fire_hot(
        self, run: NodeRun, batch: list[DataPacket], store: Callable[[Any], None] | None
    ) -> tuple[list[DataPacket], int, _Odd | None, int]:
        """Fire ``run`` on each packet of ``batch`` in turn while the firings stay in the
        common case: one input, and ``None`` or ``{data output: plain value}`` returned
        quickly, nothing else emitted. Returns the packets emitted, how many inputs were
        taken (their firings are done), the firing that left the common case, if any (its
        input taken, its call made, its outcome not concluded yet), and the log events
        stored. Stats and frames are counted here, once for the batch."""
        (
            port_in,
            in_frame,
            stats,
            process,
            ctx,
            buffered,
            quick,
            port,
            out_frame,
            _,
            node_id,
        ) = run.hot  # type: ignore[misc]
        limit = run.inline_limit_ns
        time_ns, next_id = time.time_ns, _firing_ids.__next__
        outs: list[DataPacket] = []
        add = outs.append
        filtered = 0
        fired = 0
        odd: _Odd | None = None
        for packet in batch:
            ctx.trace_id = trace_id = packet.trace_id
            firing_id = next_id()
            inputs = {port_in: packet}
            start = time_ns()
            try:
                result = process(inputs, ctx)
            except Exception as raised:  # noqa: BLE001 - a node's failure becomes an ErrorPacket
                odd = (firing_id, inputs, None, raised, start, time_ns())
                break
            end = time_ns()
            if end - start > limit or buffered:
                odd = (firing_id, inputs, result, None, start, end)
                break
            if result is None:
                filtered += 1
                if store is not None:
                    store(
                        (
                            FIRING_EVENT,
                            start,
                            node_id,
                            trace_id,
                            firing_id,
                            None,
                            None,
                            (packet.packet_id,),
                            None,
                            start,
                            end,
                            "filtered",
                            1,
                            None,
                            None,
                        )
                    )
            else:
                if type(result) is not dict or len(result) != 1 or port not in result:
                    odd = (firing_id, inputs, result, None, start, end)
                    break
                value = result[port]
                if quick is True:
                    if isinstance(value, WRAPPED):
                        odd = (firing_id, inputs, result, None, start, end)
                        break
                elif type(value) not in quick:  # type: ignore[operator]
                    odd = (firing_id, inputs, result, None, start, end)
                    break
                parents = (packet.packet_id,)
                emitted = emitted_packet(packet, value, node_id, end, parents)
                add(emitted)
                if store is not None:
                    store(
                        (
                            HOP_EVENT,
                            start,
                            node_id,
                            trace_id,
                            firing_id,
                            emitted.packet_id,
                            port,
                            parents,
                            parents,
                            end,
                            "ok",
                            end,
                            getsizeof(value),
                        )
                    )
            fired += 1
            if ctx.wants_no_more:
                break
        taken = fired if odd is None else fired + 1
        stats.received += taken
        stats.firings += taken
        stats.emitted += len(outs)
        stats.filtered += filtered
        in_frame.extend(batch if taken == len(batch) else batch[:taken])
        if outs:
            out_frame.extend(outs)  # type: ignore[union-attr]
        if ctx.wants_no_more and odd is None:
            self._wants_no_more(run)  # the rest of the batch is discarded (``_conclude_odd``)
        return outs, taken, odd, 0 if store is None else 2 * len(outs) + filtered

    def _deliver(self, run: NodeRun, outs: list[DataPacket]) -> NodeRun | None:
        """Send what a hot batch emitted: to the node its fused link leads to when that node
        can fire on all of it now and the link's channel could hold it all (then it is
        counted as handed over), else to the channels, whose overflow policies apply."""
        link = run.link
        if link is not None:
            channel, target = link
            if (
                target.inline
                and not channel
                and len(outs) <= channel.size  # else its overflow policy has a say
                and not target.busy
                and not channel.abandoned
                and not target.replays
            ):
                for out in target.blocking:
                    if out.size - len(out.packets) < len(outs):
                        break
                else:
                    channel.handed(len(outs))
                    return target
        port = run.hot[7]  # type: ignore[index]
        wires = run.hot[9]  # type: ignore[index]
        if not wires:
            for packet in outs:
                self._kept(run.node_id, port, packet)  # type: ignore[arg-type]
            return None
        waiting: Sends = []
        self.offer_all([(wire, packet) for packet in outs for wire in wires], waiting)
        self.wake.set()
        if waiting:  # a drop edge never refuses; a block edge had room: not expected
            self._send_later(run, waiting)
        return None

    def _send_later(self, run: NodeRun, waiting: Sends) -> None:
        """Sends that found no room: a task waits for it, keeping the node busy."""

        async def send() -> None:
            try:
                for wire, packet in waiting:
                    await self._put(run, wire.channel, packet)
                    self.mark(wire.target)
            finally:
                run.busy = False
                self.in_flight -= 1
                self.mark(run)
                self.wake.set()

        run.busy = True
        self.in_flight += 1
        task = asyncio.get_running_loop().create_task(send())
        self.finishing.add(task)
        task.add_done_callback(self.finishing.discard)

    def _conclude_odd(self, run: NodeRun, odd: _Odd, rest: list[DataPacket]) -> bool:
        """Conclude a hot firing that left the common case (``_finish_inline``); whether the
        node goes on with ``rest`` of its batch now. Otherwise ``rest`` is queued again
        (or discarded, when the node called ``ctx.done()``)."""
        firing_id, inputs, result, exc, start, end = odd
        packet = inputs[run.hot[0]]  # type: ignore[index]
        outcome = self._inline_outcome(run, packet, result, exc, start, end)
        self._finish_inline(run, firing_id, inputs, outcome)
        return self._go_on(run, rest)

    def _set_aside(self, run: NodeRun, batch: list[DataPacket], odd: _Odd | None) -> None:
        """Leave a hot node's batch for later (the dispatcher's time is up): its pending
        firing is concluded, its inputs are queued again and the node is marked."""
        go_on = self._go_on(run, batch) if odd is None else self._conclude_odd(run, odd, batch)
        if go_on:
            run.single[1].put_back(batch)  # type: ignore[index]
            self.mark(run)

    def _go_on(self, run: NodeRun, rest: list[DataPacket]) -> bool:
        """Whether a hot node fires on the ``rest`` of its batch now; if not, ``rest`` is
        queued again (or discarded, when the node called ``ctx.done()``)."""
        if not rest:
            return False
        channel = run.single[1]  # type: ignore[index]
        if channel.abandoned:
            channel.discarded += len(rest)
            return False
        if run.busy or not run.inline:
            channel.put_back(rest)
            self.mark(run)
            return False
        return True

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
            self.publish(NodeStatusChanged(run.node_id, "running"))
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
            self.publish(NodeStatusChanged(run.node_id, "done"))

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
        runs_on = run.placement.runs_on
        if runs_on == "cluster":
            await self.fire_cluster(run)
            return
        if runs_on != "worker":
            await self.fire(run)
            return
        limit = run.placement.batch_size() if run.single is not None else 1
        records = _take_records(run, run.room(limit))
        run.stats.firings += len(records)
        if self.publish is not None:
            self.publish(NodeStatusChanged(run.node_id, "running"))
        self.in_flight += 1
        try:
            process = _reading_remote(run.process) if run.remote_inputs else run.process
            calls = [(process, (record.inputs,), record.inputs) for record in records]
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

    async def fire_cluster(self, run: NodeRun) -> None:
        """Fire a cluster node from its worker task: up to ``run.parallelism`` tasks
        running on the cluster at once, and for a pure node without a timeout as many more
        waiting there as the executor's ``lookahead`` allows (so a worker that ends one
        starts the next without waiting for the kernel). Such a node's queued inputs go in
        groups, one task firing a group one after the other (``Placement.group_size``); no
        more firings are in flight than its ``block`` outputs have room for. Each firing is
        concluded in input order, the same steps as any firing (retries, errors, stats,
        log). A cancelled run cancels the tasks in flight (the cluster releases them)."""
        cluster: ClusterExecutor = self.executor  # type: ignore[assignment] # ``_remote`` checked
        window: deque[tuple[list[FiringRecord], asyncio.Future[Fired]]] = deque()
        # a pure node without a timeout: its inputs may go in groups, its tasks may wait
        shared = run.remote is not None and not run.remote.is_stateful and not run.timeout
        self.in_flight += 1
        try:
            while True:
                depth = run.parallelism + (cluster.lookahead(run.parallelism) if shared else 0)
                room = run.room(1 << 30)
                firings = sum(len(records) for records, _ in window)
                while len(window) < depth and firings < room and run.ready():
                    size = self._group_size(run, depth - len(window)) if shared else 1
                    records = _take_records(run, min(size, room - firings))
                    firings += len(records)
                    run.stats.firings += len(records)
                    if self.publish is not None:
                        self.publish(NodeStatusChanged(run.node_id, "running"))
                    window.append(
                        (records, asyncio.ensure_future(self._on_cluster_group(run, records)))
                    )
                if not window:
                    return
                records, call = window.popleft()
                outcomes, done = await call
                for index, record in enumerate(records):
                    if index == len(outcomes):  # ctx.done() on the worker: the rest not fired
                        self._put_back(run, records[index:])
                        break
                    error, waiting = self._conclude_record(run, record, outcomes[index])
                    if done and index == len(outcomes) - 1:
                        self.abandon_inputs(run)  # it called ctx.done(): no more inputs
                    if error is None:  # a failed attempt says nothing of the node's cost
                        run.placement.took(record.end_ns - record.start_ns)
                    if error is not None or waiting:
                        await self._complete(run, record, error, waiting)
                    else:
                        self._record_firing(run, record)
                    if error is not None and cluster.lost:
                        await self._cluster_lost(run, record, records[index + 1 :], window)
        finally:
            for _, call in window:
                call.cancel()
            if window:
                await asyncio.gather(*(call for _, call in window), return_exceptions=True)
            self.in_flight -= 1
            self.wake.set()

    @staticmethod
    def _group_size(run: NodeRun, slots: int) -> int:
        """How many queued inputs of ``run`` (one input edge) the next cluster task fires,
        ``slots`` tasks free to take them; 1 for a node of several inputs."""
        if run.single is None:
            return 1
        queued = len(run.single[1]) + len(run.replays)
        return run.placement.group_size(queued, slots)

    async def _cluster_lost(
        self,
        run: NodeRun,
        failed: FiringRecord,
        rest: list[FiringRecord],
        window: deque[tuple[list[FiringRecord], asyncio.Future[Fired]]],
    ) -> None:
        """The cluster went away: the rest of ``failed``'s task, the tasks in flight and the
        inputs still queued for ``run`` go to the dead-letter queue, and the run ends with
        ``ClusterLostError`` (``fire_cluster`` then cancels the tasks in flight)."""
        reason = failed.error.message if failed.error is not None else "the cluster is gone"
        records = [*rest, *(record for group, _ in window for record in group)]
        while run.ready():
            record = FiringRecord(next(_firing_ids), run.node_id, run.take_inputs())
            run.stats.firings += 1
            records.append(record)
        for record in records:
            message = f"node {run.node_id!r} was not run: the cluster went away ({reason})"
            error = _cluster_error(run, message, record)
            record.error = error
            record.status = await self._route_error(run, error, record.inputs, record)
            self._record_firing(run, record)
        msg = (
            f"the cluster went away while node {run.node_id!r} ran on it ({reason}); its "
            f"{len(records) + 1} unprocessed inputs went to its error output or the "
            "dead-letter queue (rt.dlq): replay them once a cluster is back"
        )
        raise ClusterLostError(msg)

    async def _on_cluster_group(self, run: NodeRun, records: list[FiringRecord]) -> Fired:
        """One attempt of a group of a cluster node's firings, fired one after the other by
        one task (a group of one within the node's timeout), and whether the last one fired
        called ``ctx.done()`` (the rest were then not fired: fewer outcomes than records)."""
        executor: ClusterExecutor = self.executor  # type: ignore[assignment]
        assert run.remote is not None
        if len(records) == 1:
            outcome, remote = await self._on_cluster_attempt(run, records[0])
            return [outcome], remote is not None and remote.wants_no_more
        remotes = await executor.fire_many(run.remote, [record.inputs for record in records])
        pairs = zip(records, remotes, strict=False)  # fewer outcomes: the node called ctx.done()
        outcomes = [_cluster_outcome(run, record, remote) for record, remote in pairs]
        return outcomes, bool(remotes) and remotes[-1].wants_no_more

    async def _on_cluster(self, run: NodeRun, record: FiringRecord) -> Outcome:
        """One attempt of a cluster node's firing (step 2; a retry): ``_on_cluster_attempt``."""
        outcome, _ = await self._on_cluster_attempt(run, record)
        return outcome

    async def _on_cluster_attempt(
        self, run: NodeRun, record: FiringRecord
    ) -> tuple[Outcome, RemoteOutcome | None]:
        """One attempt of a cluster node's firing: the executor's ``fire``, within the
        node's timeout (``None`` for the remote outcome then)."""
        executor: ClusterExecutor = self.executor  # type: ignore[assignment]
        assert run.remote is not None
        first = first_packet(record.inputs)
        call = executor.fire(run.remote, record.inputs)
        try:
            remote = await (asyncio.wait_for(call, run.timeout) if run.timeout else call)
        except TimeoutError:
            now = time.time_ns()
            return (None, self._timeout(run, first, record.attempt), [], now, now), None
        return _cluster_outcome(run, record, remote), remote

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
            self.publish(NodeStatusChanged(run.node_id, "running"))
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
        runs_on = run.placement.runs_on
        if runs_on == "cluster" and record.kind == "process":  # sync or async: on a worker
            return await self._on_cluster(run, record)
        if inspect.iscoroutinefunction(fn):
            if run.remote_inputs and record.kind == "process":
                args = (await self.executor.submit(local_inputs, record.inputs),)
            return await self._call_async(run, fn, args, record)
        if run.remote_inputs and record.kind == "process":
            fn = _reading_remote(fn)
        elif runs_on != "worker":
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
            self.publish(NodeStatusChanged(run.node_id, "error" if record.error else "done"))

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
            self.publish(NodeMoved(run.node_id, placement.runs_on, placement.reason))

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
            self.publish(NodeFailed(run.node_id, error))
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


def _take_records(run: NodeRun, limit: int) -> list[FiringRecord]:
    """Up to ``limit`` firings' inputs of ``run`` (at least one: it is ready), in order."""
    records = [FiringRecord(next(_firing_ids), run.node_id, run.take_inputs())]
    while len(records) < limit and run.ready():
        records.append(FiringRecord(next(_firing_ids), run.node_id, run.take_inputs()))
    return records


#: What a cluster task gave: the outcome of each firing it fired, and whether the last one
#: called ``ctx.done()``.
Fired: TypeAlias = tuple[list[Outcome], bool]


def _cluster_outcome(run: NodeRun, record: FiringRecord, remote: RemoteOutcome) -> Outcome:
    """A firing's ``RemoteOutcome`` as the firing path takes it: a failure of the cluster
    itself (a worker that died too often, a lost scheduler) is a recoverable ``IO_ERROR``;
    the node's own exception is its error as on any path."""
    failure: BaseException | ErrorPacket | None = remote.error
    if remote.error is not None and remote.error.recoverable:
        message = f"node {run.node_id!r} on the cluster: {remote.error.message}"
        details = {"worker": remote.worker, "traceback": remote.error.traceback}
        failure = _cluster_error(run, message, record, details)
    return remote.result, failure, list(remote.emitted), remote.start_ns, remote.end_ns


def _cluster_error(
    run: NodeRun, message: str, record: FiringRecord, details: Mapping[str, Any] | None = None
) -> ErrorPacket:
    """A recoverable ``IO_ERROR`` of a cluster node's firing: the cluster failed, not it."""
    first = first_packet(record.inputs)
    return ErrorPacket(
        ErrorCode.IO_ERROR,
        message,
        run.node_id,
        first.trace_id if first is not None else None,
        recoverable=True,
        attempt=record.attempt,
        details=dict(details or {}),
        packet=first,
    )


def local_inputs(inputs: Mapping[str, DataPacket]) -> dict[str, DataPacket]:
    """``inputs`` with every table that lives on a cluster read here (in the calling thread:
    a worker's, never the loop's); the packets keep their ids and metadata."""
    return {
        port: replace(packet, binary_value=packet.binary_value.read())
        if isinstance(packet.binary_value, RemoteTable)
        else packet
        for port, packet in inputs.items()
    }


def _reading_remote(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(inputs, ctx)`` called with the cluster's tables read first (``local_inputs``)."""

    def call(inputs: Mapping[str, DataPacket], ctx: NodeContext) -> Any:
        return fn(local_inputs(inputs), ctx)

    return call


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
