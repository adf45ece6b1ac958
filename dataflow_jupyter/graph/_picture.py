"""A static SVG picture of a graph, so shared notebooks show their graphs without a kernel.

``Graph._repr_mimebundle_`` puts it beside the document (``application/vnd.dataflow.graph+json``)
and ``text/plain``: GitHub, nbviewer, VS Code and JupyterLab without a kernel show the picture.

Each node is a box with its type's colour (``ui.color``) and name, its id, one row per
port (inputs on the left, outputs on the right) and, under them, its key settings: the ones
set to something else than the spec's default (all of them for an unknown type), at most
``_MAX_SETTINGS`` as ``name: value`` (the value as compact JSON, truncated); each edge is a
curve from its output port to its input port, labelled with its filter or transform when it
has one. Nodes stand where
their ``position`` says; when two nodes share a position (a graph built in Python without
positions), the picture places every node by level instead (sources on the left), leaving
the graph untouched. Text is escaped; a node whose type is not installed is drawn grey with
the ports its edges name.

It draws from plain values (the graph's id, its node and edge descriptions, its levels and
a registry), never from the ``Graph`` class, so ``_graph`` imports this module and not the
other way round.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from html import escape
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dataflow_jupyter.graph._model import GraphEdge, GraphNode
    from dataflow_jupyter.registry import NodeRegistry

__all__ = ["graph_svg"]

_WIDTH: Final = 190
_HEADER: Final = 26
_ROW: Final = 18
_MARGIN: Final = 24
_LEVEL_GAP: Final = 80
_ROW_GAP: Final = 28
_MAX_WIDTH: Final = 960
_MAX_SETTINGS: Final = 3
_SETTING_CHARS: Final = 30
_UNKNOWN_COLOR: Final = "#94a3b8"
_FONT: Final = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"


@dataclass(frozen=True, slots=True)
class _Box:
    node: GraphNode
    name: str
    color: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    settings: tuple[str, ...] = ()
    x: float = 0.0
    y: float = 0.0

    @property
    def ports_height(self) -> float:
        return _ROW * max(len(self.inputs), len(self.outputs), 1)

    @property
    def height(self) -> float:
        settings = _ROW * len(self.settings) + 4 if self.settings else 0
        return _HEADER + self.ports_height + settings + 8

    def port_y(self, port: str, side: tuple[str, ...]) -> float:
        index = side.index(port) if port in side else 0
        return self.y + _HEADER + _ROW * index + _ROW / 2 + 4


def graph_svg(
    graph_id: str,
    nodes: Sequence[GraphNode],
    edges: Sequence[GraphEdge],
    levels: Sequence[Sequence[str]] | None,
    registry: NodeRegistry | None,
) -> str:
    """The graph as a standalone SVG document (a string).

    ``levels`` are ``GraphAnalysis.levels`` (``None`` with a cycle): where nodes stand when
    their positions overlap.
    """
    boxes = _placed([_box(node, edges, registry) for node in nodes], levels)
    if not boxes:
        return _document(240, 60, [_text(16, 34, f"{graph_id}: an empty graph", "#64748b")])
    left = min(b.x for b in boxes.values()) - _MARGIN
    top = min(b.y for b in boxes.values()) - _MARGIN
    right = max(b.x + _WIDTH for b in boxes.values()) + _MARGIN
    bottom = max(b.y + b.height for b in boxes.values()) + _MARGIN
    parts = [f'<g transform="translate({-left:.1f},{-top:.1f})">']
    labels = []
    for edge in edges:
        source, target = boxes.get(edge.source), boxes.get(edge.target)
        if source is not None and target is not None:
            path, label = _edge(source, edge.source_port, target, edge.target_port)
            parts.append(path)
            if edge.filter or edge.transform:
                labels.append(_label(label, edge.filter or edge.transform or ""))
    parts.extend(_node(box) for box in boxes.values())
    parts.extend(labels)  # over the nodes, so a label between two close nodes stays readable
    parts.append("</g>")
    return _document(right - left, bottom - top, parts, title=f"graph {graph_id}")


def _box(node: GraphNode, edges: Sequence[GraphEdge], registry: NodeRegistry | None) -> _Box:
    spec = None
    if registry is not None and registry.has(node.type_id, node.version):
        spec = registry.spec(node.type_id, node.version)
    if spec is not None:
        defaults = {setting.name: setting.default for setting in spec.settings}
        order = [setting.name for setting in spec.settings]
        return _Box(
            node,
            spec.name,
            spec.ui.color,
            tuple(port.name for port in spec.ports.inputs),
            tuple(port.name for port in spec.ports.outputs),
            _key_settings(node.settings, defaults, order),
        )
    inputs = tuple(dict.fromkeys(e.target_port for e in edges if e.target == node.id))
    outputs = tuple(dict.fromkeys(e.source_port for e in edges if e.source == node.id))
    settings = _key_settings(node.settings, {}, list(node.settings))
    return _Box(node, f"{node.type_id} {node.version}", _UNKNOWN_COLOR, inputs, outputs, settings)


def _key_settings(
    settings: dict[str, Any], defaults: dict[str, Any], order: list[str]
) -> tuple[str, ...]:
    """``name: value`` of the settings that differ from their default, in the spec's order."""
    names = [n for n in order if n in settings] + [n for n in settings if n not in order]
    changed = [n for n in names if n not in defaults or settings[n] != defaults[n]]
    lines = []
    for name in changed[:_MAX_SETTINGS]:
        value = settings[name]
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        lines.append(_clip(f"{name}: {text}", _SETTING_CHARS))
    if len(changed) > _MAX_SETTINGS:
        lines[-1] = _clip(f"{lines[-1]} (+{len(changed) - _MAX_SETTINGS} more)", _SETTING_CHARS)
    return tuple(lines)


