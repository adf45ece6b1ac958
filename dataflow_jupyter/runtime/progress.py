"""Progress: a line that updates in place while a long run goes on.

It appears once a run has lasted a second (short runs stay quiet), shows firings, packets,
errors and dead letters with rates, and goes away at the end. In a terminal it is a tqdm
line on stderr; in a notebook the same line updates in place in the cell's output. Pass
``progress=False`` to the runtime to turn it off; ``None`` (the default) shows it when
stderr is a terminal or a notebook kernel runs, except for runs started in the background
with ``start()``, whose line would land in whatever cell runs at the time.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from dataflow_jupyter.runtime.session import Session

__all__ = ["Progress"]

_DELAY_S: Final = 1.0
_EVERY_S: Final = 0.25


class Progress:
    """Counters of a session, shown at most four times a second."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._started = time.monotonic()
        self._next = self._started + _DELAY_S
        self._bar: Any = None

    @classmethod
    def maybe(cls, enabled: bool | None, session: Session) -> Progress | None:
        """A progress display when ``enabled`` (or, for ``None``, when someone can see it)."""
        if enabled is None:
            enabled = sys.stderr.isatty() or "ipykernel" in sys.modules
        return cls(session) if enabled else None

    def update(self) -> None:
        """Refresh the line if it is time to."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _EVERY_S
        if self._bar is None:
            from tqdm import tqdm  # noqa: PLC0415 - only long runs pay for it

            self._bar = tqdm(desc=f"graph {self._session.graph.id}", unit=" firings")
        totals = self._session.stats.totals()
        self._bar.n = totals["firings"]
        self._bar.set_postfix(
            packets=totals["emitted"],
            errors=totals["errors"] + totals["dead_lettered"],
            refresh=False,
        )
        self._bar.refresh()

    def close(self) -> None:
        """Finish the line."""
        if self._bar is not None:
            self._next = 0.0  # the last refresh is never skipped
            self.update()
            self._bar.close()
