"""RedisState: node state in Redis, through ``redis.asyncio``.

Layout. A state key is a ``/``-separated path (``<graph>/<node>/<key>`` once a node's
``NamespacedState`` has added its namespace). Its Redis key is the prefix, a ``:``, and the
path with every ``/`` turned into ``:``::

    state key  prices/win/window/a      ->  Redis key  dataflow:prices:win:window:a

So that two state keys can never share a Redis key, a ``:`` inside a segment is written
``%3A`` and a ``%`` is written ``%25`` (``a:b/c`` -> ``dataflow:a%3Ab:c``). The mapping goes
character by character, so a ``keys(prefix)`` maps its prefix the same way and finds exactly
the keys that start with it. Keys are checked by ``check_key`` like every adapter's.

Each key holds a Redis hash of two fields: ``type`` (``json`` or ``arrow``) and ``value``
(JSON text in UTF-8, or a ``pyarrow.Table`` as Arrow IPC stream bytes). One ``HSET`` writes
both, so a reader sees the old value or the new one, never a mix::

    $ redis-cli HGETALL dataflow:prices:win:window:a
    1) "type"   2) "json"   3) "value"   4) "[[1700000000000000000, {\\"price\\": 3}]]"

Durability. ``set`` returns once Redis has acknowledged the write. A crash of *this* process
never loses an acknowledged write. A crash of ``redis-server`` or of its machine loses what
its persistence settings allow: none with ``appendonly yes`` and ``appendfsync always``
(Redis then fsyncs its append-only file before it answers), up to about a second with the
default ``appendfsync everysec``, everything since the last snapshot without an
append-only file. Configure the server accordingly.

Reconnection. A command that fails because the connection is gone (Redis restarting or still
loading its data set, a network failure, a socket timeout) is retried with exponential
backoff (50 ms, doubling up to 2 s) for up to ``retry_for_s`` seconds, 30 by default; each
retry is logged as a warning on the ``dataflow_jupyter.state`` logger, and the reconnection
once it works. Every command writes or removes a whole value, so sending one twice is
harmless. When Redis does not come back in time, ``RedisUnavailableError`` names the URL
(without its password) and the command. Errors Redis answers (wrong credentials, out of
memory, a key of another type) are raised at once.

Event loops. ``redis.asyncio`` connections belong to the loop that opened them, so a
``RedisState`` used from a new loop (a second ``asyncio.run``) opens a new client on it.

This module is the only one in the package that imports ``redis``; ``import
dataflow_jupyter.state`` does not load it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dataflow_jupyter.state._keys import check_key
from dataflow_jupyter.state.file import StateCorruptError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_URL",
    "RedisState",
    "RedisUnavailableError",
    "decode_key",
    "encode_key",
]

DEFAULT_URL: Final = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX: Final = "dataflow"

_log = logging.getLogger("dataflow_jupyter.state")
_TYPE: Final = b"type"
_VALUE: Final = b"value"
_JSON: Final = b"json"
_ARROW: Final = b"arrow"
_FIRST_DELAY_S: Final = 0.05
_MAX_DELAY_S: Final = 2.0
_ENCODE: Final = str.maketrans({"%": "%25", ":": "%3A", "/": ":"})
_GLOB_SPECIAL: Final = str.maketrans({c: "\\" + c for c in "\\*?[]"})
_LOST: Final = (RedisConnectionError, RedisTimeoutError, OSError)
_REFUSED: Final = (AuthenticationError, AuthorizationError)


class RedisUnavailableError(ConnectionError):
    """Redis did not answer within ``retry_for_s`` seconds."""


def encode_key(key: str) -> str:
    """The Redis key suffix of a state key: ``/`` to ``:``, ``:`` to ``%3A``, ``%`` to ``%25``."""
    return check_key(key).translate(_ENCODE)


def decode_key(encoded: str) -> str | None:
    """The state key of an encoded suffix, or ``None`` when it is not one ``encode_key`` made."""
    out: list[str] = []
    i = 0
    while i < len(encoded):
        char = encoded[i]
        if char == ":":
            out.append("/")
        elif char == "%":
            code = encoded[i + 1 : i + 3]
            if code not in ("25", "3A"):
                return None
            out.append("%" if code == "25" else ":")
            i += 2
        else:
            out.append(char)
        i += 1
    key = "".join(out)
    try:
        check_key(key)
    except ValueError:
        return None
    return key


class RedisState:
    """A ``StateAdapter`` in Redis: one hash per key (see the module docstring).

    ``url``: the server, ``redis://[user:password@]host:port/db`` (or ``rediss://``,
    ``unix://``); ``redis://127.0.0.1:6379/0`` by default. ``prefix``: the first part of
    every Redis key, ``dataflow`` by default. ``retry_for_s``: how long a command is retried
    while Redis cannot be reached (0: once). ``client``: a ``redis.asyncio.Redis`` to use
    instead of one made from ``url`` (then ``url`` only names it in messages; ``close()``
    leaves it open, and it serves the loop it was made on).
    """

    def __init__(
        self,
        url: str | None = None,
        prefix: str | None = None,
        *,
        retry_for_s: float = 30.0,
        client: aioredis.Redis | None = None,
    ) -> None:
        self.url = url or DEFAULT_URL
        self.prefix = prefix or DEFAULT_PREFIX
        if retry_for_s < 0:
            msg = f"retry_for_s must be at least 0 seconds; got {retry_for_s!r}"
            raise ValueError(msg)
        self.retry_for_s = float(retry_for_s)
        self._shown_url = _redact(self.url)
        self._given = client
        self._client: aioredis.Redis | None = client
        self._loop: asyncio.AbstractEventLoop | None = None
        if client is None:
            self._client = self._new_client()  # checks the URL now; connects on first use

    def __repr__(self) -> str:
        return f"<RedisState {self._shown_url!r} prefix {self.prefix!r}>"

    @property
    def connects_by_url(self) -> bool:
        """Whether the connections are made from ``url`` (``False`` when a client was given:
        then ``url`` only names it). Another process reaches the same data with
        ``RedisState(url, prefix)`` only when this is ``True``."""
        return self._given is None

    def redis_key(self, key: str) -> str:
        """The Redis key that holds state key ``key``."""
        return f"{self.prefix}:{encode_key(key)}"

    # -- the StateAdapter protocol -----------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        name = self.redis_key(key)
        kind, data = await self._call("HMGET", key, lambda r: r.hmget(name, [_TYPE, _VALUE]))
        if kind is None and data is None:
            return default
        if kind == _JSON and data is not None:
            try:
                return json.loads(data)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise self._corrupt(name, f"not UTF-8 JSON: {exc}") from exc
        if kind == _ARROW and data is not None:
            try:
                return pa.ipc.open_stream(pa.py_buffer(data)).read_all()
            except (pa.ArrowInvalid, OSError) as exc:
                raise self._corrupt(name, f"not an Arrow IPC stream: {exc}") from exc
        raise self._corrupt(name, f"its 'type' field is {kind!r}, expected b'json' or b'arrow'")

    async def set(self, key: str, value: Any) -> None:
        name = self.redis_key(key)
        data: bytes
        if isinstance(value, pa.Table):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, value.schema) as writer:
                writer.write_table(value)
            kind, data = _ARROW, sink.getvalue().to_pybytes()
        else:
            try:
                text = json.dumps(value)
            except (TypeError, ValueError) as exc:
                msg = (
                    f"RedisState stores JSON-compatible values or pyarrow Tables; the value for "
                    f"{key!r} is {type(value).__name__}: {exc}. Convert it (for a RecordBatch use "
                    "pa.Table.from_batches([batch]))"
                )
                raise TypeError(msg) from exc
            kind, data = _JSON, text.encode("utf-8")
        await self._call("HSET", key, lambda r: r.hset(name, mapping={_TYPE: kind, _VALUE: data}))

    async def delete(self, key: str) -> None:
        name = self.redis_key(key)
        await self._call("DEL", key, lambda r: r.delete(name))

    async def keys(self, prefix: str = "") -> list[str]:
        head = f"{self.prefix}:"
        pattern = (head + prefix.translate(_ENCODE)).translate(_GLOB_SPECIAL) + "*"

        async def scan(client: aioredis.Redis) -> list[bytes]:
            return [name async for name in client.scan_iter(match=pattern, count=1000)]

        found: set[str] = set()
        for raw in await self._call("SCAN", prefix or "*", scan):
            name = raw.decode("utf-8", errors="replace")
            key = decode_key(name[len(head) :]) if name.startswith(head) else None
            if key is not None and key.startswith(prefix):
                found.add(key)
        return sorted(found)

    async def close(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None and client is not self._given:
            with contextlib.suppress(RuntimeError):  # its loop is gone, and its connections
                await client.aclose()

    # -- connection and retries --------------------------------------------------------------

    def _new_client(self) -> aioredis.Redis:
        # No retries inside redis-py: ``_call`` retries for ``retry_for_s`` and logs.
        return aioredis.Redis.from_url(self.url, retry=Retry(NoBackoff(), 0))

    def _client_here(self) -> aioredis.Redis:
        """The client for the running loop (a new one when the loop changed)."""
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        if self._client is None or (self._loop is not None and self._loop is not loop):
            self._client = self._new_client()  # the old one's connections died with its loop
        self._loop = loop
        return self._client

    async def _call(
        self, command: str, key: str, func: Callable[[aioredis.Redis], Awaitable[Any]]
    ) -> Any:
        """Run one command, retrying with backoff while the connection is lost."""
        client = self._client_here()
        deadline = time.monotonic() + self.retry_for_s
        delay = _FIRST_DELAY_S
        failures = 0
        first_failure = 0.0
        while True:
            try:
                result = await func(client)
            except _REFUSED:
                raise
            except _LOST as exc:
                now = time.monotonic()
                if failures == 0:
                    first_failure = now
                failures += 1
                if now >= deadline:
                    msg = (
                        f"Redis at {self._shown_url} did not answer {command} for state key "
                        f"{key!r} within {self.retry_for_s:g} s ({failures} attempts; last "
                        f"error: {type(exc).__name__}: {str(exc).rstrip('.')}). Is "
                        "redis-server running and reachable? Start it, or raise retry_for_s"
                    )
                    raise RedisUnavailableError(msg) from exc
                wait = min(delay, deadline - now)
                _log.warning(
                    "Redis at %s: %s %r failed (%s: %s); reconnecting in %.2f s (attempt %d)",
                    self._shown_url,
                    command,
                    key,
                    type(exc).__name__,
                    exc,
                    wait,
                    failures,
                )
                await asyncio.sleep(wait)
                delay = min(delay * 2, _MAX_DELAY_S)
                continue
            except ResponseError as exc:
                if str(exc).startswith("WRONGTYPE"):
                    raise self._corrupt(self.redis_key(key), str(exc)) from exc
                raise
            if failures:
                _log.warning(
                    "Redis at %s: reconnected after %d failed attempts (%.2f s)",
                    self._shown_url,
                    failures,
                    time.monotonic() - first_failure,
                )
            return result

    def _corrupt(self, name: str, why: str) -> StateCorruptError:
        msg = (
            f"Redis key {name!r} at {self._shown_url} is not a dataflow state value ({why}); "
            "delete it to reset the key"
        )
        return StateCorruptError(msg)


def _redact(url: str) -> str:
    """``url`` without its password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.rpartition("@")[2]  # the host as written ([::1] keeps its brackets)
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc}"
    query = (
        "&".join(
            "password=***" if item.lower().startswith("password=") else item
            for item in parts.query.split("&")
        )
        if parts.query
        else ""
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))
