from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dataflow_jupyter

ROOT = Path(__file__).resolve().parents[1]
WIDGET_MODULES = ("dataflow_jupyter.widget", "anywidget", "ipywidgets", "traitlets", "IPython")
DASK_MODULES = ("dask", "distributed", "dataflow_jupyter.executors.dask")


def readme_api() -> list[str]:
    """The names the README's table "The public API" lists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### The public API", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line]
    return sorted(name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[2]))


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert dataflow_jupyter.__all__ == sorted(dataflow_jupyter.__all__)
    for name in dataflow_jupyter.__all__:
        assert getattr(dataflow_jupyter, name) is not None, name


def test_the_readme_lists_exactly_the_public_api() -> None:
    assert readme_api() == sorted(dataflow_jupyter.__all__)


def test_nothing_else_is_public_at_the_top_level() -> None:
    public = {
        name
        for name, value in vars(dataflow_jupyter).items()
        if not name.startswith("_")
        and type(value).__name__ != "module"
        and name not in {"TYPE_CHECKING", "Any"}
    }
    assert public <= set(dataflow_jupyter.__all__)


def test_every_public_name_is_documented() -> None:
    undocumented = [
        name
        for name in dataflow_jupyter.__all__
        if callable(getattr(dataflow_jupyter, name))
        and not (getattr(dataflow_jupyter, name).__doc__ or "").strip()
    ]
    assert undocumented == []


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert dataflow_jupyter.__version__ == version("dataflow-jupyter")


def test_an_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        dataflow_jupyter.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_a_headless_run_imports_no_widget_code(tmp_path: Path) -> None:
    """``dataflow run`` (and a script's ``GraphRuntime``) never load the widget: only
    ``GraphEditor`` does, on first use. Nor Dask: only ``dataflow run --dask`` does."""
    graph = tmp_path / "g.dfgraph.json"
    script = textwrap.dedent(
        f"""
        import json, sys
        from dataflow_jupyter import Graph
        g = Graph(id="headless")
        src = g.add_node("inject", settings={{"value": 1, "count": 2}})
        g.connect(src, "out", g.add_node("debug-log"), "in")
        g.save({str(graph)!r})
        from dataflow_jupyter.cli import main
        code = main(["run", {str(graph)!r}, "--quiet"])
        before = sorted(m for m in sys.modules if m.startswith({WIDGET_MODULES!r}))
        dask = sorted(m for m in sys.modules if m.split(".")[0] in {DASK_MODULES[:2]!r}
                      or m == {DASK_MODULES[2]!r})
        import dataflow_jupyter
        dataflow_jupyter.GraphEditor
        after = "dataflow_jupyter.widget" in sys.modules
        print(json.dumps({{"code": code, "loaded": before + dask, "after": after}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": [], "after": True}, done.stderr[-2000:]


def test_no_module_is_named_like_a_standard_library_module() -> None:
    """``runtime/inspect.py`` once shadowed ``inspect`` for every module beside it."""
    package = ROOT / "dataflow_jupyter"
    clashes = [
        str(path.relative_to(ROOT))
        for path in package.rglob("*.py")
        if (path.parent.name if path.stem == "__init__" else path.stem) in sys.stdlib_module_names
    ]
    assert clashes == []
