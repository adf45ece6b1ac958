"""Settings are checked when they are set, on the canvas: a setting the node refuses (an
expression calling a function filter-rows does not have) is shown in the settings form and
on the node, and "Applied." appears only once the kernel accepts the settings. Both front
ends (JupyterLab, Notebook 7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conftest import open_notebook, run_cell, screenshot
from test_canvas import canvas, node

if TYPE_CHECKING:
    from conftest import LabServer
    from playwright.sync_api import Page

ROWS = """
from dataflow_jupyter import Graph, GraphEditor
graph = Graph("rows")
graph.add_node("inject", id="src", settings={"value": [{"x": 1}, {"x": 5}]}, position=(0, 0))
graph.add_node("filter-rows", id="rows", settings={"expression": "x > 1"}, position=(320, 0))
graph.connect("src.out", "rows.in")
editor = GraphEditor(graph)
editor
"""


def apply_expression(page: Page, text: str) -> None:
    field = page.locator('[data-testid="setting-expression"]')
    field.fill(text)
    page.locator('[data-testid="settings-apply"]').click()


def test_a_refused_setting_is_shown_and_not_called_applied(frontend: LabServer, page: Page) -> None:
    open_notebook(page, frontend.notebook("settings.ipynb", [ROWS]))
    run_cell(page, 0)
    canvas(page)
    node(page, "rows").locator(".dfj-node-header").first.click()

    apply_expression(page, "is_nul(x)")
    problem = page.locator('[data-testid="settings-problem"]')
    problem.wait_for(timeout=15_000)
    assert "is_nul" in problem.inner_text()
    assert page.locator('[data-testid="settings-applied"]').count() == 0
    marked = node(page, "rows").locator('[data-testid="node-problem"]')
    marked.wait_for()
    assert "is_nul" in (marked.get_attribute("title") or "")
    assert node(page, "src").locator('[data-testid="node-problem"]').count() == 0
    screenshot(page, f"settings-refused-{frontend.app}")

    apply_expression(page, "x > 3")
    page.locator('[data-testid="settings-applied"]').wait_for(timeout=15_000)
    assert page.locator('[data-testid="settings-problem"]').count() == 0
    assert node(page, "rows").locator('[data-testid="node-problem"]').count() == 0
    screenshot(page, f"settings-accepted-{frontend.app}")
