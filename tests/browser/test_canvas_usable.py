"""Issue 11, the canvas as people use it, in JupyterLab and in Notebook 7 (``frontend``).

Each scenario works a real canvas in Chromium and saves a screenshot per state in
``tests/artifacts/browser/`` (``i11-<state>-<front end>.png``). Geometry is read from the
DOM: node boxes (no two overlap), computed font sizes times the viewport's zoom (every text
on nodes and edge labels renders at 11 px or more), edge labels (never clipped, never under
a node).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import pytest
from conftest import ARTIFACTS, open_notebook, output_when, run_cell, screenshot
from test_canvas import canvas, node, wait_for_debug_at, wait_for_run, wait_for_status

if TYPE_CHECKING:
    from conftest import LabServer
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

MIN_PX = 11.0

# A graph made in Python without positions: every node at (0, 0).
UNPLACED = """
from dataflow_jupyter import Graph, GraphEditor
graph = Graph("unplaced")
graph.add_node("inject", id="src", settings={"value": 20, "count": 3})
graph.add_node("mapper", id="add", settings={"expression": "value + 1"})
graph.add_node("filter", id="big", settings={"expression": "value > 10"})
graph.add_node("mapper", id="double", settings={"expression": "value * 2"})
graph.add_node("debug-log", id="sink")
graph.add_node("debug-log", id="side")
graph.connect("src.out", "add.in")
graph.connect("add.out", "big.in")
graph.connect("big.out", "double.in")
graph.connect("double.out", "sink.in")
graph.connect("add.out", "side.in")
editor = GraphEditor(graph)
writes = []
editor.observe(lambda change: writes.append(change), names="graph")
editor
"""

OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll('.dfj-canvas .react-flow__node')].map(e => {
    const r = e.getBoundingClientRect();
    return {id: e.dataset.id, l: r.left, t: r.top, r: r.right, b: r.bottom};
  });
  const pairs = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.l < b.r - 0.5 && b.l < a.r - 0.5 && a.t < b.b - 0.5 && b.t < a.b - 0.5)
      pairs.push([a.id, b.id]);
  }
  return {count: boxes.length, pairs};
}"""

FONTS = """() => {
  const flow = document.querySelector('.dfj-canvas .react-flow');
  const fr = flow.getBoundingClientRect();
  const vp = flow.querySelector('.react-flow__viewport');
  const zoom = new DOMMatrix(getComputedStyle(vp).transform).a;
  const small = [];
  let checked = 0;
  for (const el of flow.querySelectorAll('.react-flow__node *, .dfj-edge-label')) {
    const text = [...el.childNodes].filter(n => n.nodeType === 3)
      .map(n => n.textContent.trim()).join('');
    if (!text) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right < fr.left || r.left > fr.right
        || r.bottom < fr.top || r.top > fr.bottom) continue;
    const px = parseFloat(getComputedStyle(el).fontSize) * zoom;
    checked++;
    if (px < 11) small.push(`${el.className} "${text}" ${px.toFixed(2)}px`);
  }
  return {zoom, checked, small};
}"""

LABELS = """() => [...document.querySelectorAll('.dfj-canvas .dfj-edge-label')].map(el => {
  const r = el.getBoundingClientRect();
  const f = el.closest('.react-flow').getBoundingClientRect();
  const shown = r.left >= f.left && r.right <= f.right && r.top >= f.top && r.bottom <= f.bottom
    && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
  const inside = ([x, y]) => el.contains(document.elementFromPoint(x, y));
  const y = r.top + r.height / 2, inset = r.height / 2;  // inside the rounded ends
  const points = [[r.left + inset, y], [r.left + r.width / 2, y], [r.right - inset, y]];
  return {id: el.dataset.edgeId, text: el.textContent, shown,
          clipped: el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight,
          covered: shown && !points.every(inside)};
})"""


def no_overlaps(page: Page, timeout: float = 30.0) -> int:
    """Wait until no two node boxes overlap; return how many nodes are drawn."""
    deadline = time.monotonic() + timeout
    while True:
        seen: dict[str, Any] = page.evaluate(OVERLAPS)
        if not seen["pairs"]:
            return int(seen["count"])
        if time.monotonic() > deadline:
            pytest.fail(f"nodes overlap: {seen['pairs'][:10]}")
        page.wait_for_timeout(200)


