"""A real ``jupyter lab`` (and ``jupyter notebook``, Notebook 7) server and Debian's Chromium,
driven by Playwright for Python.

The ``frontend`` fixture is parametrised over both front ends, for the scenarios that concern
the canvas itself; ``lab`` is JupyterLab alone. A server runs from this environment (so its
kernel imports this checkout) in a temp folder with its own settings and workspaces, on a
free port with a token. Chromium is
``/usr/bin/chromium`` (``playwright install`` cannot download browsers here). Under
``CI=true`` a missing Chromium fails the tests, naming the Debian package; elsewhere they
skip. Each scenario saves a screenshot in ``tests/artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from _support import free_port

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
MISSING_CHROMIUM = (
    "Chromium is not installed at /usr/bin/chromium: install the Debian package chromium "
    "(apt-get install -y chromium)"
)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
# JupyterLab asks about news and updates in a toast on first start; answer for it.
_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class LabServer:
    """``jupyter lab`` (``app="lab"``) or ``jupyter notebook`` on 127.0.0.1 serving ``root``."""

    def __init__(self, root: Path, settings: Path, workspaces: Path, app: str = "lab") -> None:
        self.app = app
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        jupyter = Path(sys.executable).with_name("jupyter")
        self.command = [
            str(jupyter), app, "--no-browser", "--allow-root",
            f"--ServerApp.port={self.port}", "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
            "--ServerApp.port_retries=0",
        ]  # fmt: skip
        self.env = {
            **os.environ,
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(workspaces),
        }
        self.log = root.parent / f"jupyter-{app}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-3000:]
                pytest.fail(f"jupyter {self.app} did not start on port {self.port}:\n{tail}")
            time.sleep(0.25)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def notebook(self, name: str, cells: list[str]) -> str:
        """Write a notebook of code ``cells`` and return the URL that opens it."""
        book = nbformat.v4.new_notebook()
        book.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        book.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        nbformat.write(book, self.root / name)
        return self.url_of(name)

    def url_of(self, name: str) -> str:
        """The URL that opens the notebook ``name`` in this front end."""
        if self.app == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        workspace = name.removesuffix(".ipynb")  # its own workspace: no tab of an earlier test
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?token={self.token}"

    def kernels_idle(self) -> bool:
        """Whether a kernel runs and every kernel is idle."""
        kernels = self._api("GET", "/api/kernels")
        return bool(kernels) and all(k.get("execution_state") == "idle" for k in kernels)

    def shut_down_kernels(self) -> None:
        """Stop every kernel (each scenario starts its own)."""
        for kernel in self._api("GET", "/api/kernels"):
            self._api("DELETE", f"/api/kernels/{kernel['id']}")

    def _api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
        return json.loads(body) if body else None


def _serve(tmp_path_factory: pytest.TempPathFactory, app: str) -> Iterator[LabServer]:
    _require_chromium()
    base = tmp_path_factory.mktemp(app)
    root, settings, workspaces = base / "root", base / "settings", base / "workspaces"
    for folder in (root, settings, workspaces):
        folder.mkdir()
    for name, values in _SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    server = LabServer(root, settings, workspaces, app)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A running JupyterLab serving a temp folder."""
    yield from _serve(tmp_path_factory, "lab")


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A running Notebook 7 (``jupyter notebook``) serving a temp folder."""
    yield from _serve(tmp_path_factory, "notebook")


@pytest.fixture(params=["lab", "notebook"])
def frontend(request: pytest.FixtureRequest) -> LabServer:
    """JupyterLab, then Notebook 7: the scenarios about the canvas run in both."""
    server: LabServer = request.getfixturevalue("lab" if request.param == "lab" else "notebook7")
    return server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless.

    Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
    is open, which would break every asyncio test that runs after the browser tests.
    """
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; its console errors are attached to a failing test's report."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{request.node.name}-failed.png")
        print("browser console:\n" + "\n".join(messages[-80:]))
    context.close()
    for name in ("lab", "notebook7"):  # the servers this test used: each scenario its own kernel
        if name in request.fixturenames:
            server: LabServer = request.getfixturevalue(name)
            server.shut_down_kernels()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot of the page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path)
    return path


def _require_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(MISSING_CHROMIUM)
        pytest.skip(MISSING_CHROMIUM)


def open_notebook(page: Page, url: str) -> None:
    """Open a notebook and wait until its kernel is idle (accepting a kernel dialog)."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    dialog = page.locator(".jp-Dialog button.jp-mod-accept")
    deadline = time.monotonic() + 90
    while not _kernel_idle(page):
        if dialog.count():
            dialog.first.click()
        if time.monotonic() > deadline:
            pytest.fail("the notebook's kernel did not become idle within 90 s")
        page.wait_for_timeout(250)


def _accept_dialog(page: Page) -> None:
    """Accept a dialog that came late ("Select Kernel" may follow the first Idle)."""
    page.wait_for_timeout(200)
    dialog = page.locator(".jp-Dialog button.jp-mod-accept")
    if dialog.count():
        dialog.first.click()
        page.wait_for_timeout(500)


def _kernel_idle(page: Page) -> bool:
    """JupyterLab's status bar says Idle; Notebook 7 (no status bar) shows an idle indicator."""
    if page.locator(".jp-StatusBar-TextItem", has_text="| Idle").count():
        return True
    return bool(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count())


def run_cell(page: Page, index: int, timeout: float = 60.0) -> None:
    """Run cell ``index`` in place (Ctrl+Enter) and wait for its execution count."""
    _accept_dialog(page)
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    prompt = cell.locator(".jp-InputArea-prompt")
    deadline = time.monotonic() + timeout
    again = time.monotonic() + 10
    while not any(ch.isdigit() for ch in prompt.inner_text()):
        text = prompt.inner_text()
        if time.monotonic() > deadline:
            pytest.fail(f"cell {index} did not finish within {timeout} s")
        if "*" not in text and time.monotonic() > again:
            # a kernel that just said Idle may not take the first request: ask again
            _accept_dialog(page)
            cell.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Control+Enter")
            again = time.monotonic() + 10
        page.wait_for_timeout(100)


def output_when(
    page: Page, index: int, wanted: Callable[[str], bool], timeout: float = 20.0
) -> str:
    """Run cell ``index`` until its output satisfies ``wanted``, and return that output.

    Canvas edits reach the kernel asynchronously (ipywidgets holds back a state update while
    an earlier one is unanswered), so a cell run at once may see the previous state.
    """
    deadline = time.monotonic() + timeout
    while True:
        run_cell(page, index)
        text = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")
        output = text.inner_text()
        if wanted(output) or time.monotonic() > deadline:
            return output
        page.wait_for_timeout(300)
