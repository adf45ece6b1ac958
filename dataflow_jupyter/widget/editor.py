"""GraphEditor: the canvas widget (anywidget), and its Python API.

Three synced traits and nothing else of ours: ``graph`` (the GraphSchema document, as
``Graph.to_dict()`` makes it), ``catalog`` (``catalog.build_catalog``: node specs and
connection rules) and ``status`` (``protocol.StatusSnapshot``, set by the status board).

The ``graph`` trait is the source of truth for drafts. The canvas writes it when a drag
stops or a structural edit ends, and the editor takes it as it is: a draft may be
incomplete, so validation happens on deploy, run and step (and ``to_graph()`` raises for an
invalid one). Python edits (``add_node``, ``connect``, ...) read the document into a
``Graph``, change it and set the trait to a new dict, so the canvas redraws; node and edge
ids are kept across every round trip (never renumbered). A document is read once: the
editor keeps the ``Graph`` (or the problems) of the document the trait holds, so an edit,
the canvas's node problems and a snapshot share one reading.

The snapshot outputs (the picture a saved notebook keeps) follow the document. On the
kernel's loop they are redrawn at once after a change, and then at most once per
``_SNAPSHOT_DELAY`` seconds while changes keep coming (a drag, a burst of Python edits): the
last document is always drawn, the ones in between are skipped.

Messages (``protocol``) are read by ``messages.parse_message``; a malformed or unknown one
is logged as a warning on the logger ``dataflow_jupyter.widget`` and answered with nothing.
JupyterLab 4.6 with ipykernel 7 delivers widget messages on a kernel subshell, a thread with
its own loop; the editor hands each message to the loop it was made on (the kernel's), so
runs, steps and the status board only ever live on that one loop.
Handlers never raise and never block: runs and steps are tasks on the kernel's loop
(``control.RunControl``), and nothing awaits a reply from the front end. ``inspect`` is
answered with an Arrow IPC stream in the buffers (``inspection``), ``load-layout-engine``
with the source of elkjs's worker.

The bundle (``static/canvas.js`` and ``canvas.css``) is built by ``npm run build`` in
``labextension/`` (the package build does it). anywidget reads the files when this class is
made; when they are missing the class still imports, and the constructor says what to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anywidget
import traitlets

from dataflow_jupyter._aio import running_loop as _running_loop
from dataflow_jupyter.expressions import ExpressionError
from dataflow_jupyter.graph import Graph, GraphValidationError
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.runtime import NodeStartError
from dataflow_jupyter.widget.catalog import build_catalog
from dataflow_jupyter.widget.control import RunControl, loop_or_raise
from dataflow_jupyter.widget.inspection import answer_inspect, frame_for
from dataflow_jupyter.widget.messages import MalformedMessage, parse_message
from dataflow_jupyter.widget.snapshot import snapshot_html
from dataflow_jupyter.widget.status import StatusBoard

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    import pandas as pd

    from dataflow_jupyter.executors import Executor
    from dataflow_jupyter.graph import GraphNode
    from dataflow_jupyter.runtime import Debugger, GraphRuntime
    from dataflow_jupyter.widget.protocol import (
        DeployResultMessage,
        GraphProblemsMessage,
        LayoutEngineMessage,
        NodeExecutionErrorMessage,
        NodeStatusMessage,
        StatusSnapshot,
    )

__all__ = ["GraphEditor"]

_log = logging.getLogger("dataflow_jupyter.widget")
_T = TypeVar("_T")
_KERNEL_TRAITS = frozenset({"status", "catalog"})  # synced to the front end, never from it
_STATIC = Path(__file__).resolve().parent.parent / "static"
_ESM_FILE = _STATIC / "canvas.js"
_CSS_FILE = _STATIC / "canvas.css"
_LAYOUT_FILE = _STATIC / "elk-worker.min.js"
_NOT_BUILT = "// dataflow-jupyter: the canvas bundle was not built\nexport default {};\n"
_NODE_SPACING = 300.0  # how far right of the rightmost node add_node places a new one (240 wide)
_BUILD_HINT = "run `npm run build` in labextension/ (or reinstall dataflow-jupyter)"
_SNAPSHOT_DELAY = 0.25  # at most one snapshot redraw per this many seconds (on a running loop)


def _asset(path: Path) -> Path | str:
    return path if path.is_file() else _NOT_BUILT


class GraphEditor(anywidget.AnyWidget):
    """A node-graph canvas in the notebook, backed by a ``Graph`` and a ``GraphRuntime``.

    ``GraphEditor(graph=None, registry=None, runtime=None, executor=None)``: ``graph`` is a
    ``Graph``, a document dict, a path to a ``.dfgraph.json`` file, or ``None`` (an empty
    graph called ``canvas``; with ``runtime``, that runtime's graph). ``registry`` defaults
    to the runtime's, then the graph's, then ``NodeRegistry.default()``. ``executor`` runs
    every ``GraphRuntime`` the editor makes (``GraphEditor(g, executor=DaskExecutor())``:
    the nodes set to ``execution.offload: cluster`` fire on Dask, the canvas tags them
    ``cluster`` and links the Dask dashboard); the editor never closes it: close it yourself
    when done (``await executor.close()``). Without it, each runtime has its own local
    thread executor. Opened from a file, the
    editor remembers it (``path``): ``save()`` writes the canvas back in ``Graph.save``'s
    format and ``reload()`` reads the file again (after it was edited in its own tab).
    """

    _esm = _asset(_ESM_FILE)
    _css = _asset(_CSS_FILE)

    graph = traitlets.Dict().tag(sync=True)
    catalog = traitlets.Dict().tag(sync=True)
    status = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        graph: Graph | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        registry: NodeRegistry | None = None,
        runtime: GraphRuntime | None = None,
        executor: Executor | None = None,
    ) -> None:
        _check_assets(type(self))
        if registry is None:
            if runtime is not None:
                registry = runtime.registry
            elif isinstance(graph, Graph) and graph.registry is not None:
                registry = graph.registry
            else:
                registry = NodeRegistry.default()
        self._registry = registry
        document = _document(graph, runtime, registry)
        super().__init__(graph=document, catalog=build_catalog(registry))
        self.path = Path(graph) if isinstance(graph, str | os.PathLike) else None
        self._board = StatusBoard(_Sink(self))
        self._control = RunControl(self._board, registry, runtime, executor)
        self.status = dict(self._board.snapshot())
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "deploy-graph": self._on_deploy_graph,
            "run": self._on_run,
            "stop": self._on_stop,
            "step": self._on_step,
            "set-breakpoint": self._on_set_breakpoint,
            "inspect": self._on_inspect,
            "load-layout-engine": self._on_load_layout_engine,
        }
        self._loop = _running_loop()  # the kernel's loop: messages are handled on it
        self._snapshots: list[Any] = []  # display handles of the snapshot outputs
        self._redraw: asyncio.TimerHandle | None = None  # the end of the redraw window
        self._redraw_due = False  # the document changed within the window
        # the document last read, and what it gave: a Graph, or the problems of a draft
        self._reading: tuple[object, Graph | None, list[str]] = ({}, None, [])
        self.on_msg(self._on_message)
        self.observe(self._on_graph_change, names="graph")

    # -- the graph -----------------------------------------------------------------------------

    @property
    def registry(self) -> NodeRegistry:
        """The node types the canvas offers and the graph is checked against."""
        return self._registry

    @property
    def runtime(self) -> GraphRuntime | None:
        """The runtime of the last run or step (or the one passed in); ``None`` before any."""
        return self._control.runtime

    def to_graph(self) -> Graph:
        """The canvas's graph as a ``Graph``; ``GraphValidationError`` listing every problem."""
        graph = Graph.from_dict(self.graph, registry=self._registry)  # the caller's own copy
        graph.validate(self._registry)
        return graph

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the canvas's graph to ``path`` (default: the file it was opened from) as
        ``Graph.save`` does; return the path. A graph with problems is saved all the same
        (as a document editor saves); its shape must be valid."""
        target = Path(path) if path is not None else self.path
        if target is None:
            msg = (
                "this GraphEditor was not opened from a file, so save() needs a path: "
                "editor.save('my-graph.dfgraph.json')"
            )
            raise ValueError(msg)
        Graph.from_dict(self.graph, registry=self._registry).save(target)
        self.path = target
        return target

    def reload(self) -> None:
        """Read the file the editor was opened from (or last saved to) again."""
        if self.path is None:
            msg = (
                "this GraphEditor has no file to reload: open one with "
                "GraphEditor('x.dfgraph.json')"
            )
            raise ValueError(msg)
        self.graph = Graph.load(self.path, registry=self._registry).to_dict()

    def problems(self) -> list[str]:
        """Every problem of the canvas's graph (empty when it may run)."""
        return self._checked()[1]

    def add_node(
        self,
        type_id: str,
        version: str | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        position: tuple[float, float] | Mapping[str, float] | None = None,
        id: str | None = None,
        execution: Mapping[str, Any] | None = None,
    ) -> str:
        """Add a node and return its id, as ``Graph.add_node`` does (``execution``: where it
        runs, such as ``{"offload": "cluster", "parallelism": 4}``).

        Without ``position`` the node goes right of the rightmost one.
        """

        def add(graph: Graph) -> str:
            where = _next_position(graph) if position is None else position
            return graph.add_node(
                type_id,
                version,
                settings=settings,
                position=where,
                id=id,
                registry=self._registry,
                execution=execution,
            )

        return self._edit(add)

    def connect(
        self,
        source: str,
        source_port: str,
        target: str | None = None,
        target_port: str | None = None,
        **options: Any,
    ) -> str:
        """Connect an output to an input and return the edge id, as ``Graph.connect`` does.

        ``connect("n1", "out", "n2", "in")`` or ``connect("n1.out", "n2.in")``; ``options``
        are ``transform``, ``filter``, ``buffer``, ``id`` and ``force``. A connection the
        canvas would refuse (a port the node does not have, port types that may not connect)
        raises ``GraphValidationError`` in the canvas's words and changes nothing;
        ``force=True`` records it anyway, and the canvas draws it as invalid.
        """
        return self._edit(lambda g: g.connect(source, source_port, target, target_port, **options))

    def update_node(
        self,
        node_id: str,
        *,
        version: str | None = None,
        settings: Mapping[str, Any] | None = None,
        position: tuple[float, float] | Mapping[str, float] | None = None,
        execution: Mapping[str, Any] | None = None,
    ) -> GraphNode:
        """Replace a node's version, settings (all of them), position or execution override
        (all of it; ``{}`` removes it); return the new node."""
        return self._edit(
            lambda g: g.update_node(
                node_id,
                version=version,
                settings=settings,
                position=position,
                execution=execution,
            )
        )

    def remove_node(self, node_id: str) -> list[str]:
        """Remove a node and the edges touching it; return the removed edges' ids."""
        return self._edit(lambda g: g.remove_node(node_id))

    def remove_edge(self, edge_id: str) -> None:
        """Remove an edge."""
        self._edit(lambda g: g.remove_edge(edge_id))

    def _edit(self, change: Callable[[Graph], _T]) -> _T:
        """Apply ``change`` to a ``Graph`` read from the document, and set the new document
        (a change that raises leaves the document as it was)."""
        graph = Graph.from_dict(self.graph, registry=self._registry)
        result = change(graph)
        document = graph.to_dict()
        self._reading = (document, graph, [])  # the observers read it from here
        self.graph = document
        return result

    def _read(self) -> tuple[Graph | None, list[str]]:
        """The document as a ``Graph`` (read once per document), or ``None`` and the
        problems of a draft it cannot describe yet. Callers do not change the ``Graph``."""
        document, graph, problems = self._reading
        if document is not self.graph:
            try:
                graph, problems = Graph.from_dict(self.graph, registry=self._registry), []
            except GraphValidationError as exc:
                graph, problems = None, list(exc.problems)
            self._reading = (self.graph, graph, problems)
        return graph, problems

    def _checked(self) -> tuple[Graph | None, list[str]]:
        graph, problems = self._read()
        if graph is None:
            return None, problems
        problems = graph.problems(self._registry)
        return (None if problems else graph), problems

    # -- running -------------------------------------------------------------------------------

    def run(self) -> None:
        """Start a run on the kernel's loop and return at once (like the Run button).

        The canvas shows it as it goes; ``await editor.wait()`` waits for the end. Raises
        ``GraphValidationError`` for an invalid graph and ``RuntimeError`` when a run goes on
        or no loop runs (a plain script: use ``GraphRuntime(editor.to_graph()).run()``).
        """
        self._control.run(self.to_graph())

    def stop(self) -> None:
        """Stop the run (sources stop, in-flight packets drain), or end the stepping."""
        self._control.stop()

    def step(self) -> None:
        """One step on the kernel's loop, after this cell (like the Step button).

        To step inside a cell and get the ``Step`` back, use ``editor.debugger().step()``:
        the canvas follows every debugger of the editor's runtime.
        """
        loop_or_raise("step()")
        self._control.step(self.to_graph())

    def debugger(self) -> Debugger:
        """The editor's debugger (opened if needed, with the canvas's breakpoints)."""
        return self._control.open_debugger(self.to_graph())

    def set_breakpoint(
        self, node_id: str, *, enabled: bool = True, condition: str | None = None
    ) -> None:
        """Set (or with ``enabled=False`` clear) a breakpoint, as the canvas does.

        ``condition`` is an expression on the node's input (``value``, ``packet``): the
        debugger stops only where it holds; the canvas shows it on the node. ``ValueError``
        for a node that is not in the canvas's graph, ``ExpressionError`` for a condition
        that is not a valid expression.
        """
        nodes = self.graph.get("nodes")
        ids = {n.get("id") for n in nodes if isinstance(n, dict)} if isinstance(nodes, list) else ()
        self._control.set_breakpoint(
            node_id, enabled=enabled, nodes={*ids} - {None}, condition=condition
        )

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """A trait update from the front end: only ``graph`` is the front end's to write.

        ``status`` and ``catalog`` belong to the kernel; a write to them is dropped and the
        front end is sent the kernel's value back.
        """
        refused = sorted(set(sync_data) & _KERNEL_TRAITS)
        if refused:
            _log.warning("ignored a front-end write to the kernel's trait(s) %s", refused)
            self.send_state(refused)
        super().set_state({k: v for k, v in sync_data.items() if k not in _KERNEL_TRAITS})

    async def wait(self) -> None:
        """Wait until the runs, steps and stops started so far have ended.

        The ``status`` trait is current when this returns.
        """
        await self._control.wait()
        self._board.flush(snapshot=True)

    def inspect(self, where: str) -> pd.DataFrame:
        """The last packets at ``"node.port"`` (or at an edge id) as the inspector shows them.

        ``KeyError`` names the known ports; ``RuntimeError`` says to run the graph first.
        """
        return frame_for(self.runtime, where)

    def close(self) -> None:
        """Close the widget, its debugger and the runtime it made (not one passed in)."""
        control = getattr(self, "_control", None)
        if control is not None:
            control.close()
        super().close()

    def __del__(self) -> None:
        control = getattr(self, "_control", None)
        if control is not None:
            control.close(release=False)  # no loop work at garbage collection
            del self._control
        super().__del__()

    # -- the snapshot output ------------------------------------------------------------------

    def _ipython_display_(self) -> None:
        """Show the canvas, then a snapshot of its graph as a second output.

        Each graph shows once, live or not (issue 11):

        - the canvas output is the widget view with an empty ``text/plain`` (never the
          object's repr, which nbconvert and untrusted notebooks would print);
        - the snapshot output carries the picture (``text/html``: an ``<img>`` of the SVG and
          a stylesheet; ``image/svg+xml``; the document; ``text/plain``). While the canvas is
          live, the canvas's stylesheet hides the snapshot; without a kernel, the snapshot's
          stylesheet hides the canvas output before it, which would otherwise say "Error
          displaying widget: model not found" (JupyterLab, Notebook 7) or print an empty
          line (nbconvert). Every change of the graph updates the snapshot in place.
        """
        from IPython.display import display  # noqa: PLC0415 - only where a notebook shows us

        bundle: Any = self._repr_mimebundle_()
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})  # anywidget: a pair
        data = {**data, "text/plain": ""}
        display(data, metadata=metadata, raw=True)  # type: ignore[no-untyped-call]
        graph, _ = self._read()
        if graph is not None:
            handle = display(_snapshot(graph), raw=True, display_id=True)  # type: ignore[no-untyped-call]
            if handle is not None:
                self._snapshots.append(handle)

    def _on_graph_change(self, _change: Any) -> None:
        self._on_kernel_loop(self._after_graph_change)

    def _after_graph_change(self) -> None:
        """The canvas hears each node's own problems in the changed document (settings are
        checked when they are set), and the snapshot outputs follow it."""
        graph, _ = self._read()
        # a broken document has no node problems of its own: deploy-result says why
        nodes = graph.node_problems(self._registry) if graph is not None else {}
        answer: GraphProblemsMessage = {"type": "graph-problems", "nodes": nodes}
        self.send(answer)
        if not self._snapshots:
            return
        if self._redraw is not None:  # drawn a moment ago: once more when the window ends
            self._redraw_due = True
            return
        self._update_snapshots()

    def _window_ended(self) -> None:
        self._redraw = None
        if self._redraw_due:  # the document changed during the window: draw the last one
            self._redraw_due = False
            self._update_snapshots()

    def _update_snapshots(self) -> None:
        """Redraw the snapshot outputs from the document (a draft keeps the last snapshot);
        on a running loop, the next redraw waits for the end of a ``_SNAPSHOT_DELAY`` window."""
        loop = _running_loop()
        if loop is not None:
            self._redraw = loop.call_later(_SNAPSHOT_DELAY, self._window_ended)
        graph, _ = self._read()
        if graph is not None:
            snapshot = _snapshot(graph)
            for handle in self._snapshots:
                handle.update(snapshot, raw=True)

    # -- messages ------------------------------------------------------------------------------

    def _on_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        self._on_kernel_loop(self._handle_message, content)

    def _on_kernel_loop(self, callback: Callable[..., None], *args: Any) -> None:
        """Call ``callback`` on the loop the editor was made on (the kernel's), now if we are on it.

        JupyterLab 4.6 with ipykernel 7 delivers widget messages and trait updates on a kernel
        *subshell*: another thread with its own loop. Runs, steps, the status board and the
        snapshot output live on the kernel's main loop, so the work is handed over there.
        """
        loop = self._loop
        if loop is not None and loop.is_running() and _running_loop() is not loop:
            loop.call_soon_threadsafe(callback, *args)
        else:
            callback(*args)

    def _handle_message(self, content: Any) -> None:
        try:
            message = parse_message(content)
        except MalformedMessage as exc:
            _log.warning("ignored a message from the canvas: %s", exc)
            return
        try:
            self._handlers[message["type"]](message)
        except Exception:  # noqa: BLE001 - a handler never raises into the comm
            _log.exception("the canvas's %r message failed", message["type"])

    def _deploy_result(self, problems: list[str]) -> None:
        answer: DeployResultMessage = {
            "type": "deploy-result",
            "ok": not problems,
            "problems": problems,
        }
        self.send(answer)

    def _on_deploy_graph(self, message: dict[str, Any]) -> None:
        self.graph = dict(message["graph"])
        self._deploy_result(self.problems())

    def _valid_graph(self) -> Graph | None:
        graph, problems = self._checked()
        if graph is None:
            self._deploy_result(problems)
            self._board.refuse(problems)  # the nodes the problems name show them
        return graph

    def _on_run(self, _message: dict[str, Any]) -> None:
        graph = self._valid_graph()
        if graph is not None:
            self._start(self._control.run, graph)

    def _on_step(self, _message: dict[str, Any]) -> None:
        graph = self._valid_graph()
        if graph is not None:
            self._start(self._control.step, graph)

    def _start(self, action: Callable[[Graph], object], graph: Graph) -> None:
        try:
            action(graph)
        except NodeStartError as exc:  # a node cannot be made: the node shows it
            self._board.fail(exc)
        except RuntimeError as exc:  # a run goes on, or no loop: say so on the canvas
            self._board.set_message(str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. a node that cannot be made
            self._board.fail(exc)

    def _on_stop(self, _message: dict[str, Any]) -> None:
        self._control.stop()

    def _on_set_breakpoint(self, message: dict[str, Any]) -> None:
        try:
            self.set_breakpoint(
                message["node"], enabled=message["enabled"], condition=message["condition"]
            )
        except ExpressionError as exc:  # the canvas lists it with the other problems
            self._deploy_result([f"breakpoint on {message['node']}: {exc}"])
            self._board.resend()
        except ValueError as exc:
            _log.warning("ignored the canvas's set-breakpoint: %s", exc)
            self._board.resend()  # the canvas showed it at once: take it back

    def _on_inspect(self, message: dict[str, Any]) -> None:
        answer, buffers = answer_inspect(self.runtime, message)
        self.send(answer, buffers=buffers or None)

    def _on_load_layout_engine(self, _message: dict[str, Any]) -> None:
        try:
            source = _LAYOUT_FILE.read_bytes()
        except OSError as exc:
            problem = (
                f"layout engine missing: {_LAYOUT_FILE} ({exc.strerror or exc}); {_BUILD_HINT}"
            )
            self._deploy_result([problem])
            return
        answer: LayoutEngineMessage = {"type": "layout-engine"}
        self.send(answer, buffers=[source])


class _Sink:
    """Where the status board writes: the editor's messages and its ``status`` trait."""

    def __init__(self, editor: GraphEditor) -> None:
        self._editor = editor

    def send_status(self, message: NodeStatusMessage) -> None:
        self._editor.send(message)

    def send_error(self, message: NodeExecutionErrorMessage) -> None:
        self._editor.send(message)

    def set_snapshot(self, snapshot: StatusSnapshot) -> None:
        self._editor.status = dict(snapshot)


def _check_assets(cls: type) -> None:
    missing = [path for path in (_ESM_FILE, _CSS_FILE) if not path.is_file()]
    if missing:
        names = ", ".join(str(path) for path in missing)
        msg = f"the canvas is not built: {names} missing; {_BUILD_HINT}"
        raise FileNotFoundError(msg)
    if getattr(cls, "_esm", None) == _NOT_BUILT:
        msg = (
            "the canvas was built after dataflow_jupyter.widget was imported: restart the "
            "kernel to load it"
        )
        raise RuntimeError(msg)


def _document(
    graph: object, runtime: GraphRuntime | None, registry: NodeRegistry
) -> dict[str, Any]:
    if graph is None:
        if runtime is not None:
            return runtime.graph.to_dict()
        return Graph(id="canvas", version="1.0.0", registry=registry).to_dict()
    if isinstance(graph, Graph):
        return graph.to_dict()
    if isinstance(graph, Mapping):
        return Graph.from_dict(graph, registry=registry).to_dict()
    if isinstance(graph, str | os.PathLike):
        return Graph.load(graph, registry=registry).to_dict()
    msg = (
        "GraphEditor(graph=...) takes a Graph, a document dict, a path to a .dfgraph.json "
        f"file or None; got {type(graph).__name__}"
    )
    raise TypeError(msg)


def _next_position(graph: Graph) -> tuple[float, float]:
    if not graph.nodes:
        return (0.0, 0.0)
    rightmost = max(graph.nodes, key=lambda node: node.position.x)
    return (rightmost.position.x + _NODE_SPACING, rightmost.position.y)


def _snapshot(graph: Graph) -> dict[str, Any]:
    """The output a saved notebook keeps of the canvas: the graph's picture and document."""
    bundle = graph._repr_mimebundle_()
    bundle["text/plain"] = f"{bundle['text/plain']} (a snapshot of the canvas above)"
    svg = bundle.get("image/svg+xml")
    if isinstance(svg, str):
        bundle["text/html"] = snapshot_html(graph, svg)
    return bundle
