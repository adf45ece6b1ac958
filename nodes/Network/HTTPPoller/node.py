"""http-poller: a source that GETs a URL every ``intervalMs`` and sends the answers on.

Loop (until the runtime cancels it on stop)::

    start = now
    answer = GET url                      (one attempt; no retry: the next poll is the retry)
    failed?  -> await emit("error", ErrorPacket)          and poll on
    changed, or emitOnChangeOnly off?  -> await emit("response", answer)
    sleep until start + intervalMs        (no sleep when the poll and its emit took longer)

Backpressure: the emit is awaited before the next poll is scheduled, so when the
``response`` edge is full the poller waits, and the next poll starts
``max(intervalMs, time the poll and its emit took)`` after the previous one started. Polls
never queue inside the node: at most one answer waits, in the emit. Stopping cancels the
loop wherever it is (an open request is aborted); ``teardown`` closes the HTTP session.

``emitOnChangeOnly`` compares the body (as sorted JSON) with the last body sent (status and headers
are not compared); the first answer is always sent, and a failed poll does not reset it.
An answer, or an error, starts a new trace.

The response object, the error classification and the body reading (``responseType``) are
those of ``http-request``: both use ``dataflow_jupyter.nodekit.web``.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import aiohttp

from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.nodekit.web import check_headers, check_url, fetch
from dataflow_jupyter.packets import ErrorPacket

if TYPE_CHECKING:
    from collections.abc import Mapping


class HTTPPoller(IONode):
    """Polls ``url`` until cancelled (see the module docstring for pacing and backpressure)."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        check_url(self.settings["url"], node_id, self.spec.id, self.version)
        check_headers(self.settings["headers"], node_id, self.spec.id, self.version)
        self._session: aiohttp.ClientSession | None = None

    async def setup(self) -> None:
        self._session = aiohttp.ClientSession()

    async def teardown(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def run(self, ctx: NodeContext) -> None:
        session = self._session
        if session is None:
            msg = (
                f"http-poller node {self.node_id!r} has no HTTP session: the runtime calls "
                "setup() before run() (in a test, await node.setup() first)"
            )
            raise RuntimeError(msg)
        loop = asyncio.get_running_loop()
        interval = float(self.settings["intervalMs"]) / 1000
        on_change: bool = self.settings["emitOnChangeOnly"]
        last: str | None = None  # the last body sent, as sorted JSON
        while True:
            started = loop.time()
            answer = await fetch(
                session,
                "GET",
                self.settings["url"],
                headers=self.settings["headers"],
                data=None,
                response_type=self.settings["responseType"],
                timeout_ms=self.settings["timeoutMs"],
                node_id=self.node_id,
                recoverable=True,
            )
            if isinstance(answer, ErrorPacket):
                await ctx.emit("error", answer)
            else:
                body = json.dumps(answer["body"], sort_keys=True)
                if not on_change or body != last:
                    last = body
                    await ctx.emit("response", answer)
            await asyncio.sleep(max(0.0, started + interval - loop.time()))
