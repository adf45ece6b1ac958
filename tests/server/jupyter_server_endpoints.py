"""The server extension's endpoints, against a real Jupyter server (jupyter_server's pytest
plugin, ``pytest_jupyter``). Run by ``test_server_extension.py`` in a pytest of its own: the
plugin replaces pytest-asyncio's event loop handling for every test of a session."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from dataflow_jupyter import Graph, NodeRegistry
from dataflow_jupyter.graph import MAX_FILE_BYTES
from dataflow_jupyter.widget.catalog import build_catalog

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config() -> dict[str, object]:
    return {"ServerApp": {"jpserver_extensions": {"dataflow_jupyter.server": True}}}


def _graph() -> Graph:
    graph = Graph("prices")
    graph.add_node("inject", settings={"value": {"price": 3}, "count": 1})
    graph.add_node("filter", settings={"expression": "value['price'] > 2"})
    graph.connect("n1.out", "n2.in")
    return graph


async def test_without_a_token_both_endpoints_answer_403(jp_fetch) -> None:
    for method, body in (("GET", None), ("POST", _graph().to_json())):
        with pytest.raises(HTTPClientError) as refused:
            await jp_fetch(
                "dataflow",
                "catalog" if method == "GET" else "validate",
                method=method,
                body=body,
                headers={"Authorization": ""},
            )
        assert refused.value.code == 403


async def test_catalog_is_the_registry_of_the_server_environment(jp_fetch) -> None:
    response = await jp_fetch("dataflow", "catalog")
    catalog = json.loads(response.body)
    expected = build_catalog(NodeRegistry.default())
    assert catalog["nodes"] == expected["nodes"]
    assert catalog["connections"] == expected["connections"]
    assert {"inject", "filter", "python-function"} <= {spec["id"] for spec in catalog["nodes"]}


async def test_validate_accepts_a_valid_graph(jp_fetch) -> None:
    response = await jp_fetch("dataflow", "validate", method="POST", body=_graph().to_json())
    assert json.loads(response.body) == {"valid": True, "problems": [], "nodes": {}}


async def test_validate_lists_graph_and_node_problems(jp_fetch) -> None:
    graph = _graph()
    graph.add_node("filter", settings={"expression": "value >"})  # n3: in not connected
    graph.add_node("no-such-node", "1.0.0")
    response = await jp_fetch("dataflow", "validate", method="POST", body=graph.to_json())
    answer = json.loads(response.body)
    assert answer["valid"] is False
    assert answer["problems"] == graph.problems(NodeRegistry.default())
    assert set(answer["nodes"]) == {"n3", "n4"}
    assert "no-such-node" in answer["nodes"]["n4"][0]


async def test_validate_reports_a_broken_document_without_raising(jp_fetch) -> None:
    response = await jp_fetch("dataflow", "validate", method="POST", body='{"id": "g", "nodes": [')
    answer = json.loads(response.body)
    assert answer["valid"] is False
    assert "line 1" in answer["problems"][0]


async def test_validate_refuses_a_body_over_the_loaders_limit(jp_fetch) -> None:
    body = (
        '{"id": "g", "version": "1.0.0", "metadata": {"description": "'
        + ("x" * MAX_FILE_BYTES)
        + '"}}'
    )
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("dataflow", "validate", method="POST", body=body)
    assert refused.value.code == 413
    assert "limit" in json.loads(refused.value.response.body)["message"]


async def test_validate_runs_no_code_from_the_graph(jp_fetch, tmp_path: Path, monkeypatch) -> None:
    # A module that leaves a mark when imported, importable from the server's process.
    marker = tmp_path / "imported"
    (tmp_path / "planted_module.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "def run(value):\n    return value\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DATAFLOW_PYTHON_MODULES", raising=False)
    graph = Graph("attack")
    graph.add_node("inject", settings={"value": 1})
    graph.add_node("python-function", settings={"function": "planted_module:run"})
    graph.add_node("python-function", settings={"function": "os:system"})
    graph.connect("n1.out", "n2.in")
    graph.connect("n1.out", "n3.in")
    text = graph.to_json().replace(
        '"targetPort": "in"\n',
        f'"targetPort": "in",\n      "filter": "__import__(\'os\').system(\'touch {marker}\')"\n',
        1,
    )
    response = await jp_fetch("dataflow", "validate", method="POST", body=text)
    answer = json.loads(response.body)
    assert answer["valid"] is False
    assert "DATAFLOW_PYTHON_MODULES" in " ".join(answer["nodes"]["n2"])
    assert answer["nodes"]["n3"]  # os:system is refused whatever the list says
    assert not marker.exists()
    assert "planted_module" not in sys.modules
