"""Drive a node's hooks directly, as the runtime's end-of-stream contract calls them.

``drive(node, [("in", table), ...])`` calls ``setup``, then ``process`` once per packet (with
the last packet seen on each other port too, as a ``fire: any`` node gets it), then
``input_finished`` for every input port and ``finish``; it returns what the node emitted,
``[(port, value), ...]``, from return values and ``ctx.emit`` alike. No runtime, no loop of
its own: fast enough for hypothesis, and the node logic is tested apart from the scheduler.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from dataflow_jupyter import DataPacket
from dataflow_jupyter.node import DataFlowNode, NodeContext


class DriveContext(NodeContext):
    """A context that collects emits; ``done()`` sets ``wants_no_more`` as in the runtime."""

    __slots__ = ("emitted",)

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id, self._collect)
        self.emitted: list[tuple[str, Any]] = []

    async def _collect(self, port: str, value: Any) -> None:
        self.emitted.append((port, value))


async def _call(ctx: DriveContext, method: Any, *args: Any) -> None:
    result = method(*args, ctx)
    if inspect.isawaitable(result):
        result = await result
    if result is None:
        return
    if not isinstance(result, dict):  # an ErrorPacket
        ctx.emitted.append(("error", result))
        return
    for port, value in result.items():
        ctx.emitted.append((port, value.binary_value if isinstance(value, DataPacket) else value))


async def drive_async(
    node: DataFlowNode, packets: list[tuple[str, Any]], *, finish: bool = True
) -> list[tuple[str, Any]]:
    ctx = DriveContext(node.node_id)
    await node.setup()
    last: dict[str, DataPacket] = {}
    for port, value in packets:
        if ctx.wants_no_more:
            break
        last[port] = value if isinstance(value, DataPacket) else DataPacket(None, value)
        await _call(ctx, node.process, dict(last))
    if finish:
        for port in [p.name for p in node.spec.ports.inputs]:
            if hasattr(node, "input_finished"):
                await _call(ctx, node.input_finished, port)
        if hasattr(node, "finish"):
            await _call(ctx, node.finish)
    return ctx.emitted


def drive(
    node: DataFlowNode, packets: list[tuple[str, Any]], **options: Any
) -> list[tuple[str, Any]]:
    return asyncio.run(drive_async(node, packets, **options))
