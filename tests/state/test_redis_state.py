"""RedisState against a real redis-server (the contract tests in tests/test_state.py run on
it too): the key layout, Arrow values, corrupt values, and reconnection across restarts."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from dataflow_jupyter import Graph, GraphRuntime, NodeRegistry, NodeSpec
from dataflow_jupyter.graph import GraphConfig
from dataflow_jupyter.node import IONode, NodeContext
from dataflow_jupyter.packets import DataPacket
from dataflow_jupyter.registry import builtin_nodes_path
from dataflow_jupyter.state import NamespacedState, StateCorruptError, StateKeyError
from dataflow_jupyter.state.redis import (
    RedisState,
    RedisUnavailableError,
    decode_key,
    encode_key,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def state(redis_server: RedisServer) -> AsyncIterator[RedisState]:
    adapter = RedisState(redis_server.url, retry_for_s=5)
    yield adapter
    await adapter.close()


# -- layout ----------------------------------------------------------------------------------


async def test_keys_are_namespaced_graph_node_key(state: RedisState, raw: aioredis.Redis) -> None:
    node = NamespacedState(state, "prices/win")
    await node.set("window/AAPL", [[1, {"p": 3}]])
    await node.set("count", 7)
    assert sorted(await raw.keys("*")) == [
        b"dataflow:prices:win:count",
        b"dataflow:prices:win:window:AAPL",
    ]
    assert await raw.hgetall("dataflow:prices:win:window:AAPL") == {
        b"type": b"json",
        b"value": b'[[1, {"p": 3}]]',
    }
    assert await raw.hget("dataflow:prices:win:count", "value") == b"7"
    assert state.redis_key("prices/win/count") == "dataflow:prices:win:count"


async def test_a_colon_in_a_segment_never_collides_with_a_slash(
    state: RedisState, raw: aioredis.Redis
) -> None:
    await state.set("a:b", 1)
    await state.set("a/b", 2)
    await state.set("100%", 3)
    assert sorted(await raw.keys("*")) == [b"dataflow:100%25", b"dataflow:a%3Ab", b"dataflow:a:b"]
    assert (await state.get("a:b"), await state.get("a/b"), await state.get("100%")) == (1, 2, 3)
    assert await state.keys("a") == ["a/b", "a:b"]
    assert await state.keys("a:") == ["a:b"]
    assert await state.keys("a/") == ["a/b"]


async def test_the_prefix_and_glob_characters(
    redis_server: RedisServer, raw: aioredis.Redis
) -> None:
    mine = RedisState(redis_server.url, prefix="team[1]")
    other = RedisState(redis_server.url, prefix="team")
    await mine.set("k*?", 1)
    await other.set("k", 2)
    await raw.set("team[1]:stranger%zz", b"not ours")  # not a key encode_key makes: skipped
    assert await mine.keys() == ["k*?"]
    assert await mine.keys("k*") == ["k*?"]
    assert await mine.keys("*") == []
    assert await other.keys() == ["k"]
    await mine.close()
    await other.close()


@given(st.text(alphabet=["a", ":", "%", "/", "3", "A", "2", "5", "é", "*"], max_size=10))
def test_the_key_encoding_is_reversible_and_keeps_prefixes(key: str) -> None:
    try:
        encoded = encode_key(key)
    except StateKeyError:
        return
    assert "/" not in encoded
    assert decode_key(encoded) == key
    for cut in range(1, len(key)):
        assert encoded.startswith(key[:cut].translate({37: "%25", 58: "%3A", 47: ":"}))


# -- values ----------------------------------------------------------------------------------


async def test_arrow_tables_round_trip_as_ipc_streams(
    state: RedisState, raw: aioredis.Redis
) -> None:
    table = pa.table(
        {
            "sym": pa.array(["a", None, "c"]).dictionary_encode(),
            "price": [1.5, None, 3.25],
            "when": pa.array([0, 1, 2], pa.timestamp("ns", tz="UTC")),
            "tags": [["x"], [], None],
            "nested": [{"q": 1}, None, {"q": 3}],
        }
    ).replace_schema_metadata({"source": "test"})
    await state.set("frames/last", table)
    got = await state.get("frames/last")
    assert got.equals(table)
    assert got.schema.metadata == {b"source": b"test"}
    stored = await raw.hgetall("dataflow:frames:last")
    assert stored[b"type"] == b"arrow"
    assert pa.ipc.open_stream(stored[b"value"]).read_all().equals(table)
    empty = table.slice(0, 0)
    await state.set("frames/empty", empty)
    assert (await state.get("frames/empty")).schema == table.schema


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (["SET", "dataflow:k", "plain"], "WRONGTYPE"),
        (["HSET", "dataflow:k", "type", "json", "value", "{oops"], "not UTF-8 JSON"),
        (["HSET", "dataflow:k", "type", "arrow", "value", "ARROW?"], "not an Arrow IPC stream"),
        (["HSET", "dataflow:k", "type", "pickle", "value", "x"], "'type' field is b'pickle'"),
        (["HSET", "dataflow:k", "value", "1"], "'type' field is None"),
    ],
)
async def test_a_value_we_did_not_write_is_named_in_the_error(
    state: RedisState, raw: aioredis.Redis, command: list[str], why: str
) -> None:
    await raw.execute_command(*command)
    with pytest.raises(StateCorruptError, match=why) as info:
        await state.get("k")
    assert "Redis key 'dataflow:k' at redis://127.0.0.1:" in str(info.value)
    if command[0] == "SET":  # a key of another type is never overwritten
        with pytest.raises(StateCorruptError, match="WRONGTYPE"):
            await state.set("k", 1)
        assert await raw.get("dataflow:k") == b"plain"
    else:
        await state.set("k", 1)
        assert await state.get("k") == 1


async def test_values_that_are_not_json_are_refused(state: RedisState) -> None:
    with pytest.raises(TypeError, match="RedisState stores JSON-compatible values"):
        await state.set("k", {1, 2})
    assert await state.keys() == []


# -- connections -----------------------------------------------------------------------------


async def test_a_server_that_never_answers_is_named(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        url = f"redis://user:s3cret@127.0.0.1:{port}/0"
        state = RedisState(url, retry_for_s=0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with (
            caplog.at_level(logging.WARNING, "dataflow_jupyter.state"),
            pytest.raises(RedisUnavailableError) as info,
        ):
            await state.set("g/n/k", 1)
        assert loop.time() - started >= 0.3
    message = str(info.value)
    assert message.startswith(
        f"Redis at redis://user:***@127.0.0.1:{port}/0 did not answer HSET for state key "
        "'g/n/k' within 0.3 s ("
    )
    assert "Is redis-server running and reachable?" in message
    assert "s3cret" not in message
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) >= 3
    assert all("reconnecting in" in m and "s3cret" not in m for m in retries)
    await state.close()


def test_one_state_serves_several_event_loops(redis_server: RedisServer) -> None:
    state = RedisState(redis_server.url)
    asyncio.run(state.set("k", 1))
    assert asyncio.run(state.get("k")) == 1  # a new loop: a new client
    asyncio.run(state.close())


async def test_a_client_can_be_given(redis_server: RedisServer, raw: aioredis.Redis) -> None:
    state = RedisState(redis_server.url, prefix="p", client=raw)
    await state.set("k", [1])
    await state.close()  # leaves the given client open
    assert await raw.hget("p:k", "value") == b"[1]"


async def test_writes_go_on_across_a_redis_restart(
    redis_server: RedisServer, raw: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGKILL redis-server while a writer keeps going: nothing acknowledged is lost."""
    state = RedisState(redis_server.url, retry_for_s=20)
    acknowledged: list[int] = []

    async def writer() -> None:
        for i in range(300):
            await state.set(f"log/{i}", {"i": i})
            await state.set("last", i)
            assert await state.get("last") == i
            acknowledged.append(i)
            await asyncio.sleep(0.002)

    with caplog.at_level(logging.WARNING, "dataflow_jupyter.state"):
        task = asyncio.create_task(writer())
        while len(acknowledged) < 50:
            await asyncio.sleep(0.005)
        await asyncio.to_thread(redis_server.stop, signal.SIGKILL)
        before_stop = list(acknowledged)
        await asyncio.sleep(0.5)
        assert not task.done()
        assert acknowledged == before_stop  # nothing is acknowledged while Redis is down
        await asyncio.to_thread(redis_server.start)
        await asyncio.wait_for(task, 30)
    assert acknowledged == list(range(300))
    assert await state.keys("log/") == sorted(f"log/{i}" for i in range(300))
    for i in before_stop:
        assert await raw.hget(f"dataflow:log:{i}", "value") == f'{{"i": {i}}}'.encode()
    messages = [r.getMessage() for r in caplog.records]
    assert any("reconnecting in" in m for m in messages)
    assert any("reconnected after" in m for m in messages)
    await state.close()


