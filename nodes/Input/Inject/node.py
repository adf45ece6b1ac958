"""inject: a source that emits a JSON value, ``count`` times, every ``intervalMs``."""

from __future__ import annotations

import asyncio
import copy
import itertools
from typing import TYPE_CHECKING, Any

from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.nodekit.settings import settings_where
from dataflow_jupyter.packets import DataPacket

if TYPE_CHECKING:
    from collections.abc import Mapping


class Inject(IONode):
    """Emits ``value`` on ``out``; each emission is a fresh packet that starts a new trace.

    ``count`` 0 emits until the run is stopped (cancelled) and needs ``intervalMs`` > 0, so an
    endless source can never spin the event loop.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        if self.settings["count"] == 0 and self.settings["intervalMs"] <= 0:
            msg = (
                f"{settings_where(self)}: count 0 emits until "
                "stopped and needs intervalMs > 0; set intervalMs (e.g. 1000) or a count >= 1"
            )
            raise ValueError(msg)

    def expected_packets(self) -> int | None:
        """``count`` packets; ``None`` for an endless inject (count 0)."""
        count: int = self.settings["count"]
        return count or None

    async def run(self, ctx: NodeContext) -> None:
        count: int = self.settings["count"]
        interval = float(self.settings["intervalMs"]) / 1000
        emissions = itertools.count() if count == 0 else range(count)
        for index in emissions:
            if index and interval:
                await asyncio.sleep(interval)
            value = copy.deepcopy(self.settings["value"])  # a consumer cannot alter the setting
            await ctx.emit("out", DataPacket(value, origin_node=self.node_id))