def readable(page: Page) -> float:
    """Assert every text on the canvas renders at MIN_PX or more; return the zoom."""
    page.wait_for_timeout(400)  # a fit animates for 200 ms
    seen: dict[str, Any] = page.evaluate(FONTS)
    assert seen["checked"] > 5, seen
    assert seen["small"] == [], f"zoom {seen['zoom']:.2f}: {seen['small'][:8]}"
    return float(seen["zoom"])


def labels_whole(page: Page) -> list[dict[str, Any]]:
    """Every edge label in view: its text fits its box and nothing covers it."""
    page.wait_for_timeout(400)  # a fit animates for 200 ms
    labels: list[dict[str, Any]] = [lb for lb in page.evaluate(LABELS) if lb["shown"]]
    assert labels, "no edge label is in view"
    assert [lb for lb in labels if lb["clipped"] or lb["covered"]] == []
    return labels


def shot(page: Page, frontend: LabServer, state: str) -> None:
    screenshot(page, f"i11-{state}-{frontend.app}")


def first_cell(frontend: LabServer, page: Page, name: str, cells: list[str]) -> None:
    open_notebook(page, frontend.notebook(name, cells))
    run_cell(page, 0, timeout=150)  # a fresh server's first kernel is slow to import
    canvas(page).scroll_into_view_if_needed()
    page.locator(".dfj-canvas .react-flow__node").first.wait_for()
    page.wait_for_timeout(800)  # the first render's placement and fit (animated) settle


# -- 1 and 3: laid out on first render, readable, and nothing overlaps ------------------------


def test_first_render_lays_out_a_graph_without_positions(frontend, page):
    cells = [
        UNPLACED,
        "print(len(writes), 'writes;', len({(n['position']['x'], n['position']['y'])"
        " for n in editor.graph['nodes']}), 'places')",
        "for i in range(20):\n    editor.add_node('mapper', id=f'm{i}', position=(0, 0))",
        "print(len({(n['position']['x'], n['position']['y']) for n in editor.graph['nodes']}),"
        " 'places')",
    ]
    first_cell(frontend, page, "unplaced.ipynb", cells)
    node(page, "src").wait_for()
    page.wait_for_timeout(1500)  # the layout engine arrives from the kernel, then ELK runs
    # the first render is readable (a graph wider than the pane shows its start: pan for more)
    assert readable(page) >= 0.9
    no_overlaps(page)
    shot(page, frontend, "first-render")
    # the layout was written back to Python, once
    printed = output_when(page, 1, lambda out: "6 places" in out)
    assert printed.strip() == "1 writes; 6 places"
    zoom_out_to_see_all(page)
    assert no_overlaps(page) == 6

    page.locator('[data-testid="run"]').click()
    wait_for_status(page, "sink", "done")
    page.locator('[data-testid="fit"]').click()
    labels = labels_whole(page)
    assert {lb["text"] for lb in labels} <= {"3 delivered"}
    readable(page)
    shot(page, frontend, "run-labels")

    lay_out_again(page)
    no_overlaps(page)
    readable(page)
    labels_whole(page)
    shot(page, frontend, "auto-layout")

    run_cell(page, 2)  # twenty nodes from Python, all at (0, 0)
    places = output_when(page, 3, lambda out: "26 places" in out, timeout=40)
    assert places.strip() == "26 places"  # moved apart, and written back
    zoom_out_to_see_all(page)
    assert no_overlaps(page) == 26
    shot(page, frontend, "twenty-added")


def lay_out_again(page: Page) -> None:
    """Auto-layout on an already laid-out graph: wait for the button to be free again."""
    page.locator('[data-testid="layout"]').click()
    page.wait_for_function(
        "() => { const b = document.querySelector('[data-testid=\"layout\"]');"
        " return b && !b.disabled && !/laying/i.test(b.textContent); }"
    )
    page.wait_for_timeout(500)


