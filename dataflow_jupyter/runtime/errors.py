"""Errors during a run: retry timing and the dead-letter queue.

A firing fails when ``process`` raises, exceeds ``execution.timeoutMs``, returns an
``ErrorPacket``, or emits a value its port refuses (``TYPE_MISMATCH``). Then::

    failure ──▶ recoverable and attempts left? ──yes──▶ wait backoff · 2^(attempt-1), fire again
                        │ no
                        ▼
            node has a connected ``error`` output? ──yes──▶ emit the ErrorPacket there
                        │ no
                        ▼
                  dead-letter queue (``rt.dlq``)

Every failure is also published to the runtime's subscribers as a ``NodeFailed`` event
(``runtime.events``). A dead letter keeps every input of the failed firing, so
``rt.dlq.replay()`` can fire the node again with them after a fix, and the packets go on
downstream.

A run that can no longer progress (every live task waits on something that cannot come)
ends with a ``StallError`` that names who waits on what, instead of hanging.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from dataflow_jupyter.packets import DataPacket, ErrorPacket

__all__ = ["DeadLetter", "DeadLetterQueue", "StallError", "backoff_seconds"]

_MAX_BACKOFF_S: Final = 30.0


def backoff_seconds(base_ms: int, attempt: int) -> float:
    """The wait before retry number ``attempt`` (1-based): ``base · 2^(attempt-1)``, capped."""
    return min(base_ms / 1000 * float(2 ** (attempt - 1)), _MAX_BACKOFF_S)


class StallError(RuntimeError):
    """The run cannot progress: the message names the nodes and ports that wait, and why."""


class ClusterLostError(RuntimeError):
    """The cluster a node runs on went away: the run ends; the inputs that node had not
    processed are in the dead-letter queue (replay them once a cluster is back)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A failed firing that no ``error`` output took: the error and every input."""

    error: ErrorPacket
    node_id: str
    inputs: Mapping[str, DataPacket]


class DeadLetterQueue:
    """The failures nobody handled (``rt.dlq``): inspect with ``to_pandas()``, then ``replay()``."""

    def __init__(self, replay: Callable[[list[DeadLetter]], Any] | None = None) -> None:
        self._letters: list[DeadLetter] = []
        self._replay = replay

    def append(self, letter: DeadLetter) -> None:
        """Add a dead letter."""
        self._letters.append(letter)

    def __len__(self) -> int:
        return len(self._letters)

    def __iter__(self) -> Iterator[DeadLetter]:
        return iter(list(self._letters))

    def __getitem__(self, index: int) -> DeadLetter:
        return self._letters[index]

    def __repr__(self) -> str:
        return f"<DeadLetterQueue {len(self)} letters>"

    def clear(self) -> None:
        """Forget every dead letter."""
        self._letters.clear()

    def to_pandas(self) -> pd.DataFrame:
        """One row per dead letter: node, code, message, attempt, trace and the input values."""
        rows = [
            {
                "node_id": letter.node_id,
                "code": letter.error.code.value,
                "message": letter.error.message,
                "recoverable": letter.error.recoverable,
                "attempt": letter.error.attempt,
                "trace_id": letter.error.trace_id,
                "timestamp": pd.Timestamp(letter.error.timestamp, unit="ns", tz="UTC"),
                "inputs": {port: p.value for port, p in letter.inputs.items()},
            }
            for letter in self._letters
        ]
        columns = ["node_id", "code", "message", "recoverable", "attempt", "trace_id"]
        return pd.DataFrame(rows, columns=[*columns, "timestamp", "inputs"])

    def replay(self, node_id: str | None = None) -> Any:
        """Fire the failed nodes again with their inputs (all, or those of ``node_id``).

        The replayed letters leave the queue; the ones that fail again come back. A source's
        failure has no input to replay and stays. Returns the ``RunResult`` of the replay.
        """
        if self._replay is None:
            msg = "this dead-letter queue is not attached to a runtime; nothing can replay it"
            raise RuntimeError(msg)
        chosen = [
            x
            for x in self._letters
            if (node_id is None or x.node_id == node_id) and x.inputs  # a source's has none
        ]
        kept = self._letters
        self._letters = [x for x in kept if x not in chosen]
        try:
            return self._replay(chosen)
        except BaseException:
            self._letters = kept  # a replay that could not run loses nothing
            raise

    def _repr_html_(self) -> str:
        return str(self.to_pandas().to_html())
