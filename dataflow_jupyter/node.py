"""Node classes: what a node pack's ``node.py`` subclasses.

```python
class Filter(PureNode):
    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any] | None:
        return {"out": inputs["in"]} if keep(inputs["in"].value) else None
```

- ``process`` may be ``def`` (the runtime runs it inline in its dispatcher or in a worker
  thread, as measurement decides, unless the spec's ``execution.offload`` says ``none`` or
  ``thread``; see ``runtime._placement``) or ``async def`` (run on the loop). It returns
  ``{port: value_or_packet}``; a plain value is wrapped into a packet derived from the
  inputs; ``None`` emits nothing. ``ctx.emit(port, value)`` emits more than once.
- End of stream: when an input port is closed (every edge into it finished) and drained,
  the optional ``input_finished(port, ctx)`` hook runs; when every input is (for a source:
  once ``run`` returned), the optional ``finish(ctx)`` hook runs, then the node's outputs
  close. Both may be ``def`` or ``async def`` and emit like ``process`` (a returned dict or
  ``ctx.emit``); what they emit starts a new trace. Whole-input nodes (a total, a sort, the
  build side of a join) emit there. ``ctx.done()`` says a node wants no more input: what
  still comes is discarded (counted), ``finish`` runs and the outputs close.
- ``PureNode``: output depends only on inputs and settings.
- ``StatefulNode``: adds ``self.state``, a namespaced view of the runtime's ``StateAdapter``.
- ``IONode``: talks to the world; ``setup()``/``teardown()`` open and close connections, and
  a source implements ``async def run(self, ctx)``, looping on ``await ctx.emit(...)``.

A node class knows its spec (``cls.spec``, bound by the registry from ``schema.json``) and so
its version. An instance holds its id and its validated settings, and ``data_root``: the
folder its file paths resolve against, bound by the runtime (``dataflow_jupyter.dataroot``).
"""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from dataflow_jupyter.dataroot import DataRoot
from dataflow_jupyter.packets import ErrorPacket
from dataflow_jupyter.state import NamespacedState, StateAdapter

if TYPE_CHECKING:
    from dataflow_jupyter.packets import DataPacket
    from dataflow_jupyter.spec import NodeSpec

__all__ = [
    "DataFlowNode",
    "Emitter",
    "IONode",
    "NodeContext",
    "ProcessResult",
    "PureNode",
    "StatefulNode",
]

_log = logging.getLogger("dataflow_jupyter.nodes")

Emitter = Callable[[str, Any], Awaitable[None]]
ProcessResult = Mapping[str, Any] | ErrorPacket | None