def zoom_out_to_see_all(page: Page) -> None:
    """Zoom out with React Flow's own control until every node is drawn."""
    zoom_out = page.locator(".dfj-canvas .react-flow__controls-zoomout")
    for _ in range(8):
        zoom_out.click()
    page.wait_for_timeout(500)


# -- 2: failures look like failures ---------------------------------------------------------------

FAILING = """
from dataflow_jupyter import Graph, GraphEditor
graph = Graph("failing")
graph.add_node("inject", id="src", settings={"value": [{"a": 1}], "count": 1}, position=(0, 0))
graph.add_node("filter-rows", id="rows", settings={"expression": "is_nul(a) or a > 0"},
               position=(300, 0))
graph.add_node("debug-log", id="sink", position=(600, 0))
graph.connect("src.out", "rows.in")
graph.connect("rows.out", "sink.in")
editor = GraphEditor(graph)
editor
"""

RAISING = """
from dataflow_jupyter import Graph, GraphEditor
graph = Graph("raising")
graph.add_node("inject", id="src", settings={"value": "x", "count": 2}, position=(0, 0))
graph.add_node("mapper", id="bad", settings={"expression": "value + 1"}, position=(300, 0))
graph.add_node("debug-log", id="sink", position=(600, 0))
graph.connect("src.out", "bad.in")
graph.connect("bad.out", "sink.in")
editor = GraphEditor(graph)
editor
"""


def test_failures_show_on_the_pill_and_on_the_node(frontend, page):
    first_cell(frontend, page, "failing.ipynb", [RAISING, FAILING])
    page.locator('[data-testid="run"]').click()
    wait_for_run(page, "failed")
    pill = page.locator('[data-testid="run-state"]')
    assert "errors in 1 node: bad (2 errors)" in pill.inner_text()
    wait_for_status(page, "bad", "error")
    widths = {i: node_width(page, i) for i in ("src", "bad", "sink")}
    assert max(widths.values()) - min(widths.values()) < 1.5, (
        widths
    )  # a failed node keeps its width
    no_overlaps(page)
    readable(page)
    shot(page, frontend, "failed-pill")

    # a run refused for a node's settings: the error is on the node, whole in its title
    run_cell(page, 1)
    second = page.locator(".dfj-canvas").nth(1)
    second.scroll_into_view_if_needed()
    second.locator('[data-testid="run"]').click()
    rows = second.locator('.react-flow__node[data-id="rows"]')
    message = rows.locator('[data-testid="node-error"]')
    message.wait_for()
    title = message.get_attribute("title") or ""
    assert title.startswith("node 'rows' (filter-rows 1.0.0): filter-rows expression")
    assert "calls 'is_nul'" in title
    assert "not run: 1 problem" in second.locator('[data-testid="run-state"]').inner_text()
    boxes = [
        second.locator(f'.react-flow__node[data-id="{i}"]').bounding_box() for i in ("src", "rows")
    ]
    assert boxes[0] is not None
    assert boxes[1] is not None
    assert abs(boxes[0]["width"] - boxes[1]["width"]) < 4  # the failed node keeps its width
    shot(page, frontend, "failed-on-node")


def node_width(page: Page, node_id: str) -> float:
    box = node(page, node_id).bounding_box()
    assert box is not None
    return float(box["width"])


# -- 3: a source says it runs while it emits; labels stay readable while packets flow ----------

TICKER = """
from dataflow_jupyter import Graph, GraphEditor
graph = Graph("ticker")
graph.add_node("inject", id="tick", settings={"value": 1, "count": 0, "intervalMs": 5},
               position=(0, 0))
graph.add_node("debug-log", id="log", position=(330, 0))
graph.connect("tick.out", "log.in", id="wire")
editor = GraphEditor(graph)
editor
"""


def test_a_source_shows_it_runs_with_its_out_count(frontend, page):
    first_cell(frontend, page, "ticker.ipynb", [TICKER])
    page.locator('[data-testid="run"]').click()
    wait_for_status(page, "tick", "running")
    counters = node(page, "tick").locator('[data-testid="node-counters"]')
    page.wait_for_function("el => /^out [1-9]/.test(el.textContent)", arg=counters.element_handle())
    assert "in " not in counters.inner_text()  # a source takes nothing in
    labels_whole(page)
    readable(page)
    shot(page, frontend, "source-running")
    page.locator('[data-testid="stop"]').click()
    wait_for_run(page, "stopped")


