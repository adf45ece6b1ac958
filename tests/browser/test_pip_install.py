"""The README's ``pip install`` recipe, followed as a user of an existing JupyterLab would.

From a copy of this checkout without the built front end, ``uv build --wheel`` builds the
wheel (hatch-jupyter-builder runs ``npm install`` and esbuild); a fresh virtual environment
gets the wheel and ``jupyterlab`` from the package index (``uv pip install``, through uv's
cache); that environment's own ``jupyter lab`` serves a notebook that makes a
``GraphEditor``, and Chromium must draw its nodes. Nothing of the development environment is
used but Playwright, which drives the browser from outside.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import _SETTINGS, LabServer, open_notebook, run_cell, screenshot

from dataflow_jupyter import __version__

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
# What a clean clone does not have: built assets, environments, caches.
_NOT_SOURCES = {
    ".git", ".venv", ".tools", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
    ".pytest_cache", ".hypothesis", "artifacts", "dist", "build", ".dataflow-state",
}  # fmt: skip
_BUILT = {REPO / "dataflow_jupyter" / "static", REPO / "dataflow_jupyter" / "labextension"}

NOTEBOOK = [
    "import sys, dataflow_jupyter\nprint('installed in', dataflow_jupyter.__file__)",
    """
from dataflow_jupyter import Graph, GraphEditor
graph = Graph("installed")
graph.add_node("inject", id="src", settings={"value": 21}, position=(0, 0))
graph.add_node("mapper", id="double", settings={"expression": "value * 2"}, position=(260, 0))
graph.connect("src.out", "double.in")
editor = GraphEditor(graph)
editor
""",
    """
