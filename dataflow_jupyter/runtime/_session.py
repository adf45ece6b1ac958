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
import logging
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from dataflow_jupyter.executors import ClusterExecutor, RemoteNode
from dataflow_jupyter.expressions import compile_expression
from dataflow_jupyter.node import NodeContext, StatefulNode
from dataflow_jupyter.packets import DataPacket, ErrorPacket
from dataflow_jupyter.ports import PortType
from dataflow_jupyter.runtime._channels import DEFAULT_BUFFER_SIZE, Channel
from dataflow_jupyter.runtime._firing import EmitError, Firings, next_firing_id
from dataflow_jupyter.runtime._noderun import FiringRecord, NodeRun, Wire
from dataflow_jupyter.runtime._pushdown import push_down
from dataflow_jupyter.runtime.errors import StallError
from dataflow_jupyter.runtime.events import NodeFinished
from dataflow_jupyter.runtime.stats import Stats

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping

    from dataflow_jupyter.executors import Executor
    from dataflow_jupyter.graph import Graph
    from dataflow_jupyter.registry import NodeRegistry
    from dataflow_jupyter.runtime.errors import DeadLetterQueue
    from dataflow_jupyter.runtime.events import Publish
    from dataflow_jupyter.runtime.log import ExecutionLog
    from dataflow_jupyter.spec import NodeSpec
    from dataflow_jupyter.state import StateAdapter

__all__ = ["NodeStartError", "Session", "SourceGate"]

_log = logging.getLogger("dataflow_jupyter.runtime")


class Session(Firings):
    """The mutable state of one run, and the moves that change it (firings: ``Firings``)."""

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
        publish: Publish | None,
        frame_tables: int = 2,
        pushdown: bool = True,
    ) -> None:
        self.graph = graph
        self.registry = registry
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
        inline_ok = executor.inline
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
            namespace = f"{graph.id}/{node_id}"
            if isinstance(instance, StatefulNode):
                instance.bind_state(state, namespace)
            spec = node_type.spec.with_execution(described.execution)
            run = NodeRun(node_id, index, instance, spec, executor_inline=inline_ok)
            if run.placement.runs_on == "cluster":
                run.remote = _remote(run, described.settings, executor, (state, namespace))
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
            # a port with no edge is closed from the start: the end-of-stream rules apply
            run.any_closed = not run.is_source and not all(run.inputs.values())
            if run.any_closed:
                self.mark(run)
        for run in self.runs:
            run.linked()
        self.on_cluster = [run for run in self.runs if run.remote is not None]
        _fetch_off_the_loop(self.runs)
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
        executor = self.executor
        if self.on_cluster and isinstance(executor, ClusterExecutor):  # ``_remote`` checked
            await executor.start(self.registry)  # the cluster, and node packs on its workers
        for run in self.nodes.values():
            if run.remote is not None:
                continue  # set up where it fires: on each worker, once
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
            if run.remote is not None:
                continue  # never set up here
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
        ended = run.quiet_end()
        if ended is not None:  # one input edge and no hooks: the common case
            if ended:
                self.close_outputs(run)
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
        record = FiringRecord(next_firing_id(), run.node_id, {}, kind=kind)
        return await self.fire_record(run, record, port)

    def close_outputs(self, run: NodeRun) -> None:
        """``run`` reached end of stream: close its output edges and tell their targets.

        A target that thereby reaches its own end of stream with nothing left to do
        (``NodeRun.quiet_end``, not busy: what ``settle`` would find) is finished here too,
        and so on down a chain, without a dispatcher pass per node.
        """
        todo = [run]
        while todo:
            run = todo.pop()
            if run.finished:
                continue
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
                    target = wire.target
                    target.any_closed = True
                    if not target.busy and target.quiet_end():
                        todo.append(target)
                    else:
                        self.mark(target)
            if self.publish is not None:
                self.publish(NodeFinished(run.node_id))
        self.wake.set()

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

    # -- sources -----------------------------------------------------------------------------

    async def run_source(self, run: NodeRun, gate: SourceGate | None = None) -> None:
        """Run a source's loop; each emission starts a trace. Failures are routed as errors.

        With a ``gate`` (the debugger's), every emission waits for a permit first.
        """
        record = FiringRecord(next_firing_id(), run.node_id, {})

        async def emit(port: str, value: Any) -> None:
            assert gate is not None
            await gate.acquire(run)
            packet = await self.emit(run, port, value, None, record)
            gate.emitted(run, port, packet)

        def emit_now(port: str, value: Any) -> Awaitable[Any]:
            return self.emit(run, port, value, None, record)

        ctx = NodeContext(run.node_id, emit if gate is not None else emit_now)
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
                if isinstance(exc, EmitError)
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


