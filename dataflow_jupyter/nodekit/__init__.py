"""nodekit: the one helper package node packs may import.

A node folder's ``node.py`` imports ``dataflow_jupyter.node``, ``packets``, ``ports``,
``expressions`` and this package, nothing else of ``dataflow_jupyter`` (``docs/design.md``
§2): what several node types need lives here once, instead of in each folder, and a pack
written outside this repository gets the same helpers as the built-in nodes.

- ``nodekit.web``: one HTTP attempt (``fetch``) as a response object or the ErrorPacket it
  becomes (timeouts, connection failures, retryable statuses); ``check_url`` and
  ``check_headers`` for the settings of HTTP nodes. Used by ``http-request`` and
  ``http-poller``.
- ``nodekit.tables``: the table of file extensions and formats (``EXTENSIONS``,
  ``format_for``, ``csv_delimiter``). Used by ``read-file`` and ``write-file``.
- ``nodekit.settings``: settings checks whose refusals read alike (``settings_where``,
  ``column_names``). Used by the table nodes and the other nodes that check settings.

Layering: nodekit sits above ``node``, ``packets``, ``ports`` and ``dataroot``, which it may
import, and below ``registry``; nothing in the package itself (registry, graph, executors,
runtime) imports it: it is for node code only (import-linter holds both rules).
Each module is imported on its own (``from dataflow_jupyter.nodekit.web import fetch``);
this ``__init__`` imports none of them, so a node that reads files does not load aiohttp.
"""
