"""A node pack cannot take the process down, and loaders never block on special files.

Node packs are trusted code (SECURITY.md); what is held here is that one that calls
``sys.exit``, raises ``KeyboardInterrupt``, sleeps at import or returns nonsense from its entry
point is reported as a problem, in the library and in the ``dataflow`` command, while the
user's own Ctrl-C still interrupts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any

import pytest

from dataflow_jupyter import Graph, GraphValidationError
from dataflow_jupyter.registry import NodeLoadError, NodeRegistry, RegistryWarning

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CLI = [sys.executable, "-m", "dataflow_jupyter.cli"]
TIMEOUT_S = 120

NODE_PY = """
from dataflow_jupyter.node import PureNode


class Echo(PureNode):
    def process(self, inputs, ctx):
        return {{"out": inputs["in"]}}

{tail}
"""
TAILS = {
    "exits": "import sys\nsys.exit(0)",
    "interrupts": "raise KeyboardInterrupt",
    "sleeps": "import time\ntime.sleep(600)",
    "fine": "",
}


def schema(type_id: str) -> dict[str, Any]:
    return {
        "id": type_id,
        "version": "1.0.0",
        "category": "Test",
        "name": type_id,
        "ports": {"inputs": [{"name": "in"}], "outputs": [{"name": "out"}]},
    }


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """One node folder per entry of TAILS, its node.py ending with that code."""
    root = tmp_path / "pack"
    for name, tail in TAILS.items():
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "schema.json").write_text(json.dumps(schema(f"{name}-node")))
        (folder / "node.py").write_text(NODE_PY.format(tail=tail))
    return root


def graph_of(folder: Path, type_id: str) -> Path:
    """A saved graph: inject -> ``type_id``."""
    document = {
        "id": "uses",
        "version": "1.0.0",
        "nodes": [
            {"id": "src", "typeId": "inject", "version": "1.0.0", "settings": {}},
            {"id": "n", "typeId": type_id, "version": "1.0.0", "settings": {}},
        ],
        "edges": [
            {"id": "e", "source": "src", "sourcePort": "out", "target": "n", "targetPort": "in"}
        ],
    }
    path = folder / f"{type_id}.dfgraph.json"
    path.write_text(json.dumps(document))
    return path


def cli(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=cwd,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("exits", "failed: SystemExit: 0 (a node pack may not end or interrupt the process"),
        ("interrupts", "failed: KeyboardInterrupt (a node pack may not end or interrupt"),
    ],
)
def test_an_import_that_ends_the_process_is_a_problem(pack: Path, name: str, reason: str) -> None:
    registry = NodeRegistry(paths=[pack], include_builtin=False)
    reason = re.escape(reason)
    with pytest.warns(RegistryWarning, match=reason), pytest.raises(NodeLoadError, match=reason):
        registry.get(f"{name}-node", "1.0.0").load()
    assert [p.path for p in registry.problems] == [pack / name]
    assert registry.get("fine-node", "1.0.0").load().__name__ == "Echo"


def test_an_import_that_sleeps_past_the_time_limit_is_a_problem(pack: Path) -> None:
    registry = NodeRegistry(paths=[pack], include_builtin=False, import_timeout=0.5)
    reason = r"importing .*sleeps/node.py did not finish within 0.5 s"
    with pytest.warns(RegistryWarning, match=reason), pytest.raises(NodeLoadError, match=reason):
        registry.get("sleeps-node", "1.0.0").load()
    assert registry.get("fine-node", "1.0.0").load().__name__ == "Echo"


@pytest.fixture
def plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pack: Path
) -> Iterator[list[EntryPoint]]:
    """Modules an entry point may name: one that exits, one that interrupts, one that gives 42."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "exiting_pack.py").write_text("import sys\n\ndef nodes():\n    sys.exit(3)\n")
    (site / "interrupting_pack.py").write_text("def nodes():\n    raise KeyboardInterrupt\n")
    (site / "answer_pack.py").write_text("def nodes():\n    return 42\n")
    (site / "mixed_pack.py").write_text(f"def nodes():\n    return [{str(pack)!r}, 7]\n")
    (site / "good_pack.py").write_text(f"def nodes():\n    return {str(pack / 'fine')!r}\n")
    monkeypatch.syspath_prepend(str(site))
    names = ["exiting", "interrupting", "answer", "mixed", "good"]
    yield [
        EntryPoint(name=n, value=f"{n}_pack:nodes", group="dataflow_jupyter.nodes") for n in names
    ]
    for name in names:
        sys.modules.pop(f"{name}_pack", None)