def _arrow_ports(spec: NodeSpec) -> frozenset[str]:
    """The ports declared to carry Arrow data (``table``, ``binary``): their frames are short."""
    ports = [*spec.ports.inputs, *spec.ports.outputs]
    return frozenset(p.name for p in ports if p.type in (PortType.TABLE, PortType.BINARY))


def _remote(
    run: NodeRun,
    settings: Mapping[str, Any],
    executor: Executor,
    state: tuple[StateAdapter, str],
) -> RemoteNode:
    """How the cluster names a node with ``offload: cluster``; refused when it cannot go.

    ``state``: the runtime's adapter and the node's namespace in it. A stateful node takes
    them along: the workers bind it to the same Redis keys (``_redis_address``).
    """
    where = f"node {run.node_id!r} ({run.spec.id} {run.spec.version})"
    if not isinstance(executor, ClusterExecutor):
        msg = (
            f"{where} runs on a cluster (execution.offload: cluster), but the runtime's "
            f"executor is {type(executor).__name__}: pass "
            "executor=DaskExecutor() (dataflow_jupyter.executors.dask), or `--dask` to "
            "`dataflow run`"
        )
        raise NodeStartError(run.node_id, msg)
    if run.has_finish or run.has_input_finished:
        msg = (
            f"{where} has end-of-stream hooks (finish, input_finished), which keep what it "
            "saw in one process: it cannot run on a cluster, where its firings spread over "
            "workers. Run it in the kernel (offload: auto)"
        )
        raise NodeStartError(run.node_id, msg)
    where_state = None
    if isinstance(run.instance, StatefulNode):
        adapter, namespace = state
        address = _redis_address(adapter)
        if address is None:
            msg = (
                f"{where} runs on the cluster and keeps state, but the runtime's state is "
                f"{type(adapter).__name__}, which the workers cannot reach: use redis state "
                '(state="redis" with config.stateStorage {"type": "redis", "url": ...}, or '
                "state=RedisState(url)), or run the node in the kernel (offload: auto)"
            )
            raise NodeStartError(run.node_id, msg)
        where_state = (*address, namespace)
    return RemoteNode.of(run.node_id, run.spec.id, run.spec.version, settings, state=where_state)


def _redis_address(adapter: StateAdapter) -> tuple[str, str] | None:
    """The URL and key prefix of ``adapter`` when it is a ``RedisState`` that connects by
    its URL (one made on a given client cannot be reached from a worker by URL); else
    ``None``. Looked up in ``sys.modules``: a ``RedisState`` exists only once its module is
    imported, and the runtime never imports redis itself."""
    module = sys.modules.get("dataflow_jupyter.state.redis")
    redis_state = getattr(module, "RedisState", None)
    if redis_state is None or not isinstance(adapter, redis_state):
        return None
    if not adapter.connects_by_url:
        return None
    return adapter.url, adapter.prefix


def _fetch_off_the_loop(runs: list[NodeRun]) -> None:
    """A node fed by a cluster node receives tables that live on the cluster: each is read
    (brought here) off the loop, in a worker thread, just before the node's call, so such a
    node never fires inline in the dispatcher."""
    for run in runs:
        if run.remote is None:
            continue
        for wires in run.outputs.values():
            for wire in wires:
                target = wire.target
                if target.remote is None and not target.remote_inputs:
                    target.remote_inputs = True
                    target.placement.fetch_remote_inputs()
                    target.inline = target.placement.runs_on == "inline"
                    target.stats.runs_on = target.placement.runs_on
