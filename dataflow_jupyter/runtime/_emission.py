"""Emission: how a value a node emits becomes a packet on its edges.

*Wrap* the value into a packet derived from the firing's inputs (same trace, the inputs as
parents), *check* it against the port's type, *route* it through every wire's
``filter``/``transform`` (all of them before anything is sent, so a failing expression sends
nothing: ``EmitError``), *record* it (stats, frames, the log, the run's kept outputs) and
*send* it: offered to each channel, or awaited when a ``block`` channel is full.
``Firings`` (``firing``) builds on these; sources and ``async`` nodes emit through ``emit``.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

from dataflow_jupyter.expressions import expression_names
from dataflow_jupyter.packets import (
    BinaryRef,
    DataPacket,
    ErrorCode,
    ErrorPacket,
    RemoteTable,
    source_packet,
)
from dataflow_jupyter.ports import value_problem

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterable, Mapping

    from dataflow_jupyter.runtime._channels import Channel
    from dataflow_jupyter.runtime._noderun import FiringRecord, NodeRun, Wire
    from dataflow_jupyter.runtime.log import ExecutionLog

__all__ = [
    "WRAPPED",
    "Emission",
    "EmitError",
    "Sends",
    "first_packet",
    "parents_of",
    "payload_size",
]

_BINARY: Final = (pa.Table, pa.RecordBatch, pa.Buffer, BinaryRef, RemoteTable)
WRAPPED: Final = (DataPacket, ErrorPacket, *_BINARY)  # emitted values not taken as plain
Sends = list[tuple["Wire", DataPacket]]


class Emission:
    """The emission moves of a ``Session`` (see the module docstring)."""

    # Provided by the session.
    log: ExecutionLog
    max_outputs: int
    outputs: dict[str, list[DataPacket]]
    output_counts: dict[str, int]
    outputs_total: int
    wake: asyncio.Event
    blocked_puts: int

    if TYPE_CHECKING:

        def mark(self, run: NodeRun) -> None: ...  # the session's heap of nodes to look at

    async def emit(
        self,
        run: NodeRun,
        port: str,
        value: Any,
        inputs: Mapping[str, DataPacket] | None,
        record: FiringRecord | None = None,
    ) -> DataPacket:
        """Wrap ``value``, check it, pass it through every wire's expressions, send it (waiting
        for room) and record it. Sources and ``async`` nodes emit this way."""
        firing_id = record.firing_id if record is not None else None
        quick = run.fast.get(port) if inputs is None else None
        if quick and (
            type(value) in quick  # type: ignore[operator]
            if quick is not True
            else not isinstance(value, WRAPPED)
        ):  # a source's plain value on a plain port: the common case, in one go
            packet = source_packet(value, None, run.node_id, "1.0.0")
            wires = run.outputs[port]
            sends: Sends = [(wire, packet) for wire in wires]
        else:
            packet, wires = self._prepare(run, port, value, inputs, firing_id)
            sends = self._route(wires, packet)
        taken = 0
        try:
            for wire, sent in sends:
                if not wire.channel.offer(sent):
                    await self._put(run, wire.channel, sent)
                self.mark(wire.target)
                taken += 1
        finally:
            # a send cancelled before any edge took the packet (a webhook's 503) never
            # emitted it; once one edge has it, it counts
            if taken or not sends:
                self._record(run, port, packet, wires, firing_id)
            self.wake.set()
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

        Raises ``EmitError`` when the port does not exist or refuses the value.
        """
        wires = run.outputs.get(port)
        if wires is None:
            msg = (
                f"node {run.node_id!r} emitted on port {port!r}, which {run.spec.id} does not "
                f"have; its outputs: {', '.join(run.outputs) or 'none'}"
            )
            raise EmitError(ErrorPacket(ErrorCode.VALIDATION, msg, run.node_id))
        packet = self._wrap(run, port, value, inputs)
        check = run.checks[port]
        if check is not None and not isinstance(value, ErrorPacket):
            problem = value_problem(check, packet, node_id=run.node_id, port=port)
            if problem is not None:
                run.stats.type_mismatches += 1
                raise EmitError(
                    ErrorPacket(
                        ErrorCode.TYPE_MISMATCH,
                        problem,
                        run.node_id,
                        packet.trace_id,
                        packet=first_packet(inputs) if inputs else None,
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
        """Count a packet that left ``port`` in stats, frames and log."""
        run.stats.emitted += 1
        run.out_frames[port].append(packet)
        if self.log.enabled:
            self.log.record_packet(
                packet.packet_id,
                packet.trace_id,
                run.node_id,
                port,
                packet.timestamp,
                payload_size(packet),
                packet.parents,
                firing_id,
            )
        if not wires:
            self._kept(run.node_id, port, packet)

    def _kept(self, node_id: str, port: str, packet: DataPacket) -> None:
        """A packet left an output port with no edge: the run's result keeps it (the first
        ``max_outputs``) and counts it."""
        key = f"{node_id}.{port}"
        kept = self.outputs.setdefault(key, [])
        if len(kept) < self.max_outputs:
            kept.append(packet)
        self.output_counts[key] = self.output_counts.get(key, 0) + 1
        self.outputs_total += 1

    def offer_all(self, sends: Iterable[tuple[Wire, DataPacket]], waiting: Sends) -> None:
        """Offer each packet to its wire's channel and mark the target; once one channel is
        full, that send and every later one go to ``waiting`` (in order) instead."""
        for wire, packet in sends:
            if waiting or not wire.channel.offer(packet):
                waiting.append((wire, packet))
            else:
                target = wire.target
                if not target.marked:
                    self.mark(target)

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

    def _route(self, wires: list[Wire], packet: DataPacket) -> Sends:
        """What each wire sends after its filter and transform; every expression runs before
        anything is sent, so a failing one sends nothing (``EmitError``)."""
        sends: Sends = []
        for wire in wires:
            if wire.filter is None and wire.transform is None:
                sends.append((wire, packet))
                continue
            names = expression_names(packet)
            try:
                if wire.filter is not None and not wire.filter.test(names):
                    wire.channel.filtered += 1
                    continue
                sent = packet
                if wire.transform is not None:
                    sent = packet.derive(wire.transform.evaluate(names))
            except Exception as exc:
                message = f"edge {wire.edge_id!r}: {exc}"
                error = ErrorPacket(
                    getattr(exc, "error_code", ErrorCode.EXPRESSION),
                    message,
                    packet.origin_node,
                    packet.trace_id,
                    packet=packet,
                )
                raise EmitError(error) from exc
            sends.append((wire, sent))
        return sends

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
            return source_packet(payload, binary, node_id, version or "1.0.0")
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


class EmitError(Exception):
    """An emission the port or the wire refused; carries the ErrorPacket."""

    def __init__(self, error: ErrorPacket) -> None:
        super().__init__(error.message)
        self.error = error


def first_packet(inputs: Mapping[str, DataPacket] | None) -> DataPacket | None:
    return next(iter(inputs.values()), None) if inputs else None


def parents_of(inputs: Mapping[str, DataPacket]) -> tuple[str, ...]:
    """The parents of a packet emitted by a firing on ``inputs``: the input packets' ids."""
    if len(inputs) == 1:
        for packet in inputs.values():
            return (packet.packet_id,)
    return tuple(packet.packet_id for packet in inputs.values())


def payload_size(packet: DataPacket) -> int:
    binary = packet.binary_value
    if binary is None:
        return sys.getsizeof(packet.value)
    if isinstance(binary, BinaryRef | RemoteTable):  # never read to be measured
        return binary.nbytes or 0
    nbytes = getattr(binary, "nbytes", None)  # a table's nbytes walks its buffers: read once
    return int(nbytes) if nbytes is not None else int(binary.size)
