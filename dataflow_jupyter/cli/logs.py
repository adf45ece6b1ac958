"""Node logs in a terminal: the first lines of each node, then a count.

A ``debug-log`` node logs one line per packet; a run of 200,000 packets would print 200,000
lines. ``LogBudget`` is a ``logging.Filter`` on the command's stderr handler: each node (a
record's ``node_id``) may print ``limit`` lines; past that its lines are counted, not
printed, and the count is printed once it reaches 100, 1,000, 10,000, ... lines, so a long
run still shows that the node goes on. ``summary()`` gives the lines of the run summary
that say how many were hidden. Records without a node (the runtime's own) always print.
"""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["DEFAULT_LIMIT", "LogBudget"]

DEFAULT_LIMIT: Final = 20


class LogBudget(logging.Filter):
    """Lets through the first ``limit`` records of each node; counts all of them."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        self.limit = limit
        self.counts: dict[str, int] = {}
        self._next_milestone: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        node_id = getattr(record, "node_id", None)
        if not isinstance(node_id, str):
            return True
        count = self.counts.get(node_id, 0) + 1
        self.counts[node_id] = count
        if count <= self.limit:
            if count == self.limit:
                record.msg = f"{record.msg} [{node_id}: further lines are counted, not shown]"
            return True
        milestone = self._next_milestone.get(node_id, _first_milestone(self.limit))
        if count < milestone:
            return False
        self._next_milestone[node_id] = milestone * 10
        record.msg = f"{node_id}: {count} log lines so far ({self.limit} shown)"
        record.args = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True

    def summary(self) -> list[str]:
        """One line per node that logged more than it could show."""
        return [
            f"  {node_id}: {count} lines, the first {self.limit} shown (--log-lines N shows more)"
            for node_id, count in sorted(self.counts.items())
            if count > self.limit
        ]


def _first_milestone(limit: int) -> int:
    milestone = 100
    while milestone <= limit:
        milestone *= 10
    return milestone