class NodeContext:
    """What a firing sees besides its inputs: its node id, trace, a logger and ``emit``."""

    __slots__ = ("_emit", "log", "node_id", "trace_id", "wants_no_more")

    def __init__(
        self,
        node_id: str,
        emit: Emitter,
        *,
        trace_id: str | None = None,
        log: logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.node_id = node_id
        self.trace_id = trace_id
        self.log = log or logging.LoggerAdapter(_log, {"node_id": node_id})
        self._emit = emit
        self.wants_no_more = False

    def emit(self, port: str, value: Any) -> Awaitable[None]:
        """Send ``value`` (or a packet) on ``port``; await it to honour backpressure."""
        return self._emit(port, value)

    def done(self) -> None:
        """Say the node wants no more input (``head`` once it has its rows).

        After this firing the runtime discards what is queued and what still arrives on the
        node's inputs (counted as ``discarded`` on their edges), runs ``finish`` and closes
        the node's outputs. Upstream nodes that nobody listens to any more stop too.
        """
        self.wants_no_more = True


class DataFlowNode(ABC):
    """Base of every node class. Subclass ``PureNode``, ``StatefulNode`` or ``IONode``."""

    spec: ClassVar[NodeSpec]

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        spec: NodeSpec | None = getattr(type(self), "spec", None)
        if spec is None:
            msg = (
                f"node class {type(self).__qualname__} has no spec; load it through a "
                "NodeRegistry (which binds schema.json) or set the class attribute 'spec'"
            )
            raise TypeError(msg)
        self.node_id = node_id
        self.settings: dict[str, Any] = spec.validate_settings(dict(settings or {}))
        self._data_root: DataRoot | None = None

    def bind_data_root(self, root: DataRoot) -> None:
        """Give the node the folder its file paths resolve against (the runtime's data root)."""
        self._data_root = root

    @property
    def data_root(self) -> DataRoot:
        """Where file paths resolve (``dataflow_jupyter.dataroot``); unbound: the default root."""
        return self._data_root if self._data_root is not None else DataRoot.choose()

    @property
    def version(self) -> str:
        """The version of this node's type."""
        return self.spec.version

    @classmethod
    def settings_problems(cls, node_id: str, settings: Mapping[str, Any]) -> list[str]:
        """What the node refuses in ``settings`` beyond their declared types (empty if fine).

        ``Graph.validate`` (and so the canvas and ``dataflow validate``) asks this, so a
        setting is refused when it is set, not when the graph runs. By default it builds the
        node and reports what the constructor raises: a node pack writes its checks once, in
        ``__init__`` (raise ``ValueError`` saying what, expected, got). A node whose
        constructor does more than check (it never should) overrides this.
        """
        try:
            cls(node_id, settings)
        except Exception as exc:  # noqa: BLE001 - any refusal is a problem to report
            return [str(exc) or type(exc).__name__]
        return []

    async def setup(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Open what the node needs (connections, files). Called once before the first firing."""

    async def teardown(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Close what ``setup`` opened. Called once, also after a failure or cancellation."""

    def input_finished(
        self, port: str, ctx: NodeContext
    ) -> ProcessResult | Awaitable[ProcessResult]:
        """End of stream on input ``port``: every edge into it finished and it is drained.

        Runs once per port, in a firing of its own; may emit like ``process``. Default:
        nothing (the runtime skips the call).
        """
        return None

    def finish(self, ctx: NodeContext) -> ProcessResult | Awaitable[ProcessResult]:
        """End of stream on every input (a source: ``run`` returned); then the outputs close.

        Runs once, in a firing of its own; may emit like ``process`` (a total, a sorted
        table). Default: nothing (the runtime skips the call).
        """
        return None

    def columns_needed(
        self, port: str, downstream: Mapping[str, frozenset[str] | None]
    ) -> frozenset[str] | None:
        """The columns of the tables arriving on input ``port`` that this node and what
        follows it use; ``None``: every column (the default: a node that does not say gets
        the tables whole).

        ``downstream`` gives, per output port, the columns its consumers use (``None``: all,
        or not known). Before a run the runtime asks this from the graph's ends backwards and
        tells each node what its consumers use (``project``): see
        ``dataflow_jupyter.runtime._pushdown``. Answer for every table the port may see.
        """
        return None

    def project(self, port: str, columns: frozenset[str]) -> None:  # noqa: B027 - optional
        """Before a run: the consumers of output ``port`` use only ``columns`` of its tables.

        The node may leave the other columns out of what it sends there (``read-file`` then
        reads only those from the file). Default: nothing.
        """

    @classmethod
    def hooks_end_of_stream(cls) -> tuple[bool, bool]:
        """Whether the class overrides ``input_finished`` and ``finish``."""
        return (
            cls.input_finished is not DataFlowNode.input_finished,
            cls.finish is not DataFlowNode.finish,
        )

    @classmethod
    def process_is_async(cls) -> bool:
        """Whether ``process`` is a coroutine function (run on the loop, not in a thread)."""
        return inspect.iscoroutinefunction(getattr(cls, "process", None))

    @classmethod
    def is_source(cls) -> bool:
        """Whether the node produces packets on its own (an ``IONode`` with ``run``)."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.node_id!r} {self.spec.id} {self.spec.version}>"


class PureNode(DataFlowNode):
    """A node whose outputs depend only on its inputs and settings."""

    @abstractmethod
    def process(
        self, inputs: dict[str, DataPacket], ctx: NodeContext
    ) -> ProcessResult | Awaitable[ProcessResult]:
        """Turn one set of inputs into outputs (``{port: value}``), or ``None`` to emit nothing."""


class StatefulNode(DataFlowNode):
    """A node that keeps state between firings in ``self.state`` (bound by the runtime)."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self._state: NamespacedState | None = None

    def bind_state(self, adapter: StateAdapter, namespace: str) -> None:
        """Give the node its view of the runtime's state, under ``namespace``."""
        self._state = NamespacedState(adapter, namespace)

    @property
    def state(self) -> NamespacedState:
        """The node's namespaced state."""
        if self._state is None:
            msg = (
                f"node {self.node_id!r} has no state yet; the runtime binds it before the first "
                "firing (in a test, call node.bind_state(MemoryState(), 'graph/node'))"
            )
            raise RuntimeError(msg)
        return self._state

    @abstractmethod
    def process(
        self, inputs: dict[str, DataPacket], ctx: NodeContext
    ) -> ProcessResult | Awaitable[ProcessResult]:
        """Turn one set of inputs (and the state) into outputs."""


class IONode(DataFlowNode):
    """A node that talks to the outside world.

    A source overrides ``async def run(self, ctx)`` and loops on ``await ctx.emit(...)``
    until it is done or cancelled. A node driven by inputs overrides ``process``.
    """

    async def run(self, ctx: NodeContext) -> None:
        """The source loop. The base class has none: ``is_source()`` tells whether it is one."""

    def expected_packets(self) -> int | None:
        """How many packets this source will emit in all, when it knows; else ``None``.

        Progress displays show a percentage when every source of a run knows its total.
        """
        return None

    def process(
        self, inputs: dict[str, DataPacket], ctx: NodeContext
    ) -> ProcessResult | Awaitable[ProcessResult]:
        """Handle one set of inputs. By default an IONode consumes them and emits nothing."""
        return None

    @classmethod
    def is_source(cls) -> bool:
        return cls.run is not IONode.run
