"""Node runs: one node instance and its run state, as the session moves it.

- *node run* (``NodeRun``): the instance, its input channels per port, output wires per
  port, last values of its ports, ``busy`` while a worker owns it, ``marked`` while the
  dispatcher has it on its list to look at;
- *ready*: not a source, and the firing rule holds: ``fire: all`` needs a packet on every
  required input port (a node with only optional inputs needs one on any); ``fire: any``
  needs a packet on any port;
- *taking inputs*: one packet per required port (taken from that port's channels
  round-robin, so every edge keeps its order), the waiting or last-seen packet of optional
  ports;
- *wire*: an output edge: its channel, its target and its optional ``filter`` /
  ``transform`` expressions, evaluated on the wire before the packet is queued;
- *closed port*: every channel into the port is closed (its producer finished) and empty.
  A port with no edges is closed from the start;
- *finish due*: not a source, not finished, and every input port closed (``fire: all``
  with required ports: every required port closed; optional ones may still be open), or
  the node called ``ctx.done()``;
- *dead*: a ``fire: all`` node with a closed required port while another port still holds
  packets: it can never fire again, so the run stalls (``dead_port`` says why);
- *fused link*: the one data output of a node whose one wire, without expressions, is the
  only input of a node with one input port (``NodeRun.link``). While both run inline, the
  next node is free and the wire's channel is empty, the dispatcher hands what the first
  emitted straight to the next one's firings instead of queueing it
  (``Firings.drain_inline``); the channel still counts it.
"""

from __future__ import annotations

import inspect
import sys
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter.node import NodeContext
from dataflow_jupyter.ports import PortType
from dataflow_jupyter.runtime._placement import SLOW_NS, Placement
from dataflow_jupyter.runtime.stats import NodeStats

if TYPE_CHECKING:
    from collections.abc import Callable

    from dataflow_jupyter.executors import RemoteNode
    from dataflow_jupyter.expressions import Expression
    from dataflow_jupyter.node import DataFlowNode
    from dataflow_jupyter.packets import DataPacket, ErrorPacket
    from dataflow_jupyter.ports import PortSchema
    from dataflow_jupyter.runtime._channels import Channel
    from dataflow_jupyter.spec import NodeSpec

__all__ = ["DONE", "Done", "FiringRecord", "Hot", "NodeRun", "Wire"]

# (input port, its frame, stats, process, ctx, buffered emits, the data output's quick check
# (True, exact types, or False: none), the data output, its frame, its wires, node id), for
# a node with one input edge whose data output, if any, is checked quickly: see ``wired``
Hot = tuple[
    str,
    "deque[DataPacket]",
    NodeStats,
    "Callable[..., Any]",
    NodeContext,
    "list[tuple[str, Any]]",
    "bool | tuple[type, ...]",
    "str | None",
    "deque[DataPacket] | None",
    "list[Wire]",
    str,
]


