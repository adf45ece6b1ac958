"""Stats: where every packet went, per node and per edge.

Accounting rule (tested): every packet a source emits ends delivered to a sink, refused by
a filter (a node that emits nothing for it, or an edge filter), dropped by an overflow
policy, discarded by a node that wanted no more input (``ctx.done()``), sent to an
``error`` output, or put in the dead-letter queue. Nothing disappears.

Node counters: ``received`` (packets taken from input edges), ``emitted`` (packets sent on
output ports), ``firings``, ``filtered`` (firings that emitted nothing), ``retries``,
``errors`` (failures sent to the ``error`` output), ``dead_lettered`` (failures sent to the
DLQ), ``type_mismatches``, ``late_emits`` (packets emitted after the firing had returned:
counted, logged once per node, never sent), ``runs_on`` (where its firings run now:
``inline``, ``worker`` or ``loop``; see ``placement``) and ``moves``. Edge counters live on
the ``Channel``: ``delivered``, ``filtered``, ``dropped``, ``discarded``, ``peak`` and the
current ``queued``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from dataflow_jupyter.runtime._channels import Channel

__all__ = ["EdgeStats", "NodeStats", "Stats"]


@dataclass(slots=True)
class NodeStats:
    """Counters of one node during a run."""

    received: int = 0
    emitted: int = 0
    firings: int = 0
    filtered: int = 0
    retries: int = 0
    errors: int = 0
    dead_lettered: int = 0
    type_mismatches: int = 0
    late_emits: int = 0
    moves: int = 0  # how often the placement rule moved it
    runs_on: str = ""  # where its firings run now: inline, worker or loop (see placement)


@dataclass(frozen=True, slots=True)
class EdgeStats:
    """Counters of one edge, read from its channel."""

    source: str
    target: str
    delivered: int
    filtered: int
    dropped: int
    discarded: int
    queued: int
    peak: int
    size: int


class Stats:
    """Per-node and per-edge counters of a run (``rt.stats``)."""

    def __init__(
        self,
        nodes: Mapping[str, NodeStats],
        channels: Mapping[str, tuple[str, str, Channel]],
    ) -> None:
        self._nodes = nodes
        self._channels = channels

    def node(self, node_id: str) -> NodeStats:
        """The counters of ``node_id``."""
        return self._nodes[node_id]

    def edge(self, edge_id: str) -> EdgeStats:
        """The counters of ``edge_id`` as they are now."""
        source, target, channel = self._channels[edge_id]
        return EdgeStats(
            source=source,
            target=target,
            delivered=channel.delivered,
            filtered=channel.filtered,
            dropped=channel.dropped,
            discarded=channel.discarded,
            queued=len(channel),
            peak=channel.peak,
            size=channel.size,
        )

    @property
    def nodes(self) -> pd.DataFrame:
        """Node counters, one row per node."""
        rows = {node_id: asdict(stats) for node_id, stats in self._nodes.items()}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("node")

    @property
    def edges(self) -> pd.DataFrame:
        """Edge counters, one row per edge."""
        rows = {edge_id: asdict(self.edge(edge_id)) for edge_id in self._channels}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        return frame.rename_axis("edge")

    def totals(self) -> dict[str, int]:
        """Node counters summed over the graph, plus edge drops and edge filters."""
        totals = {k: 0 for k, v in asdict(NodeStats()).items() if isinstance(v, int)}
        for stats in self._nodes.values():
            for key, value in asdict(stats).items():
                if key in totals:
                    totals[key] += value
        totals["edge_dropped"] = sum(c.dropped for _, _, c in self._channels.values())
        totals["edge_filtered"] = sum(c.filtered for _, _, c in self._channels.values())
        totals["edge_discarded"] = sum(c.discarded for _, _, c in self._channels.values())
        return totals

    def to_pandas(self) -> pd.DataFrame:
        """Node counters (the usual view); see ``edges`` for the edges."""
        return self.nodes

    def _repr_html_(self) -> str:
        return str(self.nodes.to_html())

    def __repr__(self) -> str:
        return f"Stats({_compact(self.totals().items())})"


def _compact(items: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{k}={v}" for k, v in items if v)
