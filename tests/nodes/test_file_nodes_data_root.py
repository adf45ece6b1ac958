"""read-file, write-file and file state stay inside the data root (SECURITY.md, 'Files').

A graph file names paths; the runtime resolves them against the data root (the graph file's
folder, else ``DATAFLOW_DATA_ROOT``'s, else the working folder), which only code widens.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from _table_nodes import node_registry, run_graph

from dataflow_jupyter import Graph
from dataflow_jupyter.runtime import GraphRuntime

if TYPE_CHECKING:
    from pathlib import Path

    from dataflow_jupyter.registry import NodeRegistry
    from dataflow_jupyter.runtime import RunResult


@pytest.fixture
def registry() -> NodeRegistry:
    return node_registry()


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """``tmp/project`` (the graph's folder, with in.csv) and ``tmp/home`` (outside it)."""
    monkeypatch.delenv("DATAFLOW_DATA_ROOT")
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    pcsv.write_csv(pa.table({"a": [1, 2]}), project / "in.csv")
    (home / "secret.csv").write_text("password\nhunter2\n")
    (home / ".bashrc").write_text("# mine\n")
    monkeypatch.chdir(home)  # the working folder is not what counts for a loaded graph
    return {"project": project, "home": home}


def loaded(graph: Graph, folder: Path, registry: NodeRegistry) -> Graph:
    """``graph`` saved in ``folder`` and loaded back, as someone who received it would."""
    return Graph.load(graph.save(folder / f"{graph.id}.dfgraph.json"), registry=registry)


def read_graph(registry: NodeRegistry, path: str) -> Graph:
    graph = Graph(id="reader", registry=registry)
    node = graph.add_node("read-file", settings={"path": path, "format": "csv"}, id="rd")
    log = graph.add_node("debug-log", id="log")
    graph.connect(node, "error", log, "in")
    return graph


def write_graph(registry: NodeRegistry, path: str, **settings: Any) -> Graph:
    graph = Graph(id="writer", registry=registry)
    src = graph.add_node("table-source", settings={"tables": [{"x": [1]}]}, id="src")
    node = graph.add_node("write-file", settings={"path": path, **settings}, id="wr")
    log = graph.add_node("debug-log", id="log")
    graph.connect(src, "out", node, "in")
    graph.connect(node, "error", log, "in")
    return graph


def error_of(result: RunResult) -> str:
    (error,) = result.outputs["log.out"]
    return str(error.message)


def test_a_loaded_graph_reads_relative_paths_from_its_own_folder(
    registry: NodeRegistry, folders: dict[str, Path]
) -> None:
    graph = loaded(read_graph(registry, "in.csv"), folders["project"], registry)
    assert graph.folder == folders["project"]
    result = run_graph(graph, registry)
    (table,) = result.outputs["rd.out"]
    assert table.to_pydict() == {"a": [1, 2]}


@pytest.mark.parametrize("where", ["../home/secret.csv", "/etc/passwd", "{home}/secret.csv"])
def test_read_file_cannot_leave_the_graph_folder(
    registry: NodeRegistry, folders: dict[str, Path], where: str
) -> None:
    path = where.format(home=folders["home"])
    graph = loaded(read_graph(registry, path), folders["project"], registry)
    message = error_of(run_graph(graph, registry))
    assert message.startswith(f"read-file (node 'rd'): cannot read {path!r} as csv: ")
    assert "paths stay inside the data root" in message
    assert str(folders["project"]) in message


def test_read_file_cannot_follow_a_link_out_of_the_root(
    registry: NodeRegistry, folders: dict[str, Path]
) -> None:
    (folders["project"] / "data.csv").symlink_to(folders["home"] / "secret.csv")
    graph = loaded(read_graph(registry, "data.csv"), folders["project"], registry)
    assert "through a symbolic link" in error_of(run_graph(graph, registry))


@pytest.mark.timeout(60)
def test_read_file_refuses_a_fifo_without_waiting_on_it(
    registry: NodeRegistry, folders: dict[str, Path]
) -> None:
    fifo = folders["project"] / "pipe.csv"
    os.mkfifo(fifo)
    try:
        graph = loaded(read_graph(registry, "pipe.csv"), folders["project"], registry)
        assert "is a FIFO (named pipe), not a regular file" in error_of(run_graph(graph, registry))
    finally:  # should the read have blocked after all, a reader-writer open releases it
        os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))