def _placed(boxes: list[_Box], levels: Sequence[Sequence[str]] | None) -> dict[str, _Box]:
    spots = Counter((b.node.position.x, b.node.position.y) for b in boxes)
    if max(spots.values(), default=1) == 1 or levels is None:
        return {b.node.id: replace(b, x=b.node.position.x, y=b.node.position.y) for b in boxes}
    by_id = {b.node.id: b for b in boxes}
    placed: dict[str, _Box] = {}
    for column, level in enumerate(levels):
        y = 0.0
        for node_id in level:
            box = by_id[node_id]
            placed[node_id] = replace(box, x=column * (_WIDTH + _LEVEL_GAP), y=y)
            y += box.height + _ROW_GAP
    return placed


def _edge(source: _Box, out: str, target: _Box, into: str) -> tuple[str, tuple[float, float]]:
    """The edge's curve, and the point where its label goes."""
    x1, y1 = source.x + _WIDTH, source.port_y(out, source.outputs)
    x2, y2 = target.x, target.port_y(into, target.inputs)
    bend = max(40.0, abs(x2 - x1) / 2)
    path = (
        f'<path d="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} '
        f'{x2:.1f},{y2:.1f}" fill="none" stroke="#94a3b8" stroke-width="1.6"/>'
    )
    return path, ((x1 + x2) / 2, (y1 + y2) / 2 - 5)


def _label(at: tuple[float, float], text: str) -> str:
    halo = '<g stroke="#ffffff" stroke-width="3" paint-order="stroke">'
    return halo + _text(at[0], at[1], _clip(text, 28), "#475569", anchor="middle") + "</g>"


def _node(box: _Box) -> str:
    x, y, w, h = box.x, box.y, _WIDTH, box.height
    parts = [
        f"<g><title>{escape(box.node.id)}: {escape(box.name)}</title>",
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w}" height="{h:.1f}" rx="6" fill="#ffffff" '
        'stroke="#cbd5e1"/>',
        f'<path d="M{x:.1f},{y + 6:.1f} a6,6 0 0 1 6,-6 h{w - 12} a6,6 0 0 1 6,6 '
        f'v{_HEADER - 6} h-{w} z" fill="{escape(box.color)}"/>',
        _text(x + 8, y + 17, _clip(box.name, 18), "#ffffff", weight="600"),
        _text(x + w - 8, y + 17, _clip(box.node.id, 10), "#ffffff", anchor="end", size=10),
    ]
    for port in box.inputs:
        py = box.port_y(port, box.inputs)
        parts.append(f'<circle cx="{x:.1f}" cy="{py:.1f}" r="3.5" fill="#64748b"/>')
        parts.append(_text(x + 8, py + 4, _clip(port, 12), "#334155"))
    for port in box.outputs:
        py = box.port_y(port, box.outputs)
        parts.append(f'<circle cx="{x + w:.1f}" cy="{py:.1f}" r="3.5" fill="#64748b"/>')
        parts.append(_text(x + w - 8, py + 4, _clip(port, 12), "#334155", anchor="end"))
    if box.settings:
        top = y + _HEADER + box.ports_height + 4
        parts.append(
            f'<line x1="{x + 6:.1f}" y1="{top:.1f}" x2="{x + w - 6:.1f}" y2="{top:.1f}" '
            'stroke="#e2e8f0"/>'
        )
        for i, line in enumerate(box.settings):
            parts.append(_text(x + 8, top + _ROW * i + 14, line, "#475569", size=10))
    parts.append("</g>")
    return "".join(parts)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(
    x: float,
    y: float,
    text: str,
    color: str,
    *,
    anchor: str = "start",
    size: int = 11,
    weight: str = "400",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{color}" font-size="{size}" '
        f'font-weight="{weight}" text-anchor="{anchor}" style="{_FONT}">{escape(text)}</text>'
    )


def _document(width: float, height: float, parts: list[str], title: str = "graph") -> str:
    shown = min(width, _MAX_WIDTH)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{shown:.0f}" height="{height * shown / width:.0f}" role="img">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )
