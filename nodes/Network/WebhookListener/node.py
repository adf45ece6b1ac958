"""webhook-listener: a source that turns HTTP requests into packets, acknowledging only
what it could queue.

Lifecycle: ``setup()`` starts an aiohttp server on ``host``:``port`` (127.0.0.1 and a free
port by default; the bound port is ``self.port`` and is logged), ``run()`` lets requests
through until the runtime cancels it on stop, ``teardown()`` answers the requests still
waiting with 503 and stops the server. Before ``run()`` and after it, requests get 503.

A request is checked in this order, and the first failing check answers:

    404  another path (aiohttp's router)
    405  a method not in ``methods`` (with ``Allow``)
    401  ``token`` set and neither ``Authorization: Bearer <token>`` nor
         ``X-Webhook-Token: <token>`` matches (``hmac.compare_digest``)
    413  a body over ``maxBodyBytes`` (refused from ``Content-Length`` before reading, or
         once the bytes read pass the limit)
    408  the body took longer than ``readTimeoutMs`` to arrive
    400  a JSON content type (``application/json``, ``*/*+json``) whose body is not JSON
    503  the graph is not running (``Retry-After``)
    503  the output stayed full for ``fullTimeoutMs`` (``Retry-After``): the emit is
         cancelled, and a cancelled emit leaves nothing queued
    202  the packet is queued on the output edge: the answer names its ``packetId`` and
         ``traceId``. Nothing is acknowledged before ``await ctx.emit(...)`` has returned.

The packet's value is ``{body, headers, method, path, query, receivedAt}``: ``body`` is the
parsed JSON for a JSON content type, else the text (UTF-8 unless the request names a
charset; ``None`` when empty); ``headers`` joins repeated headers with ``", "`` and, when a
token is set, leaves out the two headers that carry it; ``query`` maps each parameter to
its value, or to the list of values when it is repeated; ``receivedAt`` is an ISO 8601 UTC
time. Each request starts a new trace.

Slow and many clients. A connection must deliver a request's headers within
``headerTimeoutMs`` of opening (slowloris: a byte every few seconds would hold it forever);
else it gets 408 and is closed. An idle keep-alive connection is closed after the same time.
At most ``maxConnections`` connections are open at once: a new one past the cap closes the
oldest connection still waiting for its headers (408), so slow clients cannot crowd out
real ones; when every open connection is busy with a real request, the new one gets 503
(``Retry-After``) and is closed. The body has its own limit, ``readTimeoutMs``.

Notes. A refused request's unread body is not drained: the server closes that connection
(``lingering_time=0``), so a refused client cannot keep the server reading. With several
edges on ``out``, the packet goes on them one after the other, so a 503 may follow a copy
already queued on an earlier edge: give ``out`` one edge and fan out after it when that
matters. ``await rt.start()`` returns before the server listens; wait for the port.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.nodekit.settings import settings_where
from dataflow_jupyter.packets import DataPacket

if TYPE_CHECKING:
    from collections.abc import Mapping

_log = logging.getLogger("dataflow_jupyter.nodes")
_KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_TOKEN_HEADERS: Final = frozenset({"authorization", "x-webhook-token"})
_CHUNK: Final = 64 * 1024
_SHUTDOWN_S: Final = 1.0  # teardown waits this long for answers being written
_HEADERS_END: Final = b"\r\n\r\n"
_LINGER_S: Final = 1.0  # after a 408/503 of its own, how long a connection is drained
_TIMED_OUT: Final = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)


class WebhookListener(IONode):
    """An HTTP server feeding ``out`` (see the module docstring for the answers)."""

    def __init__(self, node_id: str, settings: Mapping[str, Any] | None = None) -> None:
        super().__init__(node_id, settings)
        self._check_settings()
        self._methods = tuple(m.upper() for m in self.settings["methods"])
        token: str = self.settings["token"]
        self._token = token.encode() if token else None
        self.port: int | None = None  # the bound port, once set up
        self.url: str | None = None  # the webhook's URL, once set up
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._ctx: NodeContext | None = None
        self._waiting: set[asyncio.Timeout] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def setup(self) -> None:
        app = web.Application()
        app.router.add_route("*", self.settings["path"], self._handle)
        header_s = self.settings["headerTimeoutMs"] / 1000
        runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_S,
            lingering_time=0,
            keepalive_timeout=header_s,  # an idle keep-alive connection: the same deadline
        )
        await runner.setup()
        handlers = runner.server
        assert handlers is not None
        busy = f"Retry-After: {self.settings['retryAfterS']}"
        connections = _Connections(self.settings["maxConnections"], header_s, busy)
        try:  # not web.TCPSite: each connection goes through _Guarded first
            self._server = await asyncio.get_running_loop().create_server(
                lambda: _Guarded(handlers(), connections),
                self.settings["host"],
                self.settings["port"],
            )
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = self._server.sockets[0].getsockname()[:2]
        self.port = int(port)
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}{self.settings['path']}"
        _log.info("webhook-listener %r listening on %s", self.node_id, self.url)

    async def run(self, ctx: NodeContext) -> None:
        self._ctx = ctx
        try:
            await asyncio.get_running_loop().create_future()  # until the runtime cancels us
        finally:
            self._ctx = None

    async def teardown(self) -> None:
        self._ctx = None
        now = asyncio.get_running_loop().time()
        for deadline in list(self._waiting):  # still waiting for room: answer 503 now
            if not deadline.expired():
                deadline.reschedule(now)
        runner, self._runner = self._runner, None
        server, self._server = self._server, None
        if server is not None:
            server.close()  # accept no more connections
        if runner is not None:
            await runner.cleanup()  # answers and closes the open ones
        self.port = self.url = None

    # -- requests ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received_at = datetime.now(UTC).isoformat()
        if request.method not in self._methods:
            allowed = ", ".join(self._methods)
            message = f"method {request.method} is not accepted here; use {allowed}"
            return _answer(405, message, {"Allow": allowed})
        if self._token is not None and not self._authorized(request):
            message = "missing or wrong token: send 'Authorization: Bearer <token>'"
            return _answer(401, message, {"WWW-Authenticate": "Bearer"})
        limit: int = self.settings["maxBodyBytes"]
        if request.content_length is not None and request.content_length > limit:
            return _answer(413, f"the body is over {limit} bytes")
        try:
            async with asyncio.timeout(self.settings["readTimeoutMs"] / 1000):
                raw = await _read_body(request, limit)
        except TimeoutError:
            return _answer(
                408, f"the body did not arrive within {self.settings['readTimeoutMs']} ms"
            )
        if raw is None:
            return _answer(413, f"the body is over {limit} bytes")
        try:
            body = _parse_body(raw, request.content_type, request.charset)
        except ValueError as exc:
            return _answer(400, f"the body is not valid JSON: {exc}")
        ctx = self._ctx
        if ctx is None:
            return self._busy("the graph is not running")
        value = {
            "body": body,
            "headers": self._headers(request),
            "method": request.method,
            "path": request.path,
            "query": _query(request),
            "receivedAt": received_at,
        }
        return await self._queue(ctx, DataPacket(value, origin_node=self.node_id))

    async def _queue(self, ctx: NodeContext, packet: DataPacket) -> web.StreamResponse:
        """Emit ``packet``; 202 once it is queued, 503 when the output stays full too long."""
        deadline = asyncio.timeout(self.settings["fullTimeoutMs"] / 1000)
        self._waiting.add(deadline)
        try:
            async with deadline:
                await ctx.emit("out", packet)
        except TimeoutError:
            limit = self.settings["fullTimeoutMs"]
            return self._busy(f"the output stayed full for {limit} ms")
        except Exception:  # noqa: BLE001 - e.g. an edge expression failed: answer, never hang
            _log.exception("webhook-listener %r could not send a request on", self.node_id)
            return _answer(500, "the request could not be passed on; see the kernel log")
        finally:
            self._waiting.discard(deadline)
        accepted = {"status": "accepted", "packetId": packet.packet_id, "traceId": packet.trace_id}
        return web.json_response(accepted, status=202)

    def _busy(self, message: str) -> web.Response:
        return _answer(503, message, {"Retry-After": str(self.settings["retryAfterS"])})

    def _authorized(self, request: web.Request) -> bool:
        assert self._token is not None
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        bearer = credentials.strip() if scheme.lower() == "bearer" else ""
        header = request.headers.get("X-Webhook-Token", "")
        # both compared, always: the time taken does not depend on which header matched
        # aiohttp decodes header bytes with surrogateescape: encode them back the same way
        by_bearer = hmac.compare_digest(bearer.encode("utf-8", "surrogateescape"), self._token)
        by_header = hmac.compare_digest(header.encode("utf-8", "surrogateescape"), self._token)
        return by_bearer or by_header

    def _headers(self, request: web.Request) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            if self._token is not None and name.lower() in _TOKEN_HEADERS:
                continue
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def _check_settings(self) -> None:
        where = settings_where(self)
        path = self.settings["path"]
        if not isinstance(path, str) or not path.startswith("/"):
            msg = f"{where}: setting 'path' must start with '/'; got {path!r:.80}"
            raise ValueError(msg)
        methods = self.settings["methods"]
        if (
            not isinstance(methods, list)
            or not methods
            or not all(isinstance(m, str) and m.upper() in _KNOWN_METHODS for m in methods)
        ):
            msg = (
                f"{where}: setting 'methods' expects a non-empty list of HTTP methods "
                f"({', '.join(sorted(_KNOWN_METHODS))}); got {methods!r:.80}"
            )
            raise ValueError(msg)
        if not self.settings["host"]:
            msg = f"{where}: setting 'host' is empty; use '127.0.0.1' (local) or '0.0.0.0' (all)"
            raise ValueError(msg)


class _Connections:
    """The open connections: at most ``cap``; those still waiting for headers, oldest first."""

    def __init__(self, cap: int, header_s: float, retry_after: str) -> None:
        self.cap = cap
        self.header_s = header_s
        self.open: set[_Guarded] = set()
        self.waiting: dict[_Guarded, None] = {}  # insertion-ordered: the oldest first
        self.refusal = (
            "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n"
            f"{retry_after}\r\n\r\n"
        ).encode()

    def admit(self, guard: _Guarded) -> bool:
        """Whether ``guard`` may open; past the cap the oldest slow one makes room, if any."""
        if len(self.open) >= self.cap:
            oldest = next(iter(self.waiting), None)
            if oldest is None:
                return False
            oldest.expire()
        self.open.add(guard)
        self.waiting[guard] = None
        return True

    def forget(self, guard: _Guarded) -> None:
        self.open.discard(guard)
        self.waiting.pop(guard, None)


class _Guarded(asyncio.Protocol):
    """aiohttp's handler for one connection, behind the header deadline and the cap.

    Every protocol call is passed on to ``handler``; this only watches for the end of the
    first request's headers (a blank line) and closes the connection when it does not come
    in time. Later requests on a keep-alive connection have aiohttp's ``keepalive_timeout``.
    """

    def __init__(self, handler: web.RequestHandler, connections: _Connections) -> None:
        self.handler = handler
        self.connections = connections
        self.transport: asyncio.Transport | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.tail = b""  # the last bytes seen, for a blank line split across two reads
        self.passed = False  # whether the handler saw connection_made
        self.shut = False  # answered here (408, 503): what comes in is drained, not read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.connections.admit(self):
            self._shut(self.connections.refusal)
            return
        loop = asyncio.get_running_loop()
        self.deadline = loop.call_later(self.connections.header_s, self.expire)
        self.passed = True
        self.handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.shut:
            return
        if self.deadline is not None:
            seen = self.tail + data[:4096]
            if _HEADERS_END in seen or _HEADERS_END in data:
                self.deadline.cancel()
                self.deadline = None
                self.connections.waiting.pop(self, None)
            self.tail = (self.tail + data)[-3:]
        if self.passed:
            self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        if self.passed and not self.shut:
            self.handler.eof_received()  # aiohttp's returns None: the transport closes itself
        return None

    def pause_writing(self) -> None:
        if self.passed:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.passed:
            self.handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.forget(self)
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if self.passed:
            self.handler.connection_lost(exc)

    def expire(self) -> None:
        """The headers did not come in time (or a new connection needs the slot): 408, close."""
        self.connections.forget(self)
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        self._shut(_TIMED_OUT)

    def _shut(self, answer: bytes) -> None:
        """Send ``answer``, end our side, drain the client's for a moment, then close.

        Closing a socket with unread bytes would reset the connection, and the client could
        lose the answer; half-closing lets it read the answer and the end of the stream.
        """
        transport = self.transport
        if self.shut or transport is None or transport.is_closing():
            return
        self.shut = True
        transport.write(answer)
        if transport.can_write_eof():
            transport.write_eof()
        asyncio.get_running_loop().call_later(_LINGER_S, transport.close)


def _answer(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    response = web.json_response({"error": message}, status=status, headers=headers)
    if status in (408, 413):  # the rest of the body is not worth reading: close the connection
        response.force_close()
    return response


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_body(raw: bytes, content_type: str, charset: str | None) -> Any:
    """The JSON value for a JSON content type (``ValueError`` when malformed), else text."""
    if not raw:
        return None
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return json.loads(raw.decode(charset or "utf-8"), parse_constant=_refuse_constant)
        except (LookupError, RecursionError) as exc:
            raise ValueError(str(exc) or type(exc).__name__) from exc
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return raw.decode("utf-8", errors="replace")


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def _query(request: web.Request) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for name in dict.fromkeys(request.query.keys()):
        values = request.query.getall(name)
        query[name] = values[0] if len(values) == 1 else list(values)
    return query
