"""The editor's snapshot output as HTML: each graph shows once, with or without a kernel.

``GraphEditor`` displays the canvas (a widget view whose ``text/plain`` is empty), then a
snapshot of its graph: the ``Graph`` bundle (SVG picture, document, text) plus the HTML made
here, an ``<img>`` of the picture and a stylesheet. Live, the canvas's stylesheet hides the
snapshot after it. Without a kernel (JupyterLab, Notebook 7, nbconvert's HTML), the
snapshot's stylesheet hides the output before it, the widget view, which could only say
"Error displaying widget: model not found" (or print an empty line).
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dataflow_jupyter.graph import Graph

__all__ = ["snapshot_html"]

# Without a kernel, the output just before a snapshot (the canvas's widget view, which can
# only say "Error displaying widget: model not found" then) is hidden; a live canvas in it
# keeps it shown. The same classes are used by JupyterLab, Notebook 7 and nbconvert's HTML.
_SNAPSHOT_STYLE = (
    ".jp-OutputArea-child:has(+ .jp-OutputArea-child .dfj-snapshot):not(:has(.dfj-canvas))"
    "{display:none}"
)


def snapshot_html(graph: Graph, svg: str) -> str:
    """The snapshot as HTML: the stylesheet above and the picture as an ``<img>``.

    An ``<img>`` of a data URL, not inline SVG: a sanitizer that drops it (an untrusted
    notebook) leaves its ``alt`` text, never the SVG's loose words.
    """
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    nodes, edges = len(graph.nodes), len(graph.edges)
    alt = html.escape(
        f"graph {graph.id}: {nodes} node{'' if nodes == 1 else 's'}, "
        f"{edges} edge{'' if edges == 1 else 's'}",
        quote=True,
    )
    return (
        f'<div class="dfj-snapshot"><style>{_SNAPSHOT_STYLE}</style>'
        f'<img alt="{alt}" style="max-width:100%" src="data:image/svg+xml;base64,{data}"/></div>'
    )
