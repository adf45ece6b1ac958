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

One attempt is ``dataflow_jupyter.nodekit.web.fetch``, which ``http-poller`` shares.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.nodekit.web import check_headers, check_url, fetch
from dataflow_jupyter.packets import DataPacket, ErrorCode, ErrorPacket

if TYPE_CHECKING:
    from collections.abc import Mapping

_BODY_METHODS: Final = frozenset({"POST", "PUT", "DELETE"})


class HTTPRequest(IONode):
    """Sends one request per ``trigger`` packet (see the module docstring for outcomes)."""

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