# -- 4: the inspector shows the data first ---------------------------------------------------------

PRICES = """
from dataflow_jupyter import Graph, GraphEditor
rows = [{"city": "Lyon", "price": 3685.2272727272725}, {"city": "Nice", "price": 12.5}]
graph = Graph("prices")
graph.add_node("inject", id="src", settings={"value": rows, "count": 1}, position=(0, 0))
graph.add_node("debug-log", id="log", settings={"level": "info"}, position=(330, 0))
graph.add_node("debug-log", id="sink", position=(660, 0))
graph.connect("src.out", "log.in")
graph.connect("log.out", "sink.in", id="wire")
editor = GraphEditor(graph)
editor
"""


def test_the_inspector_shows_the_payload_first_and_formats_numbers(frontend, page):
    page.set_viewport_size({"width": 1800, "height": 1000})  # room for the whole graph
    first_cell(frontend, page, "prices.ipynb", [PRICES])
    page.locator('[data-testid="run"]').click()
    wait_for_status(page, "sink", "done")
    page.locator('.react-flow__edge[data-id="wire"]').click(force=True)
    table = page.locator('[data-testid="inspector-table"]')
    table.wait_for()
    headers = table.locator("thead th").all_inner_texts()
    assert headers == ["city", "price"]  # the metadata waits behind its toggle
    cell = table.locator("tbody tr").first.locator("td").nth(1)
    assert cell.inner_text() == "3685.2273"
    assert cell.get_attribute("title") == "3685.2272727272725"
    page.locator('[data-testid="fit"]').click()  # the inspector took some of the height
    readable(page)
    labels_whole(page)
    shot(page, frontend, "inspector")
    canvas(page).screenshot(path=ARTIFACTS / f"i11-canvas-{frontend.app}.png")  # docs/canvas.png
    page.locator('[data-testid="inspector-meta"]').click()
    headers = table.locator("thead th").all_inner_texts()
    assert headers[:2] == ["city", "price"]
    assert {"packet_id", "trace_id", "timestamp"} <= set(headers)


# -- 5: invalid edges of a loaded document ---------------------------------------------------------

INVALID = """
from dataflow_jupyter import GraphEditor
document = {
    "id": "invalid", "version": "1.0.0",
    "nodes": [
        {"id": "rf", "typeId": "read-file", "version": "1.0.0",
         "settings": {"path": "prices.csv"}, "position": {"x": 0, "y": 0}},
        {"id": "mid", "typeId": "debug-log", "version": "1.0.0", "settings": {},
         "position": {"x": 330, "y": 0}},
        {"id": "sc", "typeId": "select-columns", "version": "1.0.0",
         "settings": {"columns": ["a"]}, "position": {"x": 660, "y": 0}},
    ],
    "edges": [
        {"id": "ok", "source": "rf", "sourcePort": "out", "target": "mid", "targetPort": "in"},
        {"id": "bad", "source": "rf", "sourcePort": "error", "target": "sc", "targetPort": "in"},
        {"id": "gone", "source": "mid", "sourcePort": "nope", "target": "sc",
         "targetPort": "in"},
    ],
}
editor = GraphEditor(document)
editor
"""


