"""Channels: the bounded queues behind edges.

Every edge is a ``Channel`` holding at most ``size`` packets (default 64). When it is full,
its ``overflow`` policy decides:

- ``block`` (backpressure): ``put`` waits until the consumer takes a packet, which slows
  the producer and, transitively, the sources;
- ``drop_oldest``: the oldest queued packet is dropped to make room (counted);
- ``drop_newest``: the arriving packet is dropped (counted).

End of stream: the producer ``close()``s a channel when it has finished; the consumer's
port is *closed* once every channel into it is closed, and *drained* once they are empty
too. A consumer that wants no more input ``abandon()``s its channels: what they hold and
whatever arrives later is discarded (counted in ``discarded``) and producers waiting for
room are let go.

Channels are used from one event loop only. ``put`` only suspends when a ``block`` channel
is full, so the common case costs a deque append.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from dataflow_jupyter.packets import DataPacket

__all__ = ["DEFAULT_BUFFER_SIZE", "Channel", "Overflow"]

DEFAULT_BUFFER_SIZE: Final = 64
Overflow = Literal["block", "drop_oldest", "drop_newest"]


class Channel:
    """The bounded FIFO of one edge, with its counters."""

    __slots__ = (
        "_waiters",
        "abandoned",
        "closed",
        "delivered",
        "discarded",
        "dropped",
        "edge_id",
        "filtered",
        "overflow",
        "packets",
        "peak",
        "size",
    )

    def __init__(
        self, edge_id: str, size: int = DEFAULT_BUFFER_SIZE, overflow: Overflow = "block"
    ) -> None:
        if size < 1:
            msg = f"edge {edge_id!r}: buffer size must be at least 1; got {size}"
            raise ValueError(msg)
        self.edge_id = edge_id
        self.size = size
        self.overflow: Overflow = overflow
        # The queued packets, oldest first. The dispatcher reads it on its hot path; change
        # it only through the methods.
        self.packets: deque[DataPacket] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.delivered = 0  # packets queued on this edge
        self.dropped = 0  # packets lost to the overflow policy
        self.filtered = 0  # packets refused by the edge's filter expression
        self.peak = 0  # the most packets ever queued at once
        self.discarded = 0  # packets the consumer no longer wanted (it called ctx.done())
        self.closed = False  # the producer finished: nothing more will come
        self.abandoned = False  # the consumer finished early: everything is discarded

    def __len__(self) -> int:
        return len(self.packets)

    def __bool__(self) -> bool:
        return bool(self.packets)

    def __repr__(self) -> str:
        return f"<Channel {self.edge_id} {len(self.packets)}/{self.size} {self.overflow}>"

    @property
    def full(self) -> bool:
        """Whether the channel holds ``size`` packets."""
        return len(self.packets) >= self.size

    async def put(self, packet: DataPacket) -> None:
        """Queue ``packet``, waiting for room on a full ``block`` channel."""
        while not self.offer(packet):
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: pass the room on
                raise

    def offer(self, packet: DataPacket) -> bool:
        """Queue ``packet`` without waiting. ``False`` only when a ``block`` channel is full
        (then ``await put(packet)``); a drop policy drops and counts instead."""
        items = self.packets
        if self.abandoned:
            self.discarded += 1
            return True
        if len(items) >= self.size:
            if self.overflow == "block":
                return False
            self.dropped += 1
            if self.overflow == "drop_newest":
                return True
            items.popleft()
        items.append(packet)
        self.delivered += 1
        if len(items) > self.peak:  # noqa: PLR1730 - cheaper than max() on the hot path
            self.peak = len(items)
        return True

    def take(self) -> DataPacket:
        """The oldest queued packet (the caller checks that there is one)."""
        packet = self.packets.popleft()
        if self._waiters:
            self._wake_one()
        return packet

    def take_many(self, count: int) -> list[DataPacket]:
        """The ``count`` oldest queued packets (the caller checks that there are as many)."""
        popleft = self.packets.popleft
        taken = [popleft() for _ in range(count)]
        if self._waiters:
            for _ in taken:
                self._wake_one()
        return taken

    def put_back(self, packets: list[DataPacket]) -> None:
        """Queue ``packets`` first in line again, as they were before ``take_many`` (they
        were counted when they first arrived)."""
        self.packets.extendleft(reversed(packets))
        if len(self.packets) > self.peak:  # noqa: PLR1730
            self.peak = len(self.packets)

    def handed(self, count: int) -> None:
        """Count ``count`` packets passed straight to the consumer, never queued (the
        dispatcher's fused links): as if queued and taken at once."""
        self.delivered += count
        if count > self.peak:  # noqa: PLR1730
            self.peak = count

    def peek(self) -> DataPacket:
        """The oldest queued packet, left in place."""
        return self.packets[0]

    def snapshot(self) -> list[DataPacket]:
        """The queued packets, oldest first (for inspection)."""
        return list(self.packets)

    @property
    def blocked(self) -> int:
        """How many producers wait for room on this channel."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def close(self) -> None:
        """The producer has finished: nothing more will be put."""
        self.closed = True

    def abandon(self) -> None:
        """The consumer wants nothing more: discard what is queued and all that comes later."""
        self.abandoned = True
        self.discarded += len(self.packets)
        self.packets.clear()
        while self._waiters:
            self._wake_one()

    def clear_waiters(self) -> None:
        """Cancel producers waiting for room (the run is stopping)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.cancel()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