class Numbers(IONode):
    """Emits ``{"n": 0..count-1}``, one every ``intervalMs``."""

    async def run(self, ctx: NodeContext) -> None:
        for n in range(self.settings["count"]):
            await ctx.emit("out", DataPacket({"n": n}, origin_node=self.node_id))
            await asyncio.sleep(self.settings["intervalMs"] / 1000)


def numbers_spec() -> NodeSpec:
    return NodeSpec.model_validate(
        {
            "id": "numbers",
            "version": "1.0.0",
            "category": "Test",
            "name": "Numbers",
            "ports": {"outputs": [{"name": "out"}]},
            "settings": [
                {"name": "count", "type": "integer", "default": 10},
                {"name": "intervalMs", "type": "number", "default": 1},
            ],
        }
    )


async def test_a_sliding_window_loses_nothing_when_redis_restarts(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    registry = NodeRegistry([builtin_nodes_path() / "Aggregation"], include_builtin=False)
    registry.register(numbers_spec(), Numbers)
    config = GraphConfig.model_validate(
        {"stateStorage": {"type": "redis", "url": redis_server.url, "prefix": "t"}}
    )
    graph = Graph(id="restart", config=config, registry=registry)
    graph.add_node("numbers", settings={"count": 200, "intervalMs": 3}, id="src")
    graph.add_node("sliding-window", settings={"size": 1000, "field": "n"}, id="win")
    graph.connect("src.out", "win.in")
    runtime = GraphRuntime(graph, registry, state="redis")
    assert isinstance(runtime.state, RedisState)
    assert (runtime.state.url, runtime.state.prefix) == (redis_server.url, "t")
    with caplog.at_level(logging.WARNING, "dataflow_jupyter.state"):
        run = asyncio.create_task(runtime.run_async())
        await asyncio.sleep(0.2)
        await asyncio.to_thread(redis_server.stop, signal.SIGKILL)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(redis_server.start)
        result = await asyncio.wait_for(run, 30)
    assert result.ok, result.errors
    assert any("reconnected after" in r.getMessage() for r in caplog.records)
    counts = [a["count"] for a in result.outputs["win.aggregate"]]
    assert counts == list(range(1, 201))
    window: Any = await runtime.state.get("restart/win/window/null")
    assert [value["n"] for _, value in window["items"]] == list(range(200))
    await runtime.state.close()


def test_passwords_never_show() -> None:
    from dataflow_jupyter.state.redis import RedisState

    assert "hunter2" not in repr(RedisState("redis://127.0.0.1:6399/0?password=hunter2"))
    assert "pw" not in repr(RedisState("redis://u:pw@[::1]:6399/0"))