def test_invalid_edges_are_drawn_invalid_and_listed(frontend, page):
    first_cell(frontend, page, "invalid.ipynb", [INVALID])
    node(page, "sc").wait_for()
    marks = page.locator('[data-testid="edge-invalid"]')
    page.wait_for_function("document.querySelectorAll('[data-testid=edge-invalid]').length === 2")
    titles = {m.get_attribute("data-edge-id"): m.get_attribute("title") or "" for m in marks.all()}
    assert "an error_packet output cannot feed a table input" in titles["bad"]
    assert "has no output port nope" in titles["gone"]
    for edge_id in ("bad", "gone"):
        path = page.locator(f'.react-flow__edge[data-id="{edge_id}"] path.react-flow__edge-path')
        style = path.evaluate(
            "e => [getComputedStyle(e).strokeDasharray, getComputedStyle(e).stroke]"
        )
        assert style[0] not in ("none", ""), style
    ok = page.locator('.react-flow__edge[data-id="ok"] path.react-flow__edge-path')
    assert ok.evaluate("e => getComputedStyle(e).strokeDasharray") in ("none", "")
    # the edge from a port that does not exist starts at that port, marked missing, on its node
    missing = node(page, "mid").locator('[data-testid="missing-port"]')
    assert missing.inner_text().strip() == "⚠ missing port"
    handle = node(page, "mid").locator('.react-flow__handle.source[data-handleid="nope"]')
    assert handle.count() == 1
    problems = page.locator('[data-testid="problem"]').all_inner_texts()
    assert any(p.startswith("edge bad: ") for p in problems), problems
    assert any(p.startswith("edge gone: ") for p in problems), problems
    shot(page, frontend, "invalid-edges")


# -- 6: breakpoint conditions, on the canvas and honoured by Run -----------------------------------

CHAIN = """
from dataflow_jupyter import Graph, GraphEditor
graph = Graph("chain")
graph.add_node("inject", id="src", settings={"value": 20, "count": 1}, position=(0, 0))
graph.add_node("mapper", id="add", settings={"expression": "value + 1"}, position=(300, 0))
graph.add_node("mapper", id="double", settings={"expression": "value * 2"}, position=(600, 0))
graph.add_node("debug-log", id="sink", position=(900, 0))
graph.connect("src.out", "add.in")
graph.connect("add.out", "double.in")
graph.connect("double.out", "sink.in")
editor = GraphEditor(graph)
editor
"""


def set_condition(page: Page, node_id: str, condition: str) -> None:
    row = node(page, node_id).locator('[data-testid="breakpoint-row"]')
    row.locator('[data-testid="breakpoint-edit"]').click()
    field = row.locator('[data-testid="breakpoint-condition-input"]')
    field.fill(condition)
    field.press("Enter")
    wanted = f"break when {condition}" if condition else "break: always"
    page.wait_for_function(
        '([id, text]) => document.querySelector(`.react-flow__node[data-id="${id}"] '
        "[data-testid=breakpoint-condition]`)?.textContent === text",
        arg=[node_id, wanted],
    )


def test_breakpoint_conditions_show_edit_and_hold_after_stop_then_run(frontend, page):
    cells = [CHAIN, "print(editor.status['breakpoints'])"]
    first_cell(frontend, page, "conditions.ipynb", cells)
    toggle = node(page, "double").locator('[data-testid="node-breakpoint"]')
    toggle.click()
    shown = node(page, "double").locator('[data-testid="breakpoint-condition"]')
    shown.wait_for()
    assert shown.inner_text() == "break: always"
    set_condition(page, "double", "value > 100")
    printed = output_when(page, 1, lambda out: "value > 100" in out)
    assert printed.strip() == "{'double': 'value > 100'}"
    shot(page, frontend, "breakpoint-condition")

    # Step, Stop, then Run: 21 > 100 does not hold, so the run goes to its end
    page.locator('[data-testid="step"]').click()
    wait_for_debug_at(page, "src")
    page.locator('[data-testid="stop"]').click()
    wait_for_run(page, "stopped")
    page.locator('[data-testid="run"]').click()
    wait_for_run(page, "done")
    assert re.search(r"in 1\b", node(page, "sink").inner_text())

    set_condition(page, "double", "value == 21")  # holds: Run stops there
    page.locator('[data-testid="run"]').click()
    wait_for_debug_at(page, "double")
    wait_for_status(page, "double", "breakpoint")
    shot(page, frontend, "breakpoint-hit")
    page.locator('[data-testid="run"]').click()
    wait_for_run(page, "done")

    toggle.click()  # cleared from the canvas
    shown.wait_for(state="detached")
    assert output_when(page, 1, lambda out: out.strip() == "{}").strip() == "{}"
