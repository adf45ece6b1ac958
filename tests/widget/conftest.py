"""Fixtures of the widget tests: test nodes, and editors whose messages are recorded.

An editor here has no kernel (ipywidgets gives it a dummy comm); ``Canvas`` records what
the editor sends and plays the front end's part (``canvas.send({...})``). Fixtures close
every editor and fail a test that leaves a task running.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from _widgetnodes import (
    COUNT,
    FAIL_ON,
    AddOne,
    Boom,
    Numbers,
    Record,
    Unopenable,
)

from dataflow_jupyter import Graph, GraphEditor, NodeRegistry
from dataflow_jupyter.testing import INLINE, spec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


@pytest.fixture
def registry() -> NodeRegistry:
    reg = NodeRegistry()
    reg.register(spec("numbers", [], ["out"], settings=COUNT), Numbers)
    reg.register(spec("add-one", ["in"], ["out"], **INLINE), AddOne)
    reg.register(spec("add-one", ["in"], ["out"], version="2.0.0", **INLINE), AddOne)
    reg.register(spec("record", ["in"], ["out"], **INLINE), Record)
    boom_out = ["out", {"name": "error", "type": "error_packet"}]
    reg.register(spec("boom", ["in"], boom_out, settings=FAIL_ON, **INLINE), Boom)
    reg.register(spec("unopenable", ["in"], ["out"], **INLINE), Unopenable)
    return reg


@pytest.fixture
def chain(registry: NodeRegistry) -> Graph:
    """numbers (src) -> add-one (inc) -> debug-log (sink)."""
    graph = Graph("chain", registry=registry)
    graph.add_node("numbers", id="src", settings={"count": 3})
    graph.add_node("add-one", "1.0.0", id="inc")
    graph.add_node("debug-log", id="sink")
    graph.connect("src.out", "inc.in", id="e1")
    graph.connect("inc.out", "sink.in", id="e2")
    return graph


@dataclass
class Canvas:
    """An editor and the messages it sent, as the front end would see them."""

    editor: GraphEditor
    sent: list[tuple[dict[str, Any], list[bytes] | None]] = field(default_factory=list)

    def record(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        self.sent.append((content, buffers))

    def send(self, content: Any) -> None:
        """A message from the front end, through the widget's comm handler."""
        self.editor._handle_custom_msg(content, [])

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [content for content, _ in self.sent if content.get("type") == kind]

    def last(self, kind: str) -> tuple[dict[str, Any], list[bytes] | None]:
        found = [(c, b) for c, b in self.sent if c.get("type") == kind]
        assert found, f"no {kind!r} message; sent: {[c.get('type') for c, _ in self.sent]}"
        return found[-1]

    async def until(self, kind: str, check: Any, timeout: float = 5.0) -> dict[str, Any]:
        """Wait (on the loop) for a ``kind`` message for which ``check(message)`` holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [c for c, _ in self.sent if c.get("type") == kind and check(c)]
            if found:
                return found[-1]
            if asyncio.get_running_loop().time() > deadline:
                kinds = [c.get("type") for c, _ in self.sent]
                pytest.fail(f"no {kind!r} message as expected within {timeout} s; sent: {kinds}")
            await asyncio.sleep(0.01)

    def debug_positions(self) -> list[str | None]:
        """``debugAt`` of each node-status message, repeats folded."""
        seen: list[str | None] = []
        for message in self.of_type("node-status"):
            if not seen or seen[-1] != message["debugAt"]:
                seen.append(message["debugAt"])
        return seen


def _canvas(editors: list[GraphEditor], *args: Any, **kwargs: Any) -> Canvas:
    editor = GraphEditor(*args, **kwargs)
    canvas = Canvas(editor)
    editor.send = canvas.record
    editors.append(editor)
    return canvas


@pytest.fixture
def make_canvas() -> Iterator[Any]:
    """For synchronous tests: ``make_canvas(graph, registry=...)``; closed at the end."""
    editors: list[GraphEditor] = []
    yield lambda *args, **kwargs: _canvas(editors, *args, **kwargs)
    for editor in editors:
        editor.close()


@pytest.fixture
async def amake_canvas() -> AsyncIterator[Any]:
    """For async tests: as ``make_canvas``; waits for the editors' tasks, then checks none leak."""
    editors: list[GraphEditor] = []
    yield lambda *args, **kwargs: _canvas(editors, *args, **kwargs)
    for editor in editors:
        await editor.wait()
        editor.close()
        await editor.wait()
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert leaked == [], f"tasks left running: {leaked}"
