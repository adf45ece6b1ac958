"""Fixtures shared by every test folder: a real ``redis-server`` on a free port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING

import pytest
from _support import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MISSING_REDIS = (
    "redis-server is not installed: install the Debian package redis-server "
    "(apt-get install -y redis-server)"
)


class RedisServer:
    """A ``redis-server`` in a temp folder that fsyncs every write (``appendfsync always``).

    ``stop()`` and ``start()`` keep the port and the folder, so a restart finds its data.
    """

    def __init__(self, executable: str, folder: Path) -> None:
        self.executable = executable
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        assert self.process is None, "redis-server is already running"
        command = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.folder), "--save", "", "--appendonly", "yes"]
        command += ["--appendfsync", "always", "--logfile", "redis.log", "--daemonize", "no"]
        self.process = subprocess.Popen(command, cwd=self.folder, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                pytest.fail(f"redis-server on port {self.port} did not answer PING:\n{log}")
            time.sleep(0.02)

    def ping(self) -> bool:
        """Whether the server answers PING (not while it still loads its data)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (``SIGKILL`` for a crash; fsync-ed writes survive it)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A running ``redis-server``; fails under ``CI=true`` when it is not installed, else skips."""
    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(MISSING_REDIS)
        pytest.skip(MISSING_REDIS)
    server = RedisServer(executable, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
