"""The ``dataflow`` command: check, run and list graphs and node types from a terminal.

Commands
--------
``dataflow run GRAPH.dfgraph.json [--state memory|file|redis] [--state-dir DIR]
[--nodes DIR ...] [--max-concurrency N] [--dask [local|ADDRESS]] [--log FILE.parquet]
[--output DIR] [--max-outputs N] [--log-lines N] [--no-progress] [--quiet]``
    Load the graph, check it against ``NodeRegistry.default()`` plus the ``--nodes``
    folders, create every node once (so bad settings fail before anything runs), then run
    it with ``GraphRuntime`` until the sources are done, or until Ctrl-C. While it runs, the
    progress line (packets in from the sources with their rate, a percentage when the
    sources know their total, packets out, errors: ``runtime._progress``) and the nodes' log
    lines (``debug-log`` and friends, level INFO) go to stderr; each node prints its first
    ``--log-lines`` lines (default 20), then only a running count (``cli.logs``). At the
    end a summary goes to stdout: duration, the per-node counters (``rt.stats.nodes``), a
    preview of each unconnected output ``node.port`` (a table's shape and first rows, a
    value as JSON; of many packets, their count and the last few: ``cli.output``), the
    errors, the size of the dead-letter queue and how many log lines were not shown.
    ``--output DIR`` also writes each unconnected output to ``DIR/<node>.<port>.parquet``
    (tables) or ``DIR/<node>.<port>.json`` (a JSON array of the values); both hold the
    first ``--max-outputs`` packets of each port (default 10000). Without ``--state`` the
    graph's ``config.stateStorage`` is used; ``--state-dir DIR`` means ``--state file`` in
    ``DIR`` (the default folder is the graph's ``stateStorage.path``, else
    ``.dataflow-state/<graph id>``). ``--log`` writes
    every ExecutionLog event to a Parquet (or ``.arrow``) file, complete once the command
    ends. ``--quiet``: no progress line, node logs at WARNING and above only, and a
    one-line summary. ``--dask`` runs the graph with a ``DaskExecutor``: its nodes set to
    ``execution.offload: cluster`` fire on a Dask cluster, the others in this process as
    before. ``--dask`` or ``--dask local`` starts a ``LocalCluster`` on this machine (closed
    at the end); ``--dask tcp://scheduler:8786`` uses that cluster and leaves it running.
    Dask (``pip install 'dataflow-jupyter[dask]'``) is imported only with ``--dask``.
``dataflow validate GRAPH [--nodes DIR ...]``
    The same checks as ``run`` without running: ``ok: <id> <version>, N nodes, M edges``,
    or every problem.
``dataflow nodes [--nodes DIR ...] [--json]``
    The installed node types as a table (id, version, category, name, inputs, outputs) or
    as JSON (a list of ``schema.json`` documents).
``dataflow --version``

Node packs: importing a ``node.py`` or loading an entry point may take at most
``$DATAFLOW_IMPORT_TIMEOUT`` seconds (default 30); one that takes longer, calls
``sys.exit`` or raises ``KeyboardInterrupt`` is reported (``warning: path: reason``, or a
problem of the graph that uses it) and the command goes on without it.

Streams: results go to stdout; progress, logs, registry problems (``warning: path:
reason``) and errors go to stderr.

Exit codes
----------
``0``   done, no error.
``1``   the run had errors: at least one ``ErrorPacket`` (also one routed to an ``error``
        output) or a dead letter; or the run itself failed (a node's ``setup``).
``2``   bad input: usage, a missing or unreadable file, an invalid graph (every problem
        is listed), a ``--nodes`` folder that does not exist, node settings a node refuses,
        a state backend or log file that cannot be used (a state folder that cannot be
        made), ``--dask`` without Dask installed. Redis state (``--state redis``, at the
        graph's ``stateStorage.url``) connects when the run starts: a server that cannot be
        reached fails the run (exit 1).
``130`` interrupted (Ctrl-C).

Ctrl-C
------
The first SIGINT asks the run to stop: the sources are cancelled, packets in flight drain
for up to 5 s (then everything is cancelled), the nodes are torn down, the log file is
closed, ``stopped`` and the summary are printed, and the exit code is 130. The handler is a
plain ``signal`` handler that hands the request to the loop thread-safely, so it works even
while a node blocks the loop. A second SIGINT exits at once (``os._exit(130)``; the log file
may then be incomplete). A SIGINT before the run starts ends the command with 130 too.
An inherited ``SIG_IGN`` for SIGINT (``nohup``, ``cmd &`` in a script) is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from dataflow_jupyter._packcall import DEFAULT_CLI_IMPORT_TIMEOUT
from dataflow_jupyter._version import __version__
from dataflow_jupyter.cli.logs import DEFAULT_LIMIT, LogBudget
from dataflow_jupyter.cli.output import preview, write_outputs
from dataflow_jupyter.graph import Graph, GraphValidationError
from dataflow_jupyter.registry import NodeRegistry, RegistryWarning
from dataflow_jupyter.runtime import ExecutionLog, GraphRuntime
from dataflow_jupyter.state import FileState

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from dataflow_jupyter.executors import Executor
    from dataflow_jupyter.runtime import RunResult
    from dataflow_jupyter.runtime.scheduler import StateChoice

__all__ = ["EXIT_BAD_INPUT", "EXIT_ERRORS", "EXIT_INTERRUPTED", "EXIT_OK", "main"]

EXIT_OK: Final = 0
EXIT_ERRORS: Final = 1
EXIT_BAD_INPUT: Final = 2
EXIT_INTERRUPTED: Final = 130

_DRAIN_S: Final = 5.0  # how long in-flight packets may drain after Ctrl-C
_POLL_S: Final = 0.05  # how often the driver looks whether the run has ended
_SHOWN_ERRORS: Final = 10
_LOG_HANDLER: Final = "dataflow-cli"
IMPORT_TIMEOUT_ENV: Final = "DATAFLOW_IMPORT_TIMEOUT"
_LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _BadInputError(Exception):
    """Input the command cannot use (exit code 2); the message says what and why."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dataflow`` command with ``argv`` (default ``sys.argv[1:]``); the exit code.

    Usage errors and ``--version`` leave through ``SystemExit``, as argparse does.
    """
    args = _parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.handler
    try:
        with warnings.catch_warnings():
            # Registry problems are printed as "warning: path: reason" instead.
            warnings.simplefilter("ignore", RegistryWarning)
            return command(args)
    except _BadInputError as exc:
        _err(f"dataflow {args.command}: {exc}")
        return EXIT_BAD_INPUT
    except GraphValidationError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `dataflow nodes --json | head`: the reader went away
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit flush does not fail again
        return EXIT_ERRORS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dataflow",
        description="Check, run and list dataflow-jupyter graphs and node types.",
        epilog="Exit codes: 0 ok, 1 the run had errors, 2 bad input, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"dataflow-jupyter {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    nodes_help = "a node pack folder to add to the registry (repeatable)"

    run = commands.add_parser("run", help="run a graph until its sources are done or Ctrl-C")
    run.add_argument("graph", metavar="GRAPH", help="a .dfgraph.json file")
    run.add_argument(
        "--state",
        choices=("memory", "file", "redis"),
        help="state storage of stateful nodes (default: the graph's config.stateStorage)",
    )
    run.add_argument(
        "--state-dir",
        metavar="DIR",
        help="folder of --state file (default: .dataflow-state/<graph id>)",
    )
    run.add_argument("--nodes", metavar="DIR", action="append", default=[], help=nodes_help)
    run.add_argument(
        "--max-concurrency",
        metavar="N",
        type=_positive_int,
        help="simultaneous firings (default: the graph's config.maxConcurrency)",
    )
    run.add_argument(
        "--dask",
        metavar="local|ADDRESS",
        nargs="?",
        const="local",
        help="fire the nodes set to execution.offload: cluster on Dask: a LocalCluster "
        "(local, the default) or the scheduler at ADDRESS (tcp://host:8786)",
    )
    run.add_argument(
        "--log", metavar="FILE", help="write the execution log to FILE (.parquet or .arrow)"
    )
    run.add_argument(
        "--output",
        metavar="DIR",
        help="write each unconnected output to DIR/<node>.<port>.parquet (tables) or .json",
    )
    run.add_argument(
        "--max-outputs",
        metavar="N",
        type=_positive_int,
        default=10_000,
        help="packets kept per unconnected output for the summary and --output (default 10000)",
    )
    run.add_argument(
        "--log-lines",
        metavar="N",
        type=_count,
        default=DEFAULT_LIMIT,
        help=f"log lines shown per node; the rest are counted (default {DEFAULT_LIMIT})",
    )
    run.add_argument("--no-progress", action="store_true", help="do not show the progress line")
    run.add_argument(
        "--quiet", action="store_true", help="no progress, warnings only, one-line summary"
    )
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check a graph without running it")
    validate.add_argument("graph", metavar="GRAPH", help="a .dfgraph.json file")
    validate.add_argument("--nodes", metavar="DIR", action="append", default=[], help=nodes_help)
    validate.set_defaults(handler=_validate)

    nodes = commands.add_parser("nodes", help="list the installed node types")
    nodes.add_argument("--nodes", metavar="DIR", action="append", default=[], help=nodes_help)
    nodes.add_argument("--json", action="store_true", help="print the specs as JSON")
    nodes.set_defaults(handler=_nodes)
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"expected a whole number >= 0; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a whole number >= 1; got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


# -- commands ------------------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    registry = _registry(args.nodes)
    graph = _load(args.graph, registry)
    print(f"ok: {graph.id} {graph.version}, {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    return EXIT_OK


def _nodes(args: argparse.Namespace) -> int:
    registry = _registry(args.nodes)
    if args.json:
        print(json.dumps([spec.to_json() for spec in registry.catalog()], indent=2))
    elif len(registry) == 0:
        print("no node types installed")
    else:
        columns = ["id", "version", "category", "name", "inputs", "outputs"]
        print(registry.catalog_frame()[columns].to_string(index=False))
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    budget = _configure_logging(quiet=args.quiet, limit=args.log_lines)
    registry = _registry(args.nodes)
    graph = _load(args.graph, registry)
    state = _state(args.state, args.state_dir)
    output = _output_folder(args.output) if args.output else None
    executor = _executor(args.dask)
    log = _open_log(args.log) if args.log else True
    try:
        try:
            runtime = GraphRuntime(
                graph,
                registry,
                state=state,
                max_concurrency=args.max_concurrency,
                max_outputs=args.max_outputs,
                log=log,
                progress=not (args.no_progress or args.quiet),
                executor=executor,
            )
        except (ValueError, OSError) as exc:  # e.g. a state folder that cannot be made
            if executor is not None:
                asyncio.run(executor.close())
            raise _BadInputError(str(exc)) from exc
        try:
            result, stopped = _run_with_interrupts(runtime)
        except Exception as exc:  # noqa: BLE001 - any failure of the run is reported, exit 1
            _err(f"dataflow run: the run failed: {type(exc).__name__}: {exc}")
            return EXIT_ERRORS
    finally:
        if isinstance(log, ExecutionLog):
            log.close()
    failed = bool(result.errors) or len(runtime.dlq) > 0
    text = _summary(graph, runtime, result, stopped=stopped, quiet=args.quiet)
    hidden = budget.summary()
    if hidden and not args.quiet:
        text += "\nlog lines not shown:\n" + "\n".join(hidden)
    print(text, flush=True)
    if output is not None:
        try:
            print("\n".join(write_outputs(result, output)), flush=True)
        except OSError as exc:
            _err(f"dataflow run: cannot write the outputs in {output}: {exc.strerror or exc}")
            return EXIT_ERRORS
    if stopped:
        return EXIT_INTERRUPTED
    return EXIT_ERRORS if failed else EXIT_OK


# -- loading -------------------------------------------------------------------------------


def _registry(folders: Sequence[str]) -> NodeRegistry:
    """``NodeRegistry.default()`` plus ``folders``; discovery problems go to stderr."""
    missing = [folder for folder in folders if not Path(folder).expanduser().is_dir()]
    if missing:
        msg = f"--nodes {missing[0]!r} is not a folder. Pass a folder that holds node folders"
        raise _BadInputError(msg)
    registry = NodeRegistry.default(import_timeout=_import_timeout())
    for folder in folders:
        registry.add_path(folder, source="--nodes")
    for problem in registry.problems:
        _err(f"warning: {problem}")
    return registry


def _import_timeout() -> float:
    """Seconds a node.py import may take: ``$DATAFLOW_IMPORT_TIMEOUT``, else 30."""
    text = os.environ.get(IMPORT_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_CLI_IMPORT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        msg = f"{IMPORT_TIMEOUT_ENV} is seconds greater than 0 (such as 30); got {text!r}"
        raise _BadInputError(msg)
    return seconds


def _load(path: str, registry: NodeRegistry) -> Graph:
    """The graph in ``path``, checked (node constructors included); else every problem."""
    graph = Graph.load(path, registry=registry)
    problems = graph.problems(registry)
    if problems:
        raise GraphValidationError(problems, source=f"{graph.id!r} ({path})")
    return graph


def _state(
    kind: Literal["memory", "file", "redis"] | None, folder: str | None
) -> StateChoice | None:
    if folder is None:
        return kind
    if kind not in (None, "file"):
        msg = f"--state-dir is for --state file; got --state {kind}. Drop one of the two"
        raise _BadInputError(msg)
    try:
        return FileState(folder)
    except OSError as exc:
        msg = f"cannot use state folder {folder!r}: {exc.strerror or exc}"
        raise _BadInputError(msg) from exc


def _executor(target: str | None) -> Executor | None:
    """The ``DaskExecutor`` of ``--dask`` (``None`` without it: the runtime's default).

    Its module is imported here and only here, so a run without ``--dask`` never imports
    Dask; by name, as the executor is an optional part (the ``[dask]`` extra).
    """
    if target is None:
        return None
    try:
        module = importlib.import_module("dataflow_jupyter.executors.dask")
    except ImportError as exc:
        msg = (
            f"--dask needs Dask's distributed scheduler ({exc}); install it with "
            "pip install 'dataflow-jupyter[dask]'"
        )
        raise _BadInputError(msg) from exc
    executor: Executor = module.DaskExecutor() if target == "local" else module.DaskExecutor(target)
    return executor


def _open_log(path: str) -> ExecutionLog:
    try:
        return ExecutionLog(path=path)
    except (ValueError, OSError) as exc:
        raise _BadInputError(str(exc)) from exc


def _output_folder(path: str) -> Path:
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"--output {path!r}: cannot create the folder: {exc.strerror or exc}"
        raise _BadInputError(msg) from exc
    return folder


def _configure_logging(*, quiet: bool, limit: int = DEFAULT_LIMIT) -> LogBudget:
    """Node and runtime logs to stderr, each node's lines within ``limit``; the budget.

    The handler is added once however often ``main`` runs in a process; its budget is new
    each time.
    """
    logger = logging.getLogger("dataflow_jupyter")
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    handler = next((h for h in logger.handlers if h.get_name() == _LOG_HANDLER), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_LOG_HANDLER)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT, datefmt="%H:%M:%S"))
        logger.addHandler(handler)
    for old in list(handler.filters):
        handler.removeFilter(old)
    budget = LogBudget(limit)
    handler.addFilter(budget)
    return budget


# -- running -------------------------------------------------------------------------------


class _Interrupts:
    """The SIGINT handler of a run: the first asks the loop to stop, the second exits."""

    def __init__(self) -> None:
        self.count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._request: Callable[[], None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop, request: Callable[[], None]) -> None:
        self._loop, self._request = loop, request

    def detach(self) -> None:
        self._loop = self._request = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self._loop is None or self._request is None:
            raise KeyboardInterrupt
        # os.write, not print: a handler may interrupt a write to stderr in progress.
        if self.count > 1:
            os.write(2, b"\ndataflow run: second Ctrl-C, exiting now\n")
            os._exit(EXIT_INTERRUPTED)
        os.write(2, b"\ndataflow run: stopping (Ctrl-C again to exit at once)\n")
        self._loop.call_soon_threadsafe(self._request)


def _run_with_interrupts(runtime: GraphRuntime) -> tuple[RunResult, bool]:
    """Run to the end or to Ctrl-C; the result and whether it was stopped."""
    interrupts = _Interrupts()
    # Only the main thread may set handlers; an inherited SIG_IGN (nohup, `cmd &` in a
    # script) is kept, as Python itself keeps it.
    handle = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    )
    previous = signal.signal(signal.SIGINT, interrupts) if handle else None
    try:
        return asyncio.run(_drive(runtime, interrupts))
    finally:
        if handle:
            signal.signal(signal.SIGINT, previous)


async def _drive(runtime: GraphRuntime, interrupts: _Interrupts) -> tuple[RunResult, bool]:
    stop = asyncio.Event()
    interrupts.attach(asyncio.get_running_loop(), stop.set)
    try:
        await runtime.start()
        while runtime.running and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), _POLL_S)
        # Also collects a run that ended by itself: stop() then returns its result.
        result = await runtime.stop(drain=True, timeout=_DRAIN_S)
    finally:
        interrupts.detach()
        await runtime.aclose()
    if result is None:
        msg = "the runtime returned no result"
        raise RuntimeError(msg)
    return result, stop.is_set()


# -- output --------------------------------------------------------------------------------


def _summary(
    graph: Graph, runtime: GraphRuntime, result: RunResult, *, stopped: bool, quiet: bool
) -> str:
    seconds = f"{result.duration_s:.3f} s"
    head = (
        f"stopped graph {graph.id!r} {graph.version} after {seconds} (interrupted)"
        if stopped
        else f"finished graph {graph.id!r} {graph.version} in {seconds}"
    )
    errors, letters = len(result.errors), len(runtime.dlq)
    if quiet:
        total = sum(result.counts.get(key, len(kept)) for key, kept in result.packets.items())
        return f"{head}: {total} outputs, {errors} errors, {letters} dead letters"
    lines = [head, "nodes:"]
    table = result.stats.nodes.to_string() if len(result.stats.nodes) else "(none)"
    lines += [f"  {line}" for line in table.splitlines()]
    lines += preview(result, _width())
    lines.append(f"errors: {errors}")
    for error in result.errors[:_SHOWN_ERRORS]:
        message = error.message.splitlines()[0] if error.message else ""
        lines.append(f"  {error.node_id}: {error.code}: {message}")
    if errors > _SHOWN_ERRORS:
        lines.append(f"  ... and {errors - _SHOWN_ERRORS} more")
    lines.append(f"dead letters: {letters}")
    return "\n".join(lines)


def _width() -> int:
    """The terminal's width (``COLUMNS`` when set; 100 when not a terminal), within 60..200."""
    return min(max(shutil.get_terminal_size((100, 24)).columns, 60), 200)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
