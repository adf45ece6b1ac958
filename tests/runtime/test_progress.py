"""The progress line knows the total when every source says how many packets it will emit."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from dataflow_jupyter import IONode, NodeRegistry
from dataflow_jupyter.runtime._progress import expected_total
from dataflow_jupyter.testing import spec

REGISTRY = NodeRegistry(paths=[])


class Endless(IONode):
    async def run(self, ctx: Any) -> None: ...


class Broken(IONode):
    def expected_packets(self) -> int | None:
        msg = "cannot tell"
        raise RuntimeError(msg)

    async def run(self, ctx: Any) -> None: ...


REGISTRY.register(spec("endless", [], ["out"]), Endless)
REGISTRY.register(spec("broken", [], ["out"]), Broken)


def inject(count: int, interval: float = 0) -> IONode:
    node_class = REGISTRY.get("inject", "1.0.0").load()
    node: IONode = node_class(f"inject{count}", {"count": count, "intervalMs": interval})
    return node


def session(*sources: IONode, inner: int = 1) -> Any:
    runs = [SimpleNamespace(is_source=True, instance=s, node_id=s.node_id) for s in sources]
    runs += [SimpleNamespace(is_source=False, instance=None, node_id="x")] * inner
    return SimpleNamespace(runs=runs)


def test_injects_with_a_count_add_up() -> None:
    assert expected_total(session(inject(5), inject(7))) == 12


def test_an_endless_or_unknowing_source_means_no_total() -> None:
    assert expected_total(session(inject(5), inject(0, interval=10))) is None
    assert expected_total(session(inject(5), Endless("e"))) is None


def test_a_failing_count_means_no_total(caplog: Any) -> None:
    assert expected_total(session(Broken("b"))) is None
    assert "b: expected_packets() failed" in caplog.text


def test_no_source_no_total() -> None:
    assert expected_total(session()) is None


def test_the_line_shows_in_a_kernel_not_in_a_process_that_imported_ipykernel(
    monkeypatch: Any,
) -> None:
    """A process that starts kernels (nbclient) imports ipykernel.kernelspec: no kernel."""
    import sys
    import types

    from dataflow_jupyter.runtime import _progress as progress

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    assert not progress._in_a_kernel()
    shell = types.SimpleNamespace(kernel=object())
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    assert progress._in_a_kernel()