def test_code_widens_the_root_and_a_graph_file_cannot(
    registry: NodeRegistry, folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = loaded(read_graph(registry, "../home/secret.csv"), folders["project"], registry)
    runtime = GraphRuntime(graph, registry, data_root=folders["project"].parent)
    try:
        (table,) = runtime.run().outputs["rd.out"]
    finally:
        runtime.close()
    assert table.to_pydict() == {"password": ["hunter2"]}
    monkeypatch.setenv("DATAFLOW_DATA_ROOT", str(folders["home"]))
    graph = loaded(read_graph(registry, "secret.csv"), folders["project"], registry)
    (table,) = run_graph(graph, registry).outputs["rd.out"]
    assert table.to_pydict() == {"password": ["hunter2"]}
    # There is no key for it in the document: a graph that tries one is refused.
    document = graph.to_dict()
    document["config"]["dataRoot"] = "/"
    with pytest.raises(ValueError, match="dataRoot"):
        Graph.from_dict(document, registry=registry)


@pytest.mark.parametrize("where", ["../home/.bashrc", "{home}/.bashrc"])
def test_write_file_cannot_leave_the_root(
    registry: NodeRegistry, folders: dict[str, Path], where: str
) -> None:
    path = where.format(home=folders["home"])
    graph = loaded(write_graph(registry, path, format="csv"), folders["project"], registry)
    assert "paths stay inside the data root" in error_of(run_graph(graph, registry))
    assert (folders["home"] / ".bashrc").read_text() == "# mine\n"


def test_write_file_never_writes_through_a_symlink(
    registry: NodeRegistry, folders: dict[str, Path]
) -> None:
    (folders["project"] / "out.csv").symlink_to(folders["home"] / ".bashrc")
    (folders["project"] / "copy.csv").symlink_to(folders["project"] / "in.csv")
    for name in ("out.csv", "copy.csv"):
        graph = loaded(write_graph(registry, name), folders["project"], registry)
        assert "is a symbolic link" in error_of(run_graph(graph, registry))
    assert (folders["home"] / ".bashrc").read_text() == "# mine\n"
    assert (folders["project"] / "in.csv").read_text() == '"a"\n1\n2\n'


def test_write_file_creates_folders_inside_the_root_and_never_outside(
    registry: NodeRegistry, folders: dict[str, Path]
) -> None:
    graph = loaded(write_graph(registry, "out/day/x.parquet"), folders["project"], registry)
    result = run_graph(graph, registry)
    assert result.outputs["wr.out"] == [{"path": "out/day/x.parquet", "rows": 1, "totalRows": 1}]
    assert (folders["project"] / "out" / "day" / "x.parquet").is_file()
    graph = loaded(write_graph(registry, "../made/up/x.csv"), folders["project"], registry)
    assert "climbs out of the data root" in error_of(run_graph(graph, registry))
    assert not (folders["project"].parent / "made").exists()
    (folders["project"] / "away").symlink_to(folders["home"])
    graph = loaded(write_graph(registry, "away/made/x.csv"), folders["project"], registry)
    assert "through a symbolic link" in error_of(run_graph(graph, registry))
    assert not (folders["home"] / "made").exists()


@pytest.mark.parametrize("where", ["../state", "/tmp/dataflow-elsewhere", "{home}/state"])
def test_state_storage_path_stays_inside_the_root(
    registry: NodeRegistry, folders: dict[str, Path], where: str
) -> None:
    graph = Graph(id="stateful", registry=registry)
    graph.add_node("inject", settings={"value": 1}, id="src")
    document = graph.to_dict()
    document["config"]["stateStorage"] = {"type": "file", "path": where.format(**folders)}
    path = folders["project"] / "stateful.dfgraph.json"
    path.write_text(json.dumps(document))
    graph = Graph.load(path, registry=registry)
    with pytest.raises(PermissionError, match=r"config\.stateStorage\.path: path .* data root"):
        GraphRuntime(graph, registry)
    assert not (folders["project"].parent / "state").exists()
    assert not (folders["home"] / "state").exists()


def test_file_state_defaults_to_a_folder_inside_the_root(
    registry: NodeRegistry, folders: dict[str, Path]
) -> None:
    graph = Graph(id="stateful", registry=registry)
    graph.add_node("inject", settings={"value": 1}, id="src")
    document = graph.to_dict()
    document["config"]["stateStorage"] = {"type": "file"}
    path = folders["project"] / "stateful.dfgraph.json"
    path.write_text(json.dumps(document))
    runtime = GraphRuntime(Graph.load(path, registry=registry), registry)
    try:
        assert str(runtime.state) == repr(runtime.state)
        assert (folders["project"] / ".dataflow-state" / "stateful").is_dir()
    finally:
        runtime.close()
