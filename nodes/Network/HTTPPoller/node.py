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

The response object, the error classification (``TIMEOUT``; ``IO_ERROR`` with
``details.status`` and ``details.response`` for an HTTP error answer) and the body reading
(``responseType``) are those of ``http-request``; the helpers below repeat its code, since
a node folder imports only ``dataflow_jupyter.node``/``packets``/``types``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp

from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.packets import ErrorCode, ErrorPacket

if TYPE_CHECKING:
    from collections.abc import Mapping

_RETRYABLE_STATUS: Final = frozenset({408, 425, 429})


class HTTPPoller(IONode):
    """Polls ``url`` until cancelled (see the module docstring for pacing and backpressure)."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        _check_url(self.settings["url"], node_id, self.version)
        _check_headers(self.settings["headers"], node_id, self.version)
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


async def fetch(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    data: bytes | None,
    response_type: str,
    timeout_ms: int,
    node_id: str,
    recoverable: bool,
) -> dict[str, Any] | ErrorPacket:
    """One attempt: the response object, or the ErrorPacket the failure becomes."""
    started = time.perf_counter()
    where = {"url": url, "method": method}
    try:
        async with session.request(
            method,
            url,
            headers=dict(headers),
            data=data,
            timeout=aiohttp.ClientTimeout(total=timeout_ms / 1000),
        ) as answer:
            raw = await answer.read()
            response = {
                "status": answer.status,
                "headers": _joined_headers(answer.headers.items()),
                "body": _read_body(raw, answer.charset, response_type),
                "url": str(answer.url),
                "elapsedMs": round((time.perf_counter() - started) * 1000, 3),
            }
    except TimeoutError:
        message = f"{method} {url}: no answer within {timeout_ms} ms"
        return ErrorPacket(
            ErrorCode.TIMEOUT, message, node_id, recoverable=recoverable, details=where
        )
    except aiohttp.ClientError as exc:
        message = f"{method} {url} failed: {type(exc).__name__}: {exc}"
        return ErrorPacket(
            ErrorCode.IO_ERROR, message, node_id, recoverable=recoverable, details=where
        )
    status = response["status"]
    if status < 400:
        return response
    retry = status >= 500 or status in _RETRYABLE_STATUS
    message = f"{method} {url} answered HTTP {status}" + ("" if retry else " (not retried)")
    return ErrorPacket(
        ErrorCode.IO_ERROR,
        message,
        node_id,
        recoverable=recoverable and retry,
        details={**where, "status": status, "response": response},
    )


def _read_body(raw: bytes, charset: str | None, response_type: str) -> Any:
    if response_type == "bytes":
        return base64.b64encode(raw).decode("ascii")
    try:
        text = raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        text = raw.decode("utf-8", errors="replace")
    if response_type == "text":
        return text
    if not raw:
        return None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return text


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def _joined_headers(items: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _check_url(url: str, node_id: str, version: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        msg = (
            f"settings of http-poller {version} (node {node_id!r}): setting 'url' expects an "
            f"http:// or https:// URL; got {url!r:.80}. Write it like 'https://example.org/api'"
        )
        raise ValueError(msg)


def _check_headers(headers: Any, node_id: str, version: str) -> None:
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        msg = (
            f"settings of http-poller {version} (node {node_id!r}): setting 'headers' expects "
            f'an object of strings; got {headers!r:.80}. Write it like {{"X-Key": "abc"}}'
        )
        raise ValueError(msg)
