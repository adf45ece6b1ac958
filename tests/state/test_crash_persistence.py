"""Kill a process running ``source -> sliding-window`` with SIGKILL at 30 random moments, on
file and on Redis state: the restored window is always the window after the last completed
firing, and no state file is ever corrupt.

The check. ``_crash_child.py`` logs ``begin <n>`` before each firing of the window and
``end <window>`` once the firing has completed (both fsync-ed). After each kill the test
reads the window from the state (as a new process would) and compares it with ``done``,
the window after the last completed firing:

- the last record is ``end``: no firing was under way, so the state must equal ``done``;
- the last record is ``begin n``: the kill hit a firing, so the state must equal ``done``
  (killed before its write) or ``done`` with ``n`` slid in (killed after its write, before
  it completed); anything else (a lost write, a half-written value) fails.

Each ``end`` is also checked against ``done`` with its packet slid in, so the window the
next run builds on is the one that was restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from _crash_child import SIZE, WINDOW_KEY, make_state

from dataflow_jupyter.state import FileState

if TYPE_CHECKING:
    from conftest import RedisServer

pytestmark = pytest.mark.integration

KILLS = 30
CHILD = Path(__file__).with_name("_crash_child.py")


def slide(window: list[int], n: int) -> list[int]:
    return [*window, n][-SIZE:]


def restored_window(backend: str, target: str) -> list[int]:
    async def read() -> Any:
        state = make_state(backend, target)
        try:
            return await state.get(WINDOW_KEY)
        finally:
            await state.close()

    stored = asyncio.run(read())
    return [] if stored is None else [value["n"] for _, value in stored["items"]]


def check_state_files(root: Path) -> int:
    """Every state file reads back; returns how many stray temp files kills left."""
    strays = 0
    for path in root.rglob("*"):
        if path.is_dir():
            continue
        if path.name.endswith(".tmp"):
            strays += 1
        elif path.suffix == ".json":
            json.loads(path.read_bytes())
        elif path.suffix == ".arrow":
            with pa.OSFile(str(path)) as source:
                pa.ipc.open_file(source).read_all()
        else:
            pytest.fail(f"unexpected file in the state folder: {path}")
    state = FileState(root)
    for key in asyncio.run(state.keys()):
        asyncio.run(state.get(key))  # StateCorruptError if a file were corrupt
    return strays


class Log:
    """Reads the child's firing log incrementally and tracks ``done`` and a pending firing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.done: list[int] = []
        self.pending: int | None = None
        self.completed = 0

    def read(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()[self.offset :]
        lines = data.split(b"\n")[:-1]  # a line cut by the kill has no newline yet
        self.offset += sum(len(line) + 1 for line in lines)
        for line in lines:
            kind, _, rest = line.decode().partition(" ")
            if kind == "begin":
                assert self.pending is None, f"two firings at once: {line!r}"
                self.pending = int(rest)
            else:
                assert self.pending is not None, f"an end without a begin: {line!r}"
                window = json.loads(rest)
                assert window == slide(self.done, self.pending), (
                    f"the firing of {self.pending} built {window} on a restored window other "
                    f"than {self.done}"
                )
                self.done, self.pending = window, None
                self.completed += 1


def kill_30_times(backend: str, target: str, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    log = Log(tmp_path / "firings.log")
    errors = tmp_path / "child.stderr"
    outcomes = {"between firings": 0, "before the write": 0, "after the write": 0}
    with errors.open("wb") as stderr:
        helper = subprocess.Popen(
            [sys.executable, str(CHILD), backend, target, str(log.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            bufsize=1,
        )
    assert helper.stdin is not None
    assert helper.stdout is not None
    started = time.monotonic()
    pid = None
    try:
        assert helper.stdout.readline() == "ready\n", errors.read_text()
        for run in range(KILLS):
            helper.stdin.write(f"go {run}\n")
            helper.stdin.flush()
            pid = int(helper.stdout.readline())
            time.sleep(rng.uniform(0.02, 0.3))
            with contextlib.suppress(ProcessLookupError):  # it ended: its status says why
                os.kill(pid, signal.SIGKILL)
            status = helper.stdout.readline().strip()
            pid = None  # reaped by the helper: the number is no longer ours
            assert status == f"exit {-signal.SIGKILL}", f"run {run}: {status}\n{errors.read_text()}"
            log.read()
            restored = restored_window(backend, target)
            if log.pending is None:
                assert restored == log.done, f"kill {run} between firings: {restored} != {log.done}"
                outcomes["between firings"] += 1
            else:
                after = slide(log.done, log.pending)
                assert restored in (log.done, after), (
                    f"kill {run} during the firing of {log.pending}: restored {restored}, "
                    f"expected {log.done} (before its write) or {after} (after it)"
                )
                outcomes["before the write" if restored == log.done else "after the write"] += 1
                log.done, log.pending = restored, None  # what the next run builds on
            if backend == "file":
                strays = check_state_files(Path(target))
                assert strays <= run + 1
    finally:  # leave no process behind, also when a check failed
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        helper.stdin.close()
        try:
            helper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
        helper.stdout.close()
    print(
        f"{backend}: {KILLS} kills in {time.monotonic() - started:.1f} s, "
        f"{log.completed} completed firings; kills {outcomes}"
    )
    assert log.completed > KILLS  # the kills did land while packets flowed


def test_file_state_survives_sigkill(tmp_path: Path) -> None:
    kill_30_times("file", str(tmp_path / "state"), tmp_path, seed=5)


def test_redis_state_survives_sigkill(tmp_path: Path, redis_server: RedisServer) -> None:
    kill_30_times("redis", redis_server.url, tmp_path, seed=6)
