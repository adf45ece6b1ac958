"""Issue 13: the prebuilt JupyterLab extension, in a real JupyterLab in Chromium.

- a graph output (``application/vnd.dataflow.graph+json``) renders as a read-only canvas in
  a notebook whose kernel was shut down and whose page was reloaded;
- a ``.dfgraph.json`` file opens from the file browser in the canvas editor; saved untouched
  it keeps its bytes, edited and saved it is what ``Graph.save`` writes, reopened and saved
  again it keeps those bytes;
- the launcher creates an empty graph file that ``Graph.load`` reads;
- "Open in notebook" makes a notebook whose first cell opens the file in a GraphEditor.
Screenshots go to ``tests/artifacts/browser/``.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from conftest import _SETTINGS, LabServer, open_notebook, run_cell, screenshot

from dataflow_jupyter import Graph

pytestmark = pytest.mark.browser

DIRTY = "() => document.querySelector('.lm-TabBar-tab.jp-mod-dirty') !== null"
GRAPH_CELL = """
from dataflow_jupyter import Graph
g = Graph("prices")
g.add_node("inject", id="tick", settings={"value": {"price": 7}, "count": 3})
g.add_node("filter", id="cheap", settings={"expression": "value['price'] < 10"})
g.add_node("debug-log", id="show")
g.connect("tick.out", "cheap.in")
g.connect("cheap.out", "show.in")
g
"""


def _wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.25)


def _graph_file(lab, name: str) -> bytes:
    graph = Graph("prices")
    graph.add_node("inject", id="tick", settings={"value": {"price": 7}}, position=(0, 0))
    graph.add_node("filter", id="cheap", settings={"expression": "value['price'] < 10"},
                   position=(320, 0))  # fmt: skip
    graph.connect("tick.out", "cheap.in")
    graph.save(lab.root / name)
    return (lab.root / name).read_bytes()


@pytest.fixture(scope="module")
def lab_without_kernels(tmp_path_factory):
    """A JupyterLab whose server offers no kernel (no kernelspec is allowed)."""
    base = tmp_path_factory.mktemp("nokernel")
    root, settings, workspaces = base / "root", base / "settings", base / "workspaces"
    for folder in (root, settings, workspaces):
        folder.mkdir()
    for name, values in _SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    server = LabServer(root, settings, workspaces)
    server.command.append("--KernelSpecManager.allowed_kernelspecs=no-such-kernel")
    server.start()
    yield server
    server.stop()


def test_a_graph_output_is_a_live_canvas_without_a_kernel(lab, lab_without_kernels, page):
    url = lab.notebook("mime.ipynb", [GRAPH_CELL])
    open_notebook(page, url)
    run_cell(page, 0, timeout=150)
    page.wait_for_selector(".dfj-lab-output .dfj-canvas .dfj-node")
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    _wait_for(lambda: "vnd.dataflow.graph+json" in (lab.root / "mime.ipynb").read_text(),
              "the notebook saved with its output")  # fmt: skip

    lab.shut_down_kernels()
    # Reopened where no kernel can start: a JupyterLab whose server offers no kernel at all.
    shutil.copy(lab.root / "mime.ipynb", lab_without_kernels.root / "mime.ipynb")
    page.goto(f"{lab_without_kernels.url}/lab/tree/mime.ipynb?token={lab_without_kernels.token}")
    canvas = page.locator(".dfj-lab-output .dfj-canvas")
    canvas.locator(".dfj-node").nth(2).wait_for()  # laid out (ELK from the extension's files)
    page.locator(".jp-Dialog button", has_text="No Kernel").click()  # none to select anyway
    assert lab_without_kernels._api("GET", "/api/kernels") == []
    names = canvas.locator(".dfj-node-name")
    # React Flow shows a node (its text) once it has measured it: wait for all three
    _wait_for(lambda: len([n for n in names.all_inner_texts() if n]) == 3, "three node names")
    assert sorted(names.all_inner_texts()) == ["Debug Log", "Filter", "Inject"]  # readable
    assert canvas.locator(".react-flow__minimap").count() == 1
    assert canvas.locator("[data-testid=palette]").count() == 0  # read-only: no palette,
    assert canvas.locator("[data-testid=run]").count() == 0  # no run controls

    before = canvas.locator(".react-flow__viewport").evaluate("el => el.style.cssText")
    canvas.locator(".react-flow__controls-zoomin").click()  # zoom
    viewport = "document.querySelector('.dfj-lab-output .react-flow__viewport')"
    moved = f"b => {viewport}.style.cssText !== b"
    page.wait_for_function(moved, arg=before)
    canvas.locator("[data-testid=fit]").click()

    canvas.locator(".dfj-node[data-node-id=cheap]").click()
    details = canvas.locator("[data-testid=node-details]")
    details.wait_for()
    assert details.locator("[data-testid=details-type]").inner_text() == "filter"
    assert details.locator("[data-testid=details-version]").inner_text() == "1.0.0"
    expression = details.locator("[data-testid=details-setting-expression]").inner_text()
    assert expression == "value['price'] < 10"
    assert lab_without_kernels._api("GET", "/api/kernels") == []  # all of it without a kernel
    page.locator(".jp-Notebook .jp-Cell").first.scroll_into_view_if_needed()
    screenshot(page, "i13-mime-output-without-kernel")


def test_a_graph_file_opens_in_the_canvas_and_saves_as_graph_save_does(lab, page):
    original = _graph_file(lab, "edit.dfgraph.json")
    page.goto(f"{lab.url}/lab/workspaces/edit?token={lab.token}")
    page.locator(".jp-DirListing-item", has_text="edit.dfgraph.json").dblclick()  # file browser
    doc = page.locator(".dfj-lab-document .dfj-canvas")
    doc.locator(".dfj-node").nth(1).wait_for()
    doc.locator("[data-testid=palette-item-debug-log]").wait_for()  # the server's catalog

    page.locator(".dfj-lab-document").click(position={"x": 600, "y": 500})
    page.keyboard.press("Control+s")  # nothing changed: the same bytes
    page.wait_for_timeout(1500)
    assert (lab.root / "edit.dfgraph.json").read_bytes() == original

    doc.locator("[data-testid=palette-item-debug-log]").click()
    doc.locator(".dfj-node").nth(2).wait_for()
    page.wait_for_function(DIRTY)  # the tab's dirty marker
    assert (lab.root / "edit.dfgraph.json").read_bytes() == original  # written only on save
    page.keyboard.press("Control+s")
    path = lab.root / "edit.dfgraph.json"
    _wait_for(lambda: path.read_bytes() != original, "the edited file saved")
    page.wait_for_function(f"!({DIRTY})()")
    edited = path.read_bytes()
    graph = Graph.load(path)
    assert [node.type_id for node in graph.nodes] == ["inject", "filter", "debug-log"]
    assert edited.decode("utf-8") == graph.to_json()  # Graph.save's format, byte for byte
    screenshot(page, "i13-document-editor")

    page.reload()  # reopen, save again without a change: the same bytes
    doc.locator(".dfj-node").nth(2).wait_for()
    page.locator(".dfj-lab-document").click(position={"x": 600, "y": 500})
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)
    assert path.read_bytes() == edited


def test_the_launcher_creates_an_empty_graph_file(lab, page):
    before = set(lab.root.glob("*.dfgraph.json"))
    page.goto(f"{lab.url}/lab/workspaces/launcher?token={lab.token}")
    card = page.locator(".jp-LauncherCard", has_text="Dataflow Graph")
    card.first.click()
    page.locator(".dfj-lab-document .dfj-canvas").wait_for()
    _wait_for(lambda: set(lab.root.glob("*.dfgraph.json")) - before, "a new graph file")
    (created,) = set(lab.root.glob("*.dfgraph.json")) - before
    graph = Graph.load(created)
    assert (graph.nodes, graph.edges) == ((), ())
    assert created.read_text(encoding="utf-8") == graph.to_json()
    screenshot(page, "i13-launcher-new-graph")


def test_open_in_notebook_makes_a_notebook_that_runs(lab, page):
    _graph_file(lab, "tonb.dfgraph.json")
    page.goto(f"{lab.url}/lab/workspaces/tonb/tree/tonb.dfgraph.json?token={lab.token}")
    page.locator(".dfj-lab-document .dfj-node").nth(1).wait_for()
    page.locator(".jp-Toolbar-item", has_text="Open in notebook").click()
    _wait_for((lab.root / "tonb.ipynb").exists, "the notebook")
    open_notebook(page, lab.url_of("tonb.ipynb"))
    run_cell(page, 0, timeout=150)
    notebook_canvas = page.locator(".jp-Notebook .dfj-canvas")
    notebook_canvas.locator(".dfj-node").nth(1).wait_for()
    notebook_canvas.locator("[data-testid=run]").click()  # the graph runs in the kernel
    notebook_canvas.locator("[data-testid=run-state][data-run=done]").wait_for(timeout=60_000)
    screenshot(page, "i13-open-in-notebook")


def test_a_file_changed_on_disk_is_offered_for_revert_and_reloads_in_the_canvas(lab, page):
    _graph_file(lab, "disk.dfgraph.json")
    page.goto(f"{lab.url}/lab/workspaces/disk/tree/disk.dfgraph.json?token={lab.token}")
    doc = page.locator(".dfj-lab-document .dfj-canvas")
    doc.locator("[data-testid=palette-item-debug-log]").wait_for()
    assert doc.locator(".dfj-node").count() == 2

    time.sleep(1.1)  # a later modification time than the one the tab read
    elsewhere = Graph.load(lab.root / "disk.dfgraph.json")
    elsewhere.add_node("mapper", id="twice", settings={"expression": "value * 2"})
    elsewhere.add_node("debug-log", id="log")
    elsewhere.save(lab.root / "disk.dfgraph.json")

    doc.locator("[data-testid=palette-item-inject]").click()  # an edit, then Ctrl+S
    page.wait_for_function(DIRTY)
    page.keyboard.press("Control+s")
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for()
    screenshot(page, "i13-file-changed-on-disk")
    dialog.locator("button", has_text="Revert").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.dfj-lab-document .dfj-node').length === 4"
    )
    assert (lab.root / "disk.dfgraph.json").read_text(encoding="utf-8") == elsewhere.to_json()
