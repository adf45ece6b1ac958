"""rate-limit: a token bucket that delays packets over the rate instead of dropping them."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from dataflow_jupyter.node import NodeContext, PureNode

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket


class RateLimit(PureNode):
    """Emits each packet unchanged once the bucket holds a token; waits for one otherwise.

    The bucket starts full (``burst`` tokens) and refills at ``maxPerSecond``. The wait
    happens inside the firing, on the loop; the node fires one packet at a time, so packets
    keep their order and the ones behind wait on the input edge, which is what propagates
    backpressure upstream.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.rate = float(self.settings["maxPerSecond"])
        self.capacity = float(self.settings["burst"])
        self._tokens = self.capacity
        self._stamp: float | None = None

    async def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        now = time.monotonic()
        if self._stamp is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        while self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / self.rate)
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        self._tokens -= 1
        return {"out": inputs["in"]}
