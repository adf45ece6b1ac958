"""Fixtures of the runtime tests: a registry with the built-in nodes and the test nodes."""

from __future__ import annotations

import pytest
from _support import spec
from _testnodes import (
    INLINE,
    AddOne,
    AnyOf,
    Emitter,
    Flaky,
    Numbers,
    Sleeper,
    SlowSink,
    WrongType,
    Zip,
)

from dataflow_jupyter import Graph, NodeRegistry


@pytest.fixture
def registry() -> NodeRegistry:
    reg = NodeRegistry()
    count = [{"name": "count", "type": "integer", "default": 10}]
    reg.register(spec("numbers", [], ["out"], settings=count), Numbers)
    reg.register(spec("add-one", ["in"], ["out"], **INLINE), AddOne)
    delay = [{"name": "delayMs", "type": "number", "default": 5}]
    reg.register(spec("slow-sink", ["in"], ["out"], settings=delay), SlowSink)
    reg.register(spec("zip", ["a", "b", {"name": "c", "required": False}], ["out"], **INLINE), Zip)
    reg.register(
        spec("any-of", ["a", "b"], ["out"], execution={"fire": "any", "offload": "none"}), AnyOf
    )
    flaky_settings = [
        {"name": "failOn", "type": "json", "default": []},
        {"name": "failTimes", "type": "integer", "default": 1000},
        {"name": "errorOn", "type": "json", "default": []},
    ]
    reg.register(
        spec(
            "flaky",
            ["in"],
            ["out", {"name": "error", "type": "error_packet"}],
            settings=flaky_settings,
            execution={"retry": 3, "recoverable": True, "retryBackoffMs": 1, "offload": "none"},
        ),
        Flaky,
    )
    seconds = [{"name": "seconds", "type": "number", "default": 0.05}]
    reg.register(spec("sleeper", ["in"], ["out"], settings=seconds), Sleeper)
    reg.register(spec("emitter", ["in"], ["out"]), Emitter)
    reg.register(spec("wrong-type", ["in"], [{"name": "out", "type": "number"}]), WrongType)
    return reg


@pytest.fixture
def graph(registry: NodeRegistry) -> Graph:
    return Graph(id="test", registry=registry)
