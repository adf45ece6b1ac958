"""The canvas widget: ``GraphEditor`` (anywidget) and its message protocol (``protocol``).

Modules: ``editor`` (the widget and its Python API), ``control`` (the runtime behind an
editor, its runs and steps), ``status`` (the run as the canvas sees it, coalesced),
``inspection`` (pages of packets as Arrow IPC), ``catalog`` (node specs and connection
rules for the palette), ``messages`` (checking what the front end sends) and ``protocol``
(the message contract, mirrored by ``labextension/src/protocol.ts``).
"""

from __future__ import annotations

from dataflow_jupyter.widget.editor import GraphEditor

__all__ = ["GraphEditor"]
