"""Runs ``jupyter_server_endpoints.py`` with jupyter_server's pytest plugin (``pytest_jupyter``).

The plugin runs every coroutine test on its own event loop and closes that loop after each
test; loaded into this session it would take over the tests that use pytest-asyncio. So the
endpoint tests run in a pytest of their own, with pytest-asyncio switched off there, and
this test checks that all of them ran and passed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENDPOINT_TESTS = 7


def test_server_extension_endpoints_with_jupyter_servers_pytest_plugin(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(HERE / "pytest-jupyter.ini"),
            "--rootdir",
            str(HERE),
            "-p",
            "no:asyncio",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "t"),
            "-q",
            str(HERE / "jupyter_server_endpoints.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    assert re.search(rf"\b{ENDPOINT_TESTS} passed\b", report), report
