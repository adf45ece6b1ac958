"""notebook: the ``streaming-default`` graph run in a Jupyter kernel against a script.

A notebook user calls ``rt.run()`` in a cell, where the kernel's loop already runs: the call
re-enters it through nest-asyncio2 (pure-Python Task and Future), and the kernel's own
machinery (its message handlers, the IOPub thread) shares the process. This benchmark runs
the very same thing two ways, each in a fresh interpreter (this one's ``sys.executable``):

- a small generated notebook executed by nbclient (what ``jupyter nbconvert --execute``
  does), in a real ipykernel, from a child process;
- the same code as a script (``python script.py``).

Both call ``streaming_default.best_run_seconds`` over the same user node folders, which times
only ``rt.run()`` (the graph and runtime are built outside the timing, best of ``repeat``);
each prints its figure as one JSON line, so kernel start-up and cell overhead are not
counted. The kernel is checked to run this interpreter. Goal: the notebook's time within
1.2x the script's.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import HERE, Result, Side
from streaming_default import write_pack

GOAL = 1.2  # notebook time / script time, at most
MARK = "DATAFLOW-BENCH "  # prefixes the JSON line each side prints
KERNEL_TIMEOUT_S = 1800

SETUP = """\
import json, sys
sys.path.insert(0, {here!r})
import streaming_default
"""

RUN = """\
seconds = streaming_default.best_run_seconds({nodes!r}, {packets}, {maps}, {repeat})
print({mark!r} + json.dumps({{"seconds": seconds, "executable": sys.executable}}))
"""


# Executes a notebook in place with nbclient (argv: path, timeout in seconds).
EXECUTE = """\
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

path = Path(sys.argv[1])
notebook = nbformat.read(path, as_version=4)
client = NotebookClient(
    notebook,
    timeout=int(sys.argv[2]),
    kernel_name="python3",
    resources={"metadata": {"path": str(path.parent)}},
)
client.execute()
nbformat.write(notebook, path)
"""


def code(nodes: Path, packets: int, maps: int, repeat: int) -> tuple[str, str]:
    """The two pieces of code both sides run: set-up, then the timed runs."""
    setup = SETUP.format(here=str(HERE))
    run = RUN.format(nodes=str(nodes), packets=packets, maps=maps, repeat=repeat, mark=MARK)
    return setup, run


def parse(text: str, where: str) -> dict[str, Any]:
    """The JSON figure a side printed."""
    for line in text.replace("\r", "\n").splitlines():  # a progress line may precede it
        if MARK in line:
            figure: dict[str, Any] = json.loads(line[line.index(MARK) + len(MARK) :])
            return figure
    msg = f"the {where} printed no {MARK.strip()} line; its output was:\n{text[-2000:]}"
    raise RuntimeError(msg)


def run_script(folder: Path, setup: str, run: str) -> dict[str, Any]:
    """The timed runs as a script, in a fresh interpreter."""
    script = folder / "streaming_default_script.py"
    script.write_text(setup + run, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        check=False,
        timeout=KERNEL_TIMEOUT_S,
        cwd=folder,
    )
    if done.returncode != 0:
        msg = f"the script failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        raise RuntimeError(msg)
    return parse(done.stdout, "script")


def run_notebook(folder: Path, setup: str, run: str) -> dict[str, Any]:
    """The timed runs in a notebook executed in a real kernel (as nbconvert --execute).

    nbclient runs in a child process: starting a kernel imports ``ipykernel.kernelspec``
    into the process that starts it, and the runtime would then take this process for a
    kernel (progress lines on) in the benchmarks that run after this one.
    """
    import nbformat  # noqa: PLC0415 - only this benchmark needs the notebook machinery

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(run)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = folder / "streaming_default.ipynb"
    nbformat.write(notebook, path)
    done = subprocess.run(
        [sys.executable, "-c", EXECUTE, str(path), str(KERNEL_TIMEOUT_S)],
        capture_output=True,
        text=True,
        check=False,
        timeout=KERNEL_TIMEOUT_S + 60,
        cwd=folder,
    )
    if done.returncode != 0:
        msg = f"executing the notebook failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        raise RuntimeError(msg)
    executed = nbformat.read(path, as_version=4)
    outputs = executed.cells[1].get("outputs", [])
    out = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    return parse(out, "notebook")


def bench_notebook(packets: int = 200_000, maps: int = 10, repeat: int = 3) -> Result:
    """``streaming-default`` in a kernel and as a script: seconds of ``rt.run()``, ratio."""
    goal = f"<= {GOAL:g}x the script's time"
    missing = [m for m in ("ipykernel", "nbclient") if importlib.util.find_spec(m) is None]
    if missing:  # bash benchmarks/run.sh installs both
        note = f"kernel not available ({', '.join(missing)} not installed)"
        return Result(
            "notebook", Side("ours", None, "s", note), [], {"notebook/script": None}, goal, None
        )
    with tempfile.TemporaryDirectory(prefix="dataflow-bench-nb-") as tmp:
        folder = Path(tmp)
        setup, run = code(write_pack(folder, maps), packets, maps, repeat)
        script = run_script(folder, setup, run)
        kernel = run_notebook(folder, setup, run)
    if Path(kernel["executable"]).resolve() != Path(script["executable"]).resolve():
        msg = (
            f"the kernel runs {kernel['executable']}, the script {script['executable']}: the "
            "figures would compare two interpreters. Install ipykernel in this environment "
            "(its python3 kernel then runs this interpreter)"
        )
        raise RuntimeError(msg)
    ratio = kernel["seconds"] / script["seconds"]
    return Result(
        "notebook",
        Side("ours", kernel["seconds"], "s"),
        [Side("script", script["seconds"], "s")],
        {"notebook/script": ratio},
        goal,
        ratio <= GOAL,
        {
            "packets": packets,
            "maps": maps,
            "kernel_seconds": kernel["seconds"],
            "script_seconds": script["seconds"],
            "kernel_rate": packets / kernel["seconds"],
            "script_rate": packets / script["seconds"],
            "executable": kernel["executable"],
        },
        ours_suffix=" in a kernel",
    )