class Done:
    """An awaitable that is already complete: what ``ctx.emit`` gives a synchronous node."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


DONE: Final = Done()


@dataclass(slots=True)
class Wire:
    """One output edge as the producer sees it."""

    edge_id: str
    target: NodeRun
    channel: Channel
    filter: Expression | None
    transform: Expression | None


@dataclass(slots=True)
class FiringRecord:
    """What one firing did (the debugger shows it as a ``Step``)."""

    firing_id: int
    node_id: str
    inputs: dict[str, DataPacket]
    outputs: list[tuple[str, DataPacket]] = field(default_factory=list)
    status: str = "ok"
    error: ErrorPacket | None = None
    kind: str = "process"  # or "finish" / "input_finished" (an end-of-stream hook)
    attempt: int = 1
    emitted: int = 0  # packets the current attempt emitted
    start_ns: int = 0
    end_ns: int = 0


class NodeRun:
    """One node instance and its run state."""

    __slots__ = (
        "any_closed",
        "blocked_puts",
        "blocking",
        "buffered",
        "busy",
        "checks",
        "ctx",
        "data_output",
        "fast",
        "finished",
        "fire_any",
        "has_finish",
        "has_input_finished",
        "hot",
        "in_frames",
        "index",
        "inline",
        "inline_limit_ns",
        "inputs",
        "instance",
        "is_source",
        "last",
        "late",
        "link",
        "marked",
        "node_id",
        "optional",
        "out_frames",
        "outputs",
        "parallelism",
        "placement",
        "plain",
        "ports_finished",
        "process",
        "remote",
        "remote_inputs",
        "replays",
        "required",
        "rr",
        "single",
        "spec",
        "stats",
        "stop_requested",
        "timeout",
        "versions",
    )

    def __init__(
        self,
        node_id: str,
        index: int,
        instance: DataFlowNode,
        spec: NodeSpec,
        *,
        executor_inline: bool = True,
    ) -> None:
        self.node_id = node_id
        self.index = index
        self.instance = instance
        self.spec = spec
        self.process: Callable[..., Any] = getattr(instance, "process", _no_process)
        self.is_source = instance.is_source()
        self.fire_any = spec.execution.fire == "any"
        timeout_ms = spec.execution.timeout_ms
        self.timeout = timeout_ms / 1000 if timeout_ms else None
        self.placement = Placement.choose(
            spec.execution.offload,
            is_async=inspect.iscoroutinefunction(self.process),
            executor_inline=executor_inline,
            is_source=self.is_source,
        )
        self.inline = self.placement.runs_on == "inline"
        self.inline_limit_ns = self.limit_ns()
        # on the cluster: firings in flight at once, and how the cluster names the node
        self.parallelism: int = getattr(spec.execution, "parallelism", 1)
        self.remote: RemoteNode | None = None
        self.remote_inputs = False  # an input edge comes from a cluster node
        self.required = tuple(p.name for p in spec.ports.inputs if p.required)
        self.optional = tuple(p.name for p in spec.ports.inputs if not p.required)
        self.inputs: dict[str, list[Channel]] = {p.name: [] for p in spec.ports.inputs}
        self.outputs: dict[str, list[Wire]] = {p.name: [] for p in spec.ports.outputs}
        data = [p.name for p in spec.ports.outputs if p.name != "error"]
        self.data_output = data[0] if len(data) == 1 else None  # where a bare return goes
        self.checks: dict[str, PortSchema | None] = {
            p.name: None if p.type in (PortType.ANY, PortType.SIGNAL) else p.port_schema()
            for p in spec.ports.outputs
        }
        self.versions = {p.name: p.schema_version for p in spec.ports.outputs if p.schema_version}
        self.last: dict[str, DataPacket] = {}
        self.rr: dict[str, int] = dict.fromkeys(self.inputs, 0)
        self.replays: deque[dict[str, DataPacket]] = deque()
        self.busy = False
        self.marked = False  # in the session's heap of nodes to look at
        self.finished = False  # end of stream: finish ran and the outputs are closed
        self.blocked_puts = 0  # its sends that wait for room on a full edge
        self.any_closed = False  # some input channel closed: look at the end-of-stream rules
        self.stop_requested = False  # the node called ctx.done()
        self.ports_finished: set[str] = set()
        self.has_input_finished, self.has_finish = type(instance).hooks_end_of_stream()
        self.stats = NodeStats(runs_on=self.placement.runs_on)
        self.plain: dict[str, bool] = {}  # per output port: no wire has an expression
        # per output port, when plain and unversioned: True (unchecked) or the exact types a
        # value may have to pass its port's check at once; False: the general way
        self.fast: dict[str, bool | tuple[type, ...]] = {}
        self.in_frames: dict[str, deque[DataPacket]] = {}
        self.out_frames: dict[str, deque[DataPacket]] = {}
        self.single: tuple[str, Channel, deque[DataPacket]] | None = None
        # what the dispatcher's hot loop reads of a node in one go (see ``wired``)
        self.hot: Hot | None = None
        self.link: tuple[Channel, NodeRun] | None = None  # the fused link, if any
        self.blocking: list[Channel] = []
        self.buffered: list[tuple[str, Any]] = []
        self.late: list[int] = []  # emits after a worker's call had returned (any thread)
        buffered = self.buffered

        def emit(port: str, value: Any) -> Done:
            buffered.append((port, value))
            return DONE

        self.ctx = NodeContext(node_id, emit)

    def limit_ns(self) -> int:
        """How long an inline firing may take before the placement rule looks at it: the
        slow threshold of a node that may move, or its timeout (see ``placement``)."""
        limit = sys.maxsize if self.placement.fixed else SLOW_NS
        timeout_ms = self.spec.execution.timeout_ms
        if timeout_ms is not None:
            limit = min(limit, timeout_ms * 1_000_000)
        return limit

    def has(self, port: str) -> bool:
        """Whether a packet waits on ``port``."""
        return any(self.inputs[port])

    def wired(self) -> None:
        """Note the shortcuts the wiring allows (called once the edges are in place)."""
        ports = list(self.inputs)
        if (
            len(ports) == 1
            and not self.fire_any
            and self.required
            and len(self.inputs[ports[0]]) == 1
        ):
            port = ports[0]
            self.single = (port, self.inputs[port][0], self.in_frames[port])
        self.plain = {
            port: all(w.filter is None and w.transform is None for w in wires)
            for port, wires in self.outputs.items()
        }
        self.fast = {
            port: plain and port not in self.versions and _quick_check(self.checks[port])
            for port, plain in self.plain.items()
        }
        self.blocking = [
            wire.channel
            for wires in self.outputs.values()
            for wire in wires
            if wire.channel.overflow == "block"
        ]
        data = self.data_output
        if self.single is not None and (data is None or self.fast[data]):
            self.hot = (
                self.single[0],
                self.single[2],
                self.stats,
                self.process,
                self.ctx,
                self.buffered,
                False if data is None else self.fast[data],
                data,
                None if data is None else self.out_frames[data],
                [] if data is None else self.outputs[data],
                self.node_id,
            )

    def linked(self) -> None:
        """Note the fused link of the data output (called once every node is ``wired``)."""
        self.link = None
        if self.hot is None:
            return
        wires = self.hot[9]
        if len(wires) == 1:
            wire = wires[0]
            single = wire.target.single
            if wire.target.hot is not None and single is not None and single[1] is wire.channel:
                self.link = (wire.channel, wire.target)

    def room(self, limit: int) -> int:
        """``limit``, or fewer: how many firings' outputs its ``block`` outputs can take
        without waiting (at least 1)."""
        for channel in self.blocking:
            limit = min(limit, channel.size - len(channel))
        return max(limit, 1)

    def ready(self) -> bool:
        """Whether the firing rule holds (see the module docstring); ``busy`` is not checked."""
        if self.single is not None:
            return bool(self.single[1]) or bool(self.replays)
        if self.is_source:
            return False
        if self.replays:
            return True
        if self.fire_any or not self.required:
            return any(self.has(port) for port in self.inputs)
        return all(self.has(port) for port in self.required)

    def quiet_end(self) -> bool | None:
        """For a node with one input edge and no end-of-stream hook to run: whether its end
        of stream came (the edge closed and drained, or it called ``ctx.done()``), its port
        then noted as finished; ``None`` for any other node (``Session.settle`` applies the
        full rules)."""
        single = self.single
        if single is None or self.has_input_finished or self.has_finish or self.replays:
            return None
        channel = single[1]
        if (channel.closed and not channel) or self.stop_requested:
            self.ports_finished.add(single[0])
            return True
        return False

    def port_closed(self, port: str) -> bool:
        """Whether every channel into ``port`` is closed and empty (no edge: closed)."""
        return all(channel.closed and not channel for channel in self.inputs[port])

    def newly_closed_port(self) -> str | None:
        """An input port that closed and whose end of stream is not handled yet, if any."""
        for port in self.inputs:
            if port not in self.ports_finished and self.port_closed(port):
                return port
        return None

    def finish_due(self) -> bool:
        """Whether end of stream has come for the whole node (see the module docstring)."""
        if self.finished or self.is_source or self.replays:
            return False
        if self.stop_requested:
            return True
        if self.required and not self.fire_any:
            return all(self.port_closed(port) for port in self.required)
        return all(self.port_closed(port) for port in self.inputs)

    def dead_port(self) -> str | None:
        """Why a ``fire: all`` node can never fire again while packets wait; ``None`` if it can."""
        if self.fire_any or len(self.required) < 2 or self.stop_requested:
            return None
        closed = [port for port in self.required if self.port_closed(port)]
        waiting = [port for port in self.inputs if port not in closed and self.has(port)]
        if not closed or not waiting:
            return None
        port = closed[0]
        got = sum(channel.delivered for channel in self.inputs[port])
        queued = "; ".join(
            f"{p!r} has {sum(len(c) for c in self.inputs[p])} queued" for p in waiting
        )
        return (
            f"{self.spec.id} {self.node_id!r} waits on {port!r}, which finished after {got} "
            f"packets; {queued}. Every required input gives one packet per firing (fire: all), "
            "so these can never be used: send as many packets to each input, or use a node "
            "that collects one side (e.g. join)"
        )

    def take_inputs(self) -> dict[str, DataPacket]:
        """Take one firing's inputs from the channels (see the module docstring)."""
        if self.replays:
            return self.replays.popleft()
        if self.single is not None:  # one required port fed by one edge: the common case
            port, channel, frame = self.single
            packet = channel.take()
            self.stats.received += 1
            frame.append(packet)
            return {port: packet}
        inputs: dict[str, DataPacket] = {}
        if self.fire_any or not self.required:
            port = next(p for p in self.inputs if self.has(p))
            inputs[port] = self._take(port)
        else:
            for port in self.required:
                inputs[port] = self._take(port)
            for port in self.optional:
                if self.has(port):
                    inputs[port] = self._take(port)
        for port, packet in self.last.items():
            inputs.setdefault(port, packet)
        return inputs

    def _take(self, port: str) -> DataPacket:
        channels = self.inputs[port]
        start = self.rr[port]
        for offset in range(len(channels)):
            channel = channels[(start + offset) % len(channels)]
            if channel:
                self.rr[port] = (start + offset + 1) % len(channels)
                packet = channel.take()
                self.last[port] = packet
                self.stats.received += 1
                frame = self.in_frames.get(port)
                if frame is not None:
                    frame.append(packet)
                return packet
        msg = f"node {self.node_id!r} port {port!r} has no packet"  # ready() guards this
        raise LookupError(msg)


_QUICK_TYPES: Final[dict[PortType, tuple[type, ...]]] = {
    PortType.OBJECT: (dict,),
    PortType.NUMBER: (int, float),
    PortType.STRING: (str,),
    PortType.BOOLEAN: (bool,),
    PortType.ARRAY: (list, tuple),
}


def _quick_check(check: PortSchema | None) -> bool | tuple[type, ...]:
    """What the hot path checks a plain value against: nothing (``True``), exact types
    (a value of one of them fits the port; any other takes the full check), or ``False``
    (a port narrowed by a JSON Schema, columns or a schema id: always the full check)."""
    if check is None:
        return True
    if check.json_schema or check.columns or check.schema_id:
        return False
    return _QUICK_TYPES.get(check.type, False)


def _no_process(inputs: dict[str, DataPacket], ctx: NodeContext) -> None:
    return None
