"""Test nodes for the widget tests (the ``registry`` fixture registers them)."""

from __future__ import annotations

import asyncio
from typing import Any

from dataflow_jupyter import DataPacket, IONode, PureNode


class Numbers(IONode):
    """Emits 0..count-1, then ends; waits ``delayMs`` between packets."""

    async def run(self, ctx: Any) -> None:
        for i in range(self.settings["count"]):
            await ctx.emit("out", i)
            if self.settings["delayMs"]:
                await asyncio.sleep(self.settings["delayMs"] / 1000)


class AddOne(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": inputs["in"].value + 1}


class Boom(PureNode):
    """Raises on every packet whose value is in ``failOn`` (all of them when it is empty)."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        value = inputs["in"].value
        if not self.settings["failOn"] or value in self.settings["failOn"]:
            msg = f"boom: cannot take {value}"
            raise ValueError(msg)
        return {"out": value}


class Record(PureNode):
    """Passes a record with mixed and nested payload fields (for the Arrow conversion)."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        value = inputs["in"].value
        return {"out": {"n": value, "tags": ["a", value], "odd": value if value % 2 else "even"}}


class Unopenable(PureNode):
    """Fails to set up, as a node whose port is taken would."""

    async def setup(self) -> None:
        msg = "port 8080 is in use"
        raise OSError(msg)

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": inputs["in"].value}


COUNT = [
    {"name": "count", "type": "integer", "default": 3},
    {"name": "delayMs", "type": "number", "default": 0},
]
FAIL_ON = [{"name": "failOn", "type": "json", "default": []}]
