"""HTTP for node packs: one request attempt as a response object or an ErrorPacket.

Shared by ``http-request`` and ``http-poller`` (and open to every node pack), so both
answer alike:

- the response object is ``{status, headers, body, url, elapsedMs}``; ``body`` is parsed
  JSON (``responseType: json``; text that is not JSON stays text, an empty body is null),
  text, or base64 text (``bytes``: a packet's value is JSON);
- a timeout is ``TIMEOUT``; a connection failure or an HTTP error answer is ``IO_ERROR``
  with ``details.status`` and ``details.response`` for the latter; 5xx, 408, 425 and 429 may
  be retried (``recoverable`` as the node's spec says), other 4xx never are.

The caller owns the ``aiohttp.ClientSession`` (a node opens one in ``setup()`` and closes it
in ``teardown()``, so attempts reuse connections). ``check_url`` and ``check_headers``
refuse the settings an HTTP node cannot use, naming the node as every settings error does
(``nodekit.settings.settings_where``).

Example (in an ``IONode``)::

    from dataflow_jupyter.nodekit.web import fetch

    answer = await fetch(self.session, "GET", url, headers={}, data=None,
                         response_type="json", timeout_ms=5000, node_id=self.node_id,
                         recoverable=True)
    if isinstance(answer, ErrorPacket):
        return answer
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp

from dataflow_jupyter.packets import ErrorCode, ErrorPacket

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MAX_BODY_BYTES", "RETRYABLE_STATUS", "check_headers", "check_url", "fetch"]

RETRYABLE_STATUS: Final = frozenset({408, 425, 429})
MAX_BODY_BYTES: Final = 64 * 1024 * 1024  # an answer is one packet value, held in memory


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
    max_body_bytes: int = MAX_BODY_BYTES,
) -> dict[str, Any] | ErrorPacket:
    """One attempt: the response object, or the ErrorPacket the failure becomes.

    A body longer than ``max_body_bytes`` is not read to the end: it is an ``IO_ERROR``
    that is not retried (the next attempt would get the same).
    """
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
            raw = await _read_capped(answer, max_body_bytes)
            if raw is None:
                message = (
                    f"{method} {url}: the answer is larger than {max_body_bytes:,} bytes; a "
                    "packet holds one answer in memory. Ask for less (a page, a range)"
                )
                return ErrorPacket(ErrorCode.IO_ERROR, message, node_id, details=where)
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
    retry = status >= 500 or status in RETRYABLE_STATUS
    message = f"{method} {url} answered HTTP {status}" + ("" if retry else " (not retried)")
    return ErrorPacket(
        ErrorCode.IO_ERROR,
        message,
        node_id,
        recoverable=recoverable and retry,
        details={**where, "status": status, "response": response},
    )


async def _read_capped(answer: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it is known to be longer than ``limit``."""
    if answer.content_length is not None and answer.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


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


def check_url(url: str, node_id: str, type_id: str, version: str) -> None:
    """Refuse a setting ``url`` that is not an http(s) URL, naming the node."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        msg = (
            f"settings of {type_id} {version} (node {node_id!r}): setting 'url' expects an "
            f"http:// or https:// URL; got {url!r:.80}. Write it like 'https://example.org/api'"
        )
        raise ValueError(msg)


def check_headers(headers: Any, node_id: str, type_id: str, version: str) -> None:
    """Refuse a setting ``headers`` that is not an object of strings, naming the node."""
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        msg = (
            f"settings of {type_id} {version} (node {node_id!r}): setting 'headers' expects "
            f'an object of strings; got {headers!r:.80}. Write it like {{"X-Key": "abc"}}'
        )
        raise ValueError(msg)