editor.run()
await editor.wait()
print("result:", editor.inspect("double.out")["value"].tolist())
""",
]


def uv() -> str:
    """The uv ``make`` uses (``$UV``), else one on the PATH or in ``.tools/``."""
    found = (
        os.environ.get("UV")
        or shutil.which("uv")
        or shutil.which("uv", path=str(REPO / ".tools" / "bin"))
    )
    if not found or not Path(found).is_file():
        pytest.fail(f"uv is not installed ({found or 'not on the PATH'}): run `make setup`")
    return found


def run(command: list[str], cwd: Path, timeout: float) -> None:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}")


def copy_sources(target: Path) -> None:
    """This checkout as a clean clone has it, plus ``labextension/node_modules`` (npm's cache)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in _NOT_SOURCES or Path(folder, n) in _BUILT}

    shutil.copytree(REPO, target, ignore=ignore)
    modules = REPO / "labextension" / "node_modules"
    if modules.is_dir():  # `make test` has run `npm ci`; without it npm downloads them
        shutil.copytree(modules, target / "labextension" / "node_modules", symlinks=True)


@pytest.fixture(scope="module")
def installed_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab from a fresh environment that holds the built wheel and ``jupyterlab``."""
    base = tmp_path_factory.mktemp("pip-install")
    started = time.monotonic()
    copy_sources(base / "src")
    assert not (base / "src" / "dataflow_jupyter" / "static").exists()
    run([uv(), "build", "--wheel", "--out-dir", str(base / "dist"), str(base / "src")], base, 600)
    [wheel] = (base / "dist").glob("dataflow_jupyter-*.whl")
    with zipfile.ZipFile(wheel) as archive:  # the build bundled the canvas and the nodes
        names = set(archive.namelist())
    assert {"dataflow_jupyter/static/canvas.js", "dataflow_jupyter/static/canvas.css"} <= names
    assert "dataflow_jupyter/nodes/Input/Inject/schema.json" in names
    built = time.monotonic()
    venv = base / "venv"
    run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], base, 120)
    python = venv / "bin" / "python"
    run([uv(), "pip", "install", "--quiet", "--python", str(python), str(wheel), "jupyterlab"],
        base, 600)  # fmt: skip
    installed = time.monotonic()
    version = subprocess.run(
        [str(venv / "bin" / "dataflow"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert version.stdout.strip() == f"dataflow-jupyter {__version__}"  # the console script
    print(
        f"pip-install recipe: wheel built in {built - started:.0f} s, "
        f"environment made in {installed - built:.0f} s"
    )
    root, settings, workspaces = base / "root", base / "settings", base / "workspaces"
    for folder in (root, settings, workspaces):
        folder.mkdir()
    for name, values in _SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    with pytest.MonkeyPatch.context() as env:
        # Only the new environment's Jupyter: no user-level kernels, extensions or settings.
        env.setenv("JUPYTER_CONFIG_DIR", str(base / "jupyter-config"))
        env.setenv("JUPYTER_DATA_DIR", str(base / "jupyter-data"))
        env.setenv("JUPYTER_PLATFORM_DIRS", "1")
        for name in ("PYTHONPATH", "JUPYTER_PATH", "VIRTUAL_ENV"):
            env.delenv(name, raising=False)
        env.setenv("PATH", f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}")
        server = LabServer(root, settings, workspaces)
        server.command[0] = str(venv / "bin" / "jupyter")
        server.start(timeout=120)
        try:
            yield server
        finally:
            server.stop()


def test_the_wheel_in_a_fresh_jupyterlab_draws_the_canvas(
    installed_lab: LabServer, browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        open_notebook(page, installed_lab.notebook("installed.ipynb", NOTEBOOK))
        run_cell(page, 0)
        where = page.locator(".jp-Notebook .jp-CodeCell").nth(0).locator(".jp-OutputArea")
        venv = str(installed_lab.root.parent / "venv")
        assert f"installed in {venv}" in where.inner_text()  # not this checkout
        run_cell(page, 1)
        for node_id in ("src", "double"):
            node = page.locator(f'.react-flow__node[data-id="{node_id}"]')
            node.wait_for(state="visible", timeout=60_000)
        assert page.locator(".react-flow__edge").count() == 1
        assert "Inject" in page.locator('.react-flow__node[data-id="src"]').inner_text()
        run_cell(page, 2)  # the installed runtime runs the graph
        result = page.locator(".jp-Notebook .jp-CodeCell").nth(2).locator(".jp-OutputArea")
        assert "result: [42]" in result.inner_text()
        screenshot(page, "pip-install-canvas")
    finally:
        context.close()


def test_the_wheel_installs_the_jupyterlab_and_server_extensions(
    installed_lab: LabServer, browser: Browser
) -> None:
    """Issue 13: the wheel alone makes JupyterLab list its extension as enabled and OK, load
    its server extension, and open a ``.dfgraph.json`` file in the canvas."""
    venv = installed_lab.root.parent / "venv"
    share = venv / "share" / "jupyter" / "labextensions" / "dataflow-jupyter"
    assert (share / "package.json").is_file()
    assert json.loads((share / "install.json").read_text())["packageName"] == "dataflow-jupyter"
    config = venv / "etc" / "jupyter" / "jupyter_server_config.d" / "dataflow_jupyter.json"
    assert json.loads(config.read_text())["ServerApp"]["jpserver_extensions"] == {
        "dataflow_jupyter.server": True
    }
    env = {**os.environ, "NO_COLOR": "1"}
    listed = subprocess.run(
        [str(venv / "bin" / "jupyter"), "labextension", "list"],
        capture_output=True, text=True, timeout=120, check=True, env=env,
    )  # fmt: skip
    line = next(x for x in (listed.stdout + listed.stderr).splitlines() if "dataflow-jupyter" in x)
    plain = line.replace("\x1b[32m", "").replace("\x1b[0m", "")
    assert f"dataflow-jupyter v{__version__} enabled OK" in plain, plain

    graph = "\n".join(
        [
            "from dataflow_jupyter import Graph",
            "g = Graph('installed')",
            "g.add_node('inject', id='src', settings={'value': 21})",
            f"g.save({str(installed_lab.root / 'installed.dfgraph.json')!r})",
        ]
    )
    subprocess.run([str(venv / "bin" / "python"), "-c", graph], check=True, timeout=120)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(
            f"{installed_lab.url}/lab/tree/installed.dfgraph.json?token={installed_lab.token}"
        )
        document = page.locator(".dfj-lab-document .dfj-canvas")
        document.locator(".dfj-node[data-node-id=src]").wait_for()
        document.locator("[data-testid=palette-item-mapper]").wait_for()  # the server's catalog
        screenshot(page, "pip-install-document-editor")
    finally:
        context.close()
