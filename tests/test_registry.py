from __future__ import annotations

import json
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from dataflow_jupyter import NodeRegistry, PureNode, RegistryWarning, UnknownNodeError
from dataflow_jupyter.registry import NODES_PATH_ENV, NodeLoadError

NODE_PY = """
from dataflow_jupyter.node import PureNode

{extra}

class Echo(PureNode):
    def process(self, inputs, ctx):
        return {{"out": inputs["in"]}}
"""


def make_node(
    root: Path,
    type_id: str,
    version: str = "1.0.0",
    *,
    folder: str | None = None,
    extra: str = "",
    **fields: Any,
) -> Path:
    path = root / "Test" / (folder or f"{type_id}-{version}")
    path.mkdir(parents=True)
    schema = {
        "id": type_id,
        "version": version,
        "category": "Test",
        "name": type_id.title(),
        "ports": {"inputs": [{"name": "in"}], "outputs": [{"name": "out"}]},
        **fields,
    }
    (path / "schema.json").write_text(json.dumps(schema), encoding="utf-8")
    (path / "node.py").write_text(textwrap.dedent(NODE_PY.format(extra=extra)), encoding="utf-8")
    return path


def registry(*paths: Path) -> NodeRegistry:
    return NodeRegistry(paths=paths, include_builtin=False)


def test_several_versions_of_one_id_live_side_by_side(tmp_path: Path) -> None:
    for version in ("1.0.0", "1.10.0", "1.2.0"):
        make_node(tmp_path, "echo", version)
    reg = registry(tmp_path)
    assert reg.versions("echo") == ["1.0.0", "1.2.0", "1.10.0"]
    assert reg.latest("echo").spec.version == "1.10.0"
    assert reg.get("echo", "1.2.0").spec.version == "1.2.0"
    assert reg.problems == []


def test_a_missing_version_fails_with_the_installed_ones(tmp_path: Path) -> None:
    make_node(tmp_path, "echo", "1.0.0")
    make_node(tmp_path, "echo", "2.0.0")
    with pytest.raises(UnknownNodeError, match=r"installed: 1\.0\.0, 2\.0\.0"):
        registry(tmp_path).get("echo", "1.5.0")


def test_an_unknown_id_suggests_close_ones(tmp_path: Path) -> None:
    make_node(tmp_path, "echo")
    with pytest.raises(UnknownNodeError, match="did you mean 'echo'"):
        registry(tmp_path).get("ecco", "1.0.0")


def test_node_py_is_imported_lazily_and_once(tmp_path: Path) -> None:
    marker = tmp_path / "imported.txt"
    extra = f"open({str(marker)!r}, 'a').write('x')"
    make_node(tmp_path / "pack", "echo", extra=extra)
    reg = registry(tmp_path / "pack")
    assert not marker.exists()
    node_class = reg.get("echo", "1.0.0").load()
    assert reg.get("echo", "1.0.0").load() is node_class
    assert marker.read_text() == "x"
    assert issubclass(node_class, PureNode)
    assert node_class.spec.id == "echo"
    node = node_class("n1")
    assert node.version == "1.0.0"


def test_min_runtime_above_ours_is_a_problem(tmp_path: Path) -> None:
    folder = make_node(tmp_path, "future", compatibility={"minRuntime": "99.0.0"})
    with pytest.warns(RegistryWarning, match="needs runtime >= 99.0.0"):
        reg = registry(tmp_path)
    assert [p.path for p in reg.problems] == [folder]
    assert "future" not in reg.ids()


def test_a_duplicate_is_refused_naming_both_paths(tmp_path: Path) -> None:
    first = make_node(tmp_path, "echo", folder="a")
    second = make_node(tmp_path, "echo", folder="b")
    with pytest.warns(RegistryWarning, match="duplicate node type echo 1.0.0"):
        reg = registry(tmp_path)
    assert reg.get("echo", "1.0.0").path == first
    (problem,) = reg.problems
    assert problem.path == second
    assert str(first) in problem.reason


def test_a_broken_folder_never_stops_the_others(tmp_path: Path) -> None:
    make_node(tmp_path, "good")
    bad = tmp_path / "Test" / "bad"
    bad.mkdir()
    (bad / "schema.json").write_text("{not json", encoding="utf-8")
    with pytest.warns(RegistryWarning, match="not valid JSON"):
        reg = registry(tmp_path)
    assert reg.ids() == ["good"]
    assert reg.problems[0].path == bad


def test_an_import_error_is_reported_on_load(tmp_path: Path) -> None:
    folder = make_node(tmp_path, "broken", extra="import no_such_module_here")
    reg = registry(tmp_path)
    with pytest.warns(RegistryWarning), pytest.raises(NodeLoadError, match="no_such_module_here"):
        reg.get("broken", "1.0.0").load()
    assert reg.problems[0].path == folder
    with pytest.raises(NodeLoadError):  # reported once, fails the same way after
        reg.get("broken", "1.0.0").load()
    assert len(reg.problems) == 1


def test_discovery_order_builtin_env_cwd_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_a, env_b, cwd = tmp_path / "env_a", tmp_path / "env_b", tmp_path / "work"
    make_node(env_a, "from-env-a")
    make_node(env_b, "from-env-b")
    make_node(cwd / "nodes", "from-cwd")
    monkeypatch.setenv(NODES_PATH_ENV, f"{env_a}:{env_b}")
    monkeypatch.chdir(cwd)
    monkeypatch.setattr("dataflow_jupyter.registry.entry_points", lambda group: [])
    reg = NodeRegistry.default()
    sources = {t.spec.id: t.source for t in reg}
    assert sources["from-env-a"] == sources["from-env-b"] == NODES_PATH_ENV
    assert sources["from-cwd"] == "cwd"
    assert sources["inject"] == sources["debug-log"] == "builtin"
    # the first one found wins: a ./nodes copy of a built-in id and version is a duplicate
    make_node(cwd / "nodes", "inject", folder="shadow")
    with pytest.warns(RegistryWarning, match="duplicate node type inject 1.0.0"):
        again = NodeRegistry.default()
    assert again.get("inject", "1.0.0").source == "builtin"


def test_entry_points_are_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "my_node_pack"
    make_node(package, "from-plugin")
    (package / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    good = EntryPoint(name="mine", value="my_node_pack", group="dataflow_jupyter.nodes")
    broken = EntryPoint(name="broken", value="no_such_pack", group="dataflow_jupyter.nodes")
    monkeypatch.setattr("dataflow_jupyter.registry.entry_points", lambda group: [good, broken])
    with pytest.warns(RegistryWarning, match="loading the entry point failed"):
        reg = NodeRegistry(include_builtin=False, include_entry_points=True)
    assert reg.get("from-plugin", "1.0.0").source == "entry point mine"
    sys.modules.pop("my_node_pack", None)


def test_a_missing_folder_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    with pytest.warns(RegistryWarning, match="does not exist"):
        reg = registry(tmp_path / "nowhere")
    assert len(reg) == 0


def test_the_catalog_as_specs_and_as_a_frame() -> None:
    reg = NodeRegistry()
    ids = [spec.id for spec in reg.catalog()]
    assert {"inject", "debug-log"} <= set(ids)
    frame = reg.catalog_frame()
    assert list(frame.columns[:4]) == ["id", "version", "category", "name"]
    assert frame.set_index("id").loc["inject", "outputs"] == "out: any"
