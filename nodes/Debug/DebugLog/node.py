"""debug-log: log every packet and pass it through unchanged."""

from __future__ import annotations

import json
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from dataflow_jupyter.node import NodeContext, PureNode

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket

_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_RECENT: Final = 20


class DebugLog(PureNode):
    """Logs the value (or a summary of the table) of each packet at the chosen level."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self.recent: deque[str] = deque(maxlen=_RECENT)

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        packet = inputs["in"]
        text = describe(packet, int(self.settings["maxChars"]))
        message = f"{self.settings['label'] or ctx.node_id}: {text}"
        ctx.log.log(_LEVELS[self.settings["level"]], message)
        self.recent.append(message)
        return {"out": packet}


def describe(packet: DataPacket, max_chars: int) -> str:
    """The packet's payload as text: a table as its shape and columns, a value as JSON."""
    binary = packet.binary_value
    if binary is None:
        text = _json_text(packet.value)
    elif hasattr(binary, "schema") and hasattr(binary, "num_rows"):
        columns = ", ".join(f"{field.name}: {field.type}" for field in binary.schema)
        text = f"table of {binary.num_rows} rows ({columns})"
    elif hasattr(binary, "path"):
        text = f"Arrow data in {binary.path}"
    else:
        text = f"{getattr(binary, 'size', '?')} bytes"
    if len(text) > max_chars:
        text = f"{text[:max_chars]}... ({len(text) - max_chars} more characters)"
    return text


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)
