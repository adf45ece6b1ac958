"""merge: send every packet of any of its inputs on ``out``, one packet per firing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataflow_jupyter.node import NodeContext, PureNode

if TYPE_CHECKING:
    from collections.abc import Mapping

    from dataflow_jupyter.packets import DataPacket


class Merge(PureNode):
    """Emits the packet that just arrived, unchanged, on ``out``.

    With ``fire: any`` the runtime fires once per arriving packet, but it also hands the node
    the last packet seen on each other input. The arrival is the packet this node has not
    seen on its port yet; the node remembers the last packet id per port to tell.
    """

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self._seen: dict[str, str] = {}

    def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> dict[str, Any]:
        fresh = [port for port, p in inputs.items() if self._seen.get(port) != p.packet_id]
        for port in fresh:
            self._seen[port] = inputs[port].packet_id
        # A replayed firing brings nothing new: the runtime puts the taken packet first.
        port = fresh[0] if fresh else next(iter(inputs))
        return {"out": inputs[port]}
