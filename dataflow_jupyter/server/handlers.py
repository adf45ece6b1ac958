"""The handlers of ``/dataflow/catalog`` and ``/dataflow/validate`` (see ``__init__``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from dataflow_jupyter.graph import MAX_FILE_BYTES, Graph, GraphValidationError
from dataflow_jupyter.registry import NodeRegistry
from dataflow_jupyter.widget.catalog import build_catalog

__all__ = ["CatalogHandler", "ValidateHandler", "setup_handlers"]

_REGISTRY = "dataflow_jupyter.registry"


def _registry(settings: dict[str, Any], *, fresh: bool) -> NodeRegistry:
    """The server's registry: discovered again when ``fresh``, else the last one discovered."""
    found = settings.get(_REGISTRY)
    if fresh or not isinstance(found, NodeRegistry):
        found = NodeRegistry.default()
        settings[_REGISTRY] = found
    return found


def _validate(body: bytes, registry: NodeRegistry) -> dict[str, Any]:
    try:
        graph = Graph.from_json(body, registry=registry, source="the posted document")
    except GraphValidationError as exc:
        return {"valid": False, "problems": exc.problems, "nodes": {}}
    problems = graph.problems(registry)
    nodes = graph.node_problems(registry)
    return {"valid": not problems, "problems": problems, "nodes": nodes}


class CatalogHandler(APIHandler):
    """``GET /dataflow/catalog``: every node spec installed, and the connection rules."""

    @tornado.web.authenticated
    async def get(self) -> None:
        settings = self.settings

        def catalog() -> dict[str, Any]:
            registry = _registry(settings, fresh=True)
            found = build_catalog(registry)
            found["problems"] = [str(problem) for problem in registry.problems]
            return found

        self.finish(json.dumps(await asyncio.to_thread(catalog)))


class ValidateHandler(APIHandler):
    """``POST /dataflow/validate``: the problems of the posted graph document."""

    @tornado.web.authenticated
    async def post(self) -> None:
        declared = self.request.headers.get("Content-Length")
        body = self.request.body
        size = max(len(body), int(declared) if declared and declared.isdigit() else 0)
        if size > MAX_FILE_BYTES:
            msg = (
                f"the graph document holds {size} bytes; the limit is {MAX_FILE_BYTES} "
                f"({MAX_FILE_BYTES >> 20} MiB), as for a .dfgraph.json file. Split the graph."
            )
            raise tornado.web.HTTPError(413, msg, reason="Graph document too large")
        settings = self.settings
        answer = await asyncio.to_thread(lambda: _validate(body, _registry(settings, fresh=False)))
        self.finish(json.dumps(answer))


def setup_handlers(web_app: tornado.web.Application) -> None:
    """Adds the two handlers under the server's base URL."""
    base = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "dataflow", "catalog"), CatalogHandler),
            (url_path_join(base, "dataflow", "validate"), ValidateHandler),
        ],
    )
