"""Fixtures of the runtime tests: a registry with the built-in nodes and the test nodes."""

from __future__ import annotations

import pytest
from _testnodes import (
    AddOne,
    AnyOf,
    Emitter,
    Flaky,
    Numbers,
    Sleeper,
    SlowSink,
    WrongType,
    Zip,
    flaky_spec,
)

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.testing import spec


@pytest.fixture(params=["inline", "worker"])
def placement(request: pytest.FixtureRequest) -> str:
    """Where the synchronous test nodes fire: every behaviour test runs both ways (one firing
    path: the same packets, stats and log; see test_one_firing_path.py)."""
    return str(request.param)


@pytest.fixture
def registry(placement: str) -> NodeRegistry:
    offload = "none" if placement == "inline" else "thread"
    inline = {"execution": {"offload": offload}}
    reg = NodeRegistry()
    count = [{"name": "count", "type": "integer", "default": 10}]
    reg.register(spec("numbers", [], ["out"], settings=count), Numbers)
    reg.register(spec("add-one", ["in"], ["out"], **inline), AddOne)
    delay = [{"name": "delayMs", "type": "number", "default": 5}]
    reg.register(spec("slow-sink", ["in"], ["out"], settings=delay), SlowSink)
    reg.register(spec("zip", ["a", "b", {"name": "c", "required": False}], ["out"], **inline), Zip)
    reg.register(
        spec("any-of", ["a", "b"], ["out"], execution={"fire": "any", "offload": offload}), AnyOf
    )
    reg.register(flaky_spec(offload, 3), Flaky)
    seconds = [{"name": "seconds", "type": "number", "default": 0.05}]
    reg.register(spec("sleeper", ["in"], ["out"], settings=seconds), Sleeper)
    reg.register(spec("emitter", ["in"], ["out"], **inline), Emitter)
    reg.register(
        spec("wrong-type", ["in"], [{"name": "out", "type": "number"}], **inline), WrongType
    )
    return reg


@pytest.fixture
def graph(registry: NodeRegistry) -> Graph:
    return Graph(id="test", registry=registry)
