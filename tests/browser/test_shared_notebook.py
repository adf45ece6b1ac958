"""Issue 11, point 7: a shared notebook shows each graph once, without its kernel.

Reopened without the kernel that made its widgets (JupyterLab, Notebook 7), and rendered by
``jupyter nbconvert --to html`` then opened in Chromium: each graph shows once; no "Error
displaying widget: model not found", no object repr. In JupyterLab and Notebook 7 the
dataflow-jupyter extension draws each snapshot as a read-only canvas (issue 13); nbconvert's
HTML shows the picture.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from conftest import open_notebook, run_cell, screenshot
from test_canvas_usable import UNPLACED, shot

pytestmark = pytest.mark.browser

# -- 7: a shared notebook shows each graph once, without a kernel ----------------------------------

SECOND = """
from dataflow_jupyter import Graph, GraphEditor
other = Graph("other")
other.add_node("inject", id="tick", settings={"value": {"city": "Lyon"}, "count": 5})
other.add_node("filter", id="keep", settings={"expression": "value['city'] == 'Lyon'"})
other.connect("tick.out", "keep.in")
GraphEditor(other)
"""

SHOWN = """() => {
  const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
    && getComputedStyle(el).visibility !== 'hidden';
  const text = document.body.innerText;
  return {
    pictures: [...document.querySelectorAll('.dfj-snapshot img')].filter(visible)
      .map(img => img.alt),
    loaded: [...document.querySelectorAll('.dfj-snapshot img')].filter(visible)
      .every(img => img.complete && img.naturalWidth > 0),
    canvases: document.querySelectorAll('.dfj-canvas').length,
    error: text.includes('Error displaying widget'),
    repr: /GraphEditor object at 0x/.test(text) || /<dataflow_jupyter/.test(text),
  };
}"""


def test_a_shared_notebook_shows_each_graph_once_without_its_kernel(frontend, page):
    """Live: each graph once (the canvas). Reopened without the kernel that made the widgets
    (JupyterLab, Notebook 7): each graph once (a read-only canvas), no error text, no repr."""
    name = f"shared-{frontend.app}.ipynb"
    url = frontend.notebook(name, [UNPLACED, SECOND])
    open_notebook(page, url)
    run_cell(page, 0, timeout=150)
    run_cell(page, 1)
    page.wait_for_function("document.querySelectorAll('.dfj-canvas').length === 2")
    page.wait_for_timeout(1500)  # the first render's layout, written back to Python
    live = page.evaluate(SHOWN)
    assert (live["pictures"], live["canvases"], live["error"]) == ([], 2, False)
    page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while ">keep<" not in (saved := (frontend.root / name).read_text()):
        if time.monotonic() > deadline:
            pytest.fail(f"the saved notebook has no picture of the second graph: {saved[:300]}")
        page.wait_for_timeout(250)

    frontend.shut_down_kernels()
    open_notebook(page, url)  # a new kernel: the widgets' models died with the old one
    page.wait_for_function("document.querySelectorAll('.dfj-snapshot .dfj-canvas').length === 2")
    page.wait_for_timeout(2000)  # ipywidgets gives up on the models it cannot find
    shown = page.evaluate(SHOWN)
    assert shown == {"pictures": [], "loaded": True, "canvases": 2, "error": False, "repr": False}
    snapshots = page.locator(".dfj-snapshot .dfj-canvas")
    assert snapshots.locator("[data-testid=canvas-mode]").count() == 2  # read-only views
    assert snapshots.locator("[data-testid=run]").count() == 0
    snapshots.nth(1).locator(".dfj-node[data-node-id=keep]").wait_for()
    shot(page, frontend, "shared-reopened")


def test_nbconvert_html_shows_each_graph_once(lab, page, tmp_path):
    """``jupyter nbconvert --to html`` of an executed notebook, opened in Chromium."""
    book = nbformat.v4.new_notebook()
    book.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    book.cells = [nbformat.v4.new_code_cell(UNPLACED), nbformat.v4.new_code_cell(SECOND)]
    source = tmp_path / "shared.ipynb"
    nbformat.write(book, source)
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    subprocess.run(
        [jupyter, "nbconvert", "--to", "html", "--execute", str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    html = (tmp_path / "shared.html").read_text()
    assert "GraphEditor object at" not in html
    page.goto((tmp_path / "shared.html").as_uri(), wait_until="domcontentloaded")
    page.wait_for_function("document.querySelectorAll('.dfj-snapshot img').length === 2")
    page.wait_for_timeout(500)
    shown = page.evaluate(SHOWN)
    assert shown == {
        "pictures": ["graph unplaced: 6 nodes, 5 edges", "graph other: 2 nodes, 1 edge"],
        "loaded": True,
        "canvases": 0,
        "error": False,
        "repr": False,
    }
    # the widget view's own output (an empty text/plain) is hidden, not an empty line
    hidden = page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea-child')]"
        ".filter(c => getComputedStyle(c).display === 'none').length"
    )
    assert hidden == 2
    page.set_viewport_size({"width": 1200, "height": 1400})
    screenshot(page, "i11-nbconvert-html")
