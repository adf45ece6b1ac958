"""What the front end may not do: breakpoints on nodes that do not exist, kernel-owned traits.

The browser side of a widget is not trusted more than a graph file: a flood of
``set-breakpoint`` messages for made-up nodes must not grow the status every update carries,
and the ``status`` and ``catalog`` traits are the kernel's to write.
"""

from __future__ import annotations

from typing import Any

import pytest

from dataflow_jupyter import Graph, NodeRegistry


async def test_breakpoints_on_unknown_nodes_are_refused_and_the_list_stays_bounded(
    amake_canvas: Any, chain: Graph, registry: NodeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    canvas = amake_canvas(chain, registry=registry)
    for index in range(10_000):
        canvas.send({"type": "set-breakpoint", "node": f"ghost{index}", "enabled": True})
    canvas.send({"type": "set-breakpoint", "node": "inc", "enabled": True})
    await canvas.until("node-status", lambda m: m["breakpoints"] == {"inc": None})
    await canvas.editor.wait()  # the status trait is current
    assert canvas.editor.status["breakpoints"] == {"inc": None}
    assert canvas.editor._control.board.breakpoints == {"inc": None}
    assert "ignored the canvas's set-breakpoint: no node 'ghost0' in the canvas's graph" in (
        caplog.text
    )


def test_the_python_api_names_the_missing_node_and_stale_breakpoints_go(
    make_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    editor = make_canvas(chain, registry=registry).editor
    with pytest.raises(ValueError, match=r"no node 'nope' in the canvas's graph .* inc, sink, src"):
        editor.set_breakpoint("nope")
    editor.set_breakpoint("inc")
    editor.set_breakpoint("sink")
    editor.remove_node("inc")
    editor.set_breakpoint("src")  # a breakpoint on a node since removed is dropped
    assert editor._control.board.breakpoints == {"sink": None, "src": None}


def test_the_front_end_cannot_write_status_or_catalog(
    make_canvas: Any, chain: Graph, registry: NodeRegistry
) -> None:
    editor = make_canvas(chain, registry=registry).editor
    status, catalog = editor.status, editor.catalog
    resent: list[Any] = []
    editor.send_state = resent.append  # type: ignore[method-assign]
    forged = {"run": "done", "nodes": {}, "breakpoints": ["x"] * 1000}
    editor.set_state({"status": forged, "catalog": {"nodes": []}})
    assert editor.status == status
    assert editor.catalog == catalog
    assert resent == [["catalog", "status"]]  # the kernel's values go back to the front end
    document = chain.to_dict()
    document["id"] = "renamed"
    editor.set_state({"graph": document, "status": forged})
    assert editor.graph["id"] == "renamed"  # the graph is the front end's to write
    assert editor.status == status
