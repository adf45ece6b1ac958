"""Test nodes for the runtime tests (the ``registry`` fixture registers them)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from dataflow_jupyter import DataPacket, ErrorCode, ErrorPacket, IONode, NodeRegistry, PureNode
from dataflow_jupyter.spec import NodeSpec
from dataflow_jupyter.testing import spec


class Numbers(IONode):
    """Emits 0..count-1, each a new trace."""

    async def run(self, ctx: Any) -> None:
        for i in range(self.settings["count"]):
            await ctx.emit("out", i)
            self.emitted_at.append(time.perf_counter())

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.emitted_at: list[float] = []


class AddOne(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": inputs["in"].value + 1}


class SlowSink(PureNode):
    async def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        await asyncio.sleep(self.settings["delayMs"] / 1000)
        return {"out": inputs["in"].value}


class Zip(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        extra = inputs["c"].value if "c" in inputs else None
        return {"out": [inputs["a"].value, inputs["b"].value, extra]}


class AnyOf(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": sorted((port, p.value) for port, p in inputs.items())}


class Flaky(PureNode):
    """Fails on the values listed in settings; succeeds on retry after `failTimes`.

    Setting the class attribute ``healed`` is "the fix": then it never fails.
    """

    healed = False

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.attempts: dict[Any, int] = {}

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> Any:
        value = inputs["in"].value
        self.attempts[value] = self.attempts.get(value, 0) + 1
        failing = value in self.settings["failOn"] and not type(self).healed
        if failing and self.attempts[value] <= self.settings["failTimes"]:
            msg = f"cannot handle {value}"
            raise ValueError(msg)
        if value in self.settings["errorOn"]:
            return ErrorPacket(ErrorCode.VALIDATION, f"refused {value}")
        return {"out": value}


def chain_registry(offload: str) -> NodeRegistry:
    """``numbers``, then ``add-one`` and ``flaky`` (2 retries) fired where ``offload`` says:
    what the parity tests of the firing paths start from."""
    reg = NodeRegistry()
    count = [{"name": "count", "type": "integer", "default": 10}]
    reg.register(spec("numbers", [], ["out"], settings=count), Numbers)
    reg.register(spec("add-one", ["in"], ["out"], execution={"offload": offload}), AddOne)
    reg.register(flaky_spec(offload, 2), Flaky)
    return reg


def flaky_spec(offload: str, retry: int) -> NodeSpec:
    """The spec of ``flaky`` (retried with a 1 ms backoff) with ``offload``."""
    settings = [
        {"name": "failOn", "type": "json", "default": []},
        {"name": "failTimes", "type": "integer", "default": 1000},
        {"name": "errorOn", "type": "json", "default": []},
    ]
    return spec(
        "flaky",
        ["in"],
        ["out", {"name": "error", "type": "error_packet"}],
        settings=settings,
        execution={"retry": retry, "recoverable": True, "retryBackoffMs": 1, "offload": offload},
    )


class Head(PureNode):
    """Passes the first ``n`` packets on, then says it wants no more (``ctx.done()``)."""

    def __init__(self, node_id: str, settings: Any = None) -> None:
        super().__init__(node_id, settings)
        self.seen = 0

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        self.seen += 1
        if self.seen >= self.settings["n"]:
            ctx.done()
        return {"out": inputs["in"].value}


class Sleeper(PureNode):
    """Sleeps in a worker thread (GIL released) and records the peak concurrency."""

    lock = threading.Lock()
    active = 0
    peak = 0

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        time.sleep(self.settings["seconds"])
        with cls.lock:
            cls.active -= 1
        return {"out": inputs["in"].value}


class Emitter(PureNode):
    """Emits each element of a list value with ctx.emit."""

    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> None:
        for item in inputs["in"].value:
            ctx.emit("out", item)


class WrongType(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: Any) -> dict[str, Any]:
        return {"out": "not a number"}
