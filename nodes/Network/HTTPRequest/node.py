"""http-request: send an HTTP request per trigger; the answer goes out on ``response``.

One ``aiohttp.ClientSession`` per node instance, opened in ``setup()`` and closed in
``teardown()``, so requests reuse connections.

Outcomes of one attempt::

    2xx/3xx answer ───────────────▶ {"response": {status, headers, body, url, elapsedMs}}
    5xx, 408, 425, 429 answer ─────▶ ErrorPacket(IO_ERROR, recoverable)  ─┐ retried by the runtime
    timeout ───────────────────────▶ ErrorPacket(TIMEOUT, recoverable)   ─┤ (execution.retry,
    connection or protocol failure ▶ ErrorPacket(IO_ERROR, recoverable)  ─┘ exponential backoff)
    other 4xx answer ──────────────▶ ErrorPacket(IO_ERROR, not recoverable): no retry

A failure that is not retried, or still fails after the retries, goes to ``error`` (or to
the dead-letter queue when ``error`` is not connected). An HTTP error's ``details`` hold
``status``, ``url``, ``method`` and ``response`` (the answer as ``response`` would carry it).

The body is read per ``responseType``: ``json`` parses it (text when it is not JSON, ``None``
when empty), ``text`` decodes it (the answer's charset, else UTF-8), ``bytes`` gives base64
text: a packet's ``value`` is JSON, and an Arrow buffer would not fit an ``object`` port.
Headers repeated in the answer are joined with ``", "``.

The helpers at the bottom are repeated in ``http-poller``: a node folder imports only
``dataflow_jupyter.node``/``packets``/``types``, never a sibling folder.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp

from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.packets import DataPacket, ErrorCode, ErrorPacket

if TYPE_CHECKING:
    from collections.abc import Mapping

_RETRYABLE_STATUS: Final = frozenset({408, 425, 429})
_BODY_METHODS: Final = frozenset({"POST", "PUT", "DELETE"})


class HTTPRequest(IONode):
    """Sends one request per ``trigger`` packet (see the module docstring for outcomes)."""

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

    async def process(self, inputs: dict[str, DataPacket], ctx: NodeContext) -> Any:
        """``{"response": ...}``, or an ``ErrorPacket`` (``ProcessResult`` does not name it)."""
        session = self._session
        if session is None:
            msg = (
                f"http-request node {self.node_id!r} has no HTTP session: the runtime calls "
                "setup() before the first firing (in a test, await node.setup() first)"
            )
            raise RuntimeError(msg)
        method: str = self.settings["method"]
        headers: dict[str, str] = dict(self.settings["headers"])
        body = inputs.get("body")
        data: bytes | None = None
        if body is not None and method in _BODY_METHODS:
            try:
                data = json.dumps(body.value, allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                message = f"node {self.node_id!r} port 'body' expects a JSON value; {exc}"
                return ErrorPacket(ErrorCode.VALIDATION, message, self.node_id, packet=body)
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        answer = await fetch(
            session,
            method,
            self.settings["url"],
            headers=headers,
            data=data,
            response_type=self.settings["responseType"],
            timeout_ms=self.settings["timeoutMs"],
            node_id=self.node_id,
            recoverable=self.spec.execution.recoverable,
        )
        if isinstance(answer, ErrorPacket):
            return answer
        return {"response": answer}


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
            f"settings of http-request {version} (node {node_id!r}): setting 'url' expects an "
            f"http:// or https:// URL; got {url!r:.80}. Write it like 'https://example.org/api'"
        )
        raise ValueError(msg)


def _check_headers(headers: Any, node_id: str, version: str) -> None:
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        msg = (
            f"settings of http-request {version} (node {node_id!r}): setting 'headers' expects "
            f'an object of strings; got {headers!r:.80}. Write it like {{"X-Key": "abc"}}'
        )
        raise ValueError(msg)
