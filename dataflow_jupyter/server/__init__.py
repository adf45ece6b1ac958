"""The Jupyter server extension: what the JupyterLab extension asks the server for.

``GET /dataflow/catalog``
    the node catalog of the server's environment (``NodeRegistry.default()``), in the shape
    of the canvas's ``catalog`` trait (``widget/catalog.py``). Each request discovers the
    node packs again, so the canvas's "Refresh nodes" sees a pack installed since.
``POST /dataflow/validate``
    the body is a graph document (the text of a ``.dfgraph.json`` file); the answer is
    ``{"valid", "problems", "nodes"}``: every problem ``Graph.validate`` reports and each
    node's own problems (``Graph.node_problems``), with the registry of the last catalog.

Both require the Jupyter server's authentication (a token or a login; 403 without). The
body is read within the loader's limit (``MAX_FILE_BYTES``, 413 above it) and checked as
``Graph.load`` checks a file. Nothing in the document runs: expressions are parsed, never
evaluated; a ``code-ref`` setting imports only a module the server's user listed in
``DATAFLOW_PYTHON_MODULES`` (``coderef``); node classes come from the node packs installed
in the server's environment, never from the request.

The extension is switched on by ``etc/jupyter/jupyter_server_config.d/dataflow_jupyter.json``,
which the wheel installs; its handlers live in ``handlers.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataflow_jupyter.server.handlers import setup_handlers

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

__all__ = ["setup_handlers"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "dataflow_jupyter.server"}]


def _load_jupyter_server_extension(server_app: ServerApp) -> None:
    setup_handlers(server_app.web_app)
    server_app.log.info("dataflow-jupyter: /dataflow/catalog and /dataflow/validate are served")
