"""delay: pass each packet on ``delayMs`` after it was emitted upstream, in order."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from dataflow_jupyter.node import NodeContext, PureNode

if TYPE_CHECKING:
    from dataflow_jupyter.packets import DataPacket


class Delay(PureNode):
    """Sleeps on the loop until the packet is ``delayMs`` old, then emits it unchanged.

    The age is measured from the packet's ``timestamp`` (when it was emitted upstream), and
    the wait is at most ``delayMs`` from when the node takes it. The node fires one packet at
    a time, which keeps the order; since packets that waited in the queue have aged
    meanwhile, a burst is delayed as a whole rather than packet after packet.
    """

    async def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        packet = inputs["in"]
        delay_ns = int(self.settings["delayMs"] * 1_000_000)
        age_ns = time.time_ns() - packet.timestamp
        wait_ns = min(delay_ns, delay_ns - age_ns)
        if wait_ns > 0:
            await asyncio.sleep(wait_ns / 1e9)
        return {"out": packet}