def test_entry_points_that_exit_interrupt_or_return_nonsense_are_problems(
    plugins: list[EntryPoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("dataflow_jupyter.registry.entry_points", lambda group: plugins)
    with pytest.warns(RegistryWarning):
        registry = NodeRegistry(include_builtin=False, include_entry_points=True)
    reasons = {str(p.path): p.reason for p in registry.problems}
    mixed = reasons.pop("<entry point mixed = mixed_pack:nodes>")
    assert reasons == {
        "<entry point exiting = exiting_pack:nodes>": "loading the entry point failed: "
        "SystemExit: 3 (a node pack may not end or interrupt the process; remove that call)",
        "<entry point interrupting = interrupting_pack:nodes>": "loading the entry point "
        "failed: KeyboardInterrupt (a node pack may not end or interrupt the process; remove "
        "that call)",
        "<entry point answer = answer_pack:nodes>": "the entry point gave int 42; expected a "
        "folder path, a package (module), a list of those, or a function returning one",
    }
    assert mixed.startswith("the entry point gave list [")
    assert "expected a folder path" in mixed
    assert registry.ids() == ["fine-node"]  # the good one still loaded


def test_the_users_own_ctrl_c_still_interrupts_an_import(pack: Path, tmp_path: Path) -> None:
    """SIGINT reaches the main thread, which waits on the import: it is not the pack's."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys, threading
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from dataflow_jupyter.registry import NodeRegistry
        registry = NodeRegistry(paths=[{str(pack)!r}], include_builtin=False)
        threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            registry.get("sleeps-node", "1.0.0").load()
        except KeyboardInterrupt:
            print("interrupted by the user")
            sys.exit(7)
        print("not interrupted")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        cwd=tmp_path,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (7, "interrupted by the user"), done.stderr


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("exits", "SystemExit: 0"),
        ("interrupts", "KeyboardInterrupt (a node pack may not end or interrupt"),
        ("sleeps", "did not finish within 2 s"),
    ],
)
def test_dataflow_validate_reports_a_node_py_that_would_end_it(
    pack: Path, tmp_path: Path, name: str, reason: str
) -> None:
    path = graph_of(tmp_path, f"{name}-node")
    done = cli("validate", path, "--nodes", pack, cwd=tmp_path, DATAFLOW_IMPORT_TIMEOUT="2")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "node 'n'" in done.stderr
    assert reason in done.stderr
    assert "ok:" not in done.stdout


def test_the_import_time_limit_setting_is_checked(pack: Path, tmp_path: Path) -> None:
    done = cli("nodes", cwd=tmp_path, DATAFLOW_IMPORT_TIMEOUT="soon")
    assert done.returncode == 2
    assert "DATAFLOW_IMPORT_TIMEOUT is seconds greater than 0 (such as 30); got 'soon'" in (
        done.stderr
    )


def test_dataflow_nodes_survives_an_entry_point_that_calls_sys_exit(tmp_path: Path) -> None:
    """A real installed distribution (a .dist-info on the path) whose entry point exits."""
    site = tmp_path / "site"
    info = site / "exiting_pack-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: exiting-pack\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[dataflow_jupyter.nodes]\nexits = exiting_pack:nodes\n")
    (site / "exiting_pack.py").write_text("import sys\n\ndef nodes():\n    sys.exit(3)\n")
    done = cli("nodes", cwd=tmp_path, PYTHONPATH=str(site))
    assert done.returncode == 0, done.stderr
    assert "inject" in done.stdout
    assert "warning: <entry point exits = exiting_pack:nodes>: loading the entry point " in (
        done.stderr
    )
    assert "SystemExit: 3" in done.stderr


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pipe.dfgraph.json"
    os.mkfifo(path)
    yield path
    os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK))  # releases a reader, had one blocked


@pytest.mark.timeout(60)
def test_graph_load_refuses_a_fifo_and_dev_zero(fifo: Path, tmp_path: Path) -> None:
    with pytest.raises(GraphValidationError, match="is a FIFO"):
        Graph.load(fifo)
    with pytest.raises(GraphValidationError, match="is a character device"):
        Graph.load("/dev/zero")
    link = tmp_path / "zero.dfgraph.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(GraphValidationError, match="is a character device"):
        Graph.load(link)


def test_graph_load_reads_at_most_its_limit_whatever_st_size_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("dataflow_jupyter.graph._document.MAX_FILE_BYTES", 64)
    with pytest.raises(GraphValidationError, match="holds more than"):
        Graph.load("/proc/self/status")  # st_size 0, more than 64 bytes inside


def test_dataflow_validate_refuses_a_fifo_and_dev_zero(fifo: Path, tmp_path: Path) -> None:
    for path in (fifo, "/dev/zero"):
        done = cli("validate", path, cwd=tmp_path)
        assert done.returncode == 2
        assert "not a regular file" in done.stderr
