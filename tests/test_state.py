from __future__ import annotations

import asyncio
import os
import stat
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflow_jupyter.state import (
    FileState,
    MemoryState,
    NamespacedState,
    StateAdapter,
    StateKeyError,
)
from dataflow_jupyter.state.file import StateCorruptError
from dataflow_jupyter.state.redis import RedisState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

ESCAPING_KEYS = [
    "../x",
    "..",
    ".",
    "/etc/passwd",
    "/",
    "a/../../b",
    "a/..",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    "a\\b",
    "..\\..\\x",
    "a\x00b",
    "",
    None,
    42,
]


@pytest.fixture(params=["memory", "file", pytest.param("redis", marks=pytest.mark.integration)])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateAdapter]:
    adapter: StateAdapter
    if request.param == "redis":
        adapter = RedisState(request.getfixturevalue("redis_server").url, retry_for_s=0)
    elif request.param == "file":
        adapter = FileState(tmp_path / "state")
    else:
        adapter = MemoryState()
    yield adapter
    await adapter.close()


@pytest.fixture
def table() -> pa.Table:
    return pa.table({"price": [1.5, 2.5, None], "sym": ["a", "b", "c"]})


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


async def test_get_returns_the_default_for_a_missing_key(state: StateAdapter) -> None:
    assert await state.get("missing") is None
    assert await state.get("missing", 7) == 7
    assert await state.get("a/b/c", {"x": 1}) == {"x": 1}


async def test_set_then_get_a_json_value(state: StateAdapter) -> None:
    value = {"count": 3, "items": [1, "two", None, True, 2.5], "nested": {"k": []}}
    await state.set("window/items", value)
    got = await state.get("window/items")
    assert got == value
    got["count"] = 99  # the caller's copy is not the stored value
    assert (await state.get("window/items"))["count"] == 3
    await state.set("scalar", 5)
    assert await state.get("scalar") == 5


async def test_set_then_get_an_arrow_table(state: StateAdapter, table: pa.Table) -> None:
    await state.set("frames/last", table)
    got = await state.get("frames/last")
    assert isinstance(got, pa.Table)
    assert got.equals(table)
    assert got.schema == table.schema


async def test_a_key_changes_kind_both_ways(state: StateAdapter, table: pa.Table) -> None:
    await state.set("k", {"v": 1})
    await state.set("k", table)
    assert (await state.get("k")).equals(table)
    await state.set("k", [1, 2])
    assert await state.get("k") == [1, 2]
    assert await state.keys() == ["k"]


async def test_delete(state: StateAdapter, table: pa.Table) -> None:
    await state.set("a/x", 1)
    await state.set("a/t", table)
    await state.delete("a/x")
    await state.delete("a/t")
    await state.delete("never/there")  # not an error
    assert await state.get("a/x") is None
    assert await state.get("a/t", "gone") == "gone"
    assert await state.keys() == []


async def test_keys_are_sorted_and_filtered_by_prefix(state: StateAdapter, table: pa.Table) -> None:
    for key in ("b/z", "a/y", "ab", "a/x/deep", "a/x"):
        await state.set(key, 1)
    await state.set("a/t", table)
    assert await state.keys() == ["a/t", "a/x", "a/x/deep", "a/y", "ab", "b/z"]
    assert await state.keys("a/") == ["a/t", "a/x", "a/x/deep", "a/y"]
    assert await state.keys("a") == ["a/t", "a/x", "a/x/deep", "a/y", "ab"]
    assert await state.keys("a/x") == ["a/x", "a/x/deep"]
    assert await state.keys("zzz") == []
    assert await state.keys("../") == []


async def test_namespaces_are_isolated(state: StateAdapter) -> None:
    first = NamespacedState(state, "graph/n1")
    second = NamespacedState(state, "graph/n2")
    await first.set("count", 1)
    await second.set("count", 2)
    await first.set("seen/a", value=True)
    assert await first.get("count") == 1
    assert await second.get("count") == 2
    assert await first.keys() == ["count", "seen/a"]
    assert await second.keys() == ["count"]
    await first.delete("count")
    assert await first.get("count") is None
    assert await second.get("count") == 2
    assert await state.keys("graph/") == ["graph/n1/seen/a", "graph/n2/count"]
    with pytest.raises(StateKeyError):
        await first.get("../n2/count")


@pytest.mark.parametrize("key", ESCAPING_KEYS, ids=repr)
async def test_escaping_keys_are_refused(state: StateAdapter, key: Any, tmp_path: Path) -> None:
    before = files_under(tmp_path)
    with pytest.raises(StateKeyError):
        await state.get(key)
    with pytest.raises(StateKeyError):
        await state.set(key, {"x": 1})
    with pytest.raises(StateKeyError):
        await state.delete(key)
    with pytest.raises(StateKeyError):
        NamespacedState(state, key)
    with pytest.raises(StateKeyError):
        await NamespacedState(state, "ns").set(key, 1)
    assert files_under(tmp_path) == before
    assert await state.keys() == []


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=st.text(alphabet=["a", "é", ".", "/", "\\", "\x00", " ", "~", ":"], max_size=12))
def test_no_key_ever_leaves_the_folder(tmp_path: Path, key: str) -> None:
    root = tmp_path / "state"

    async def attempt(adapter: StateAdapter) -> bool:
        try:
            await adapter.set(key, {"key": key})
        except StateKeyError:
            return False
        assert await adapter.get(key) == {"key": key}
        assert key in await adapter.keys()
        await adapter.delete(key)
        return True

    accepted_by_file = asyncio.run(attempt(FileState(root)))
    assert accepted_by_file == asyncio.run(attempt(MemoryState()))
    assert [p for p in tmp_path.rglob("*") if not p.is_relative_to(root)] == []
    assert files_under(root) == []


# -- FileState only --------------------------------------------------------------------------


async def test_file_state_layout_and_persistence(tmp_path: Path, table: pa.Table) -> None:
    root = tmp_path / "state"
    state = FileState(root)
    await state.set("g/n/count", 3)
    await state.set("g/n/frame", table)
    assert files_under(root) == ["g/n/count.json", "g/n/frame.arrow"]
    with pa.OSFile(str(root / "g/n/frame.arrow")) as source:  # a plain Arrow IPC file
        assert pa.ipc.open_file(source).read_all().equals(table)
    await state.set("g/n/frame", {"now": "json"})  # the other kind's file is removed
    assert files_under(root) == ["g/n/count.json", "g/n/frame.json"]
    reopened = FileState(root)
    assert await reopened.get("g/n/count") == 3
    assert await reopened.keys() == ["g/n/count", "g/n/frame"]
    await reopened.delete("g/n/count")
    await reopened.delete("g/n/frame")
    assert list(root.iterdir()) == []  # emptied folders are pruned


async def test_file_state_refuses_a_symlink_escape(tmp_path: Path) -> None:
    root, outside = tmp_path / "state", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.json").write_text('"top secret"', encoding="utf-8")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file.json").symlink_to(outside / "secret.json")
    state = FileState(root)
    for key in ("link/secret", "link/new", "link/deeper/new", "file"):
        with pytest.raises(StateKeyError, match="outside the state folder"):
            await state.get(key)
        with pytest.raises(StateKeyError, match="outside the state folder"):
            await state.set(key, "overwritten")
        with pytest.raises(StateKeyError, match="outside the state folder"):
            await state.delete(key)
    (root / "loop").symlink_to(root / "loop")
    with pytest.raises(StateKeyError, match="cannot be resolved"):
        await state.set("loop/x", 1)
    assert await state.keys() == []
    assert files_under(outside) == ["secret.json"]
    assert (outside / "secret.json").read_text(encoding="utf-8") == '"top secret"'


async def test_file_state_allows_a_symlink_inside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "state"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    state = FileState(root)
    await state.set("alias/k", 1)
    assert await state.get("real/k") == 1


async def test_file_state_leaves_no_temp_files(tmp_path: Path, table: pa.Table) -> None:
    root = tmp_path / "state"
    state = FileState(root)
    for i in range(101):
        await state.set("hot/key", {"i": i} if i % 3 else table)
        await state.set(f"many/k{i % 7}", i)
    assert await state.get("hot/key") == {"i": 100}
    assert [name for name in files_under(root) if "tmp" in name] == []
    assert files_under(root) == ["hot/key.json"] + [f"many/k{i}.json" for i in range(7)]


async def test_file_state_fsyncs_the_file_and_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = FileState(tmp_path / "state")
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    await state.set("k", 1)
    assert synced == ["file", "dir"]  # data before the rename, then the rename itself


@pytest.mark.parametrize("new_kind", ["json", "table"])
async def test_a_crash_mid_write_keeps_the_old_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: pa.Table, new_kind: str
) -> None:
    root = tmp_path / "state"
    state = FileState(root)
    await state.set("k", {"v": 1})

    def crash(src: Any, dst: Any) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        await state.set("k", {"v": 2} if new_kind == "json" else table)
    monkeypatch.undo()
    assert await state.get("k") == {"v": 1}
    assert files_under(root) == ["k.json"]
    # a real crash (no cleanup) leaves a temp file: it is never taken for a key
    (root / ".k.x1y2z3.tmp").write_bytes(b'{"v": 2')
    assert await state.keys() == ["k"]
    assert await state.get("k") == {"v": 1}


@pytest.mark.parametrize(
    ("name", "content"),
    [("k.json", b'{"truncated": '), ("k.json", b"\xff\xfe"), ("k.arrow", b"ARROW1 not really")],
)
async def test_a_corrupt_file_is_named_in_the_error(
    tmp_path: Path, name: str, content: bytes
) -> None:
    root = tmp_path / "state"
    state = FileState(root)
    (root / name).write_bytes(content)
    with pytest.raises(StateCorruptError, match=str(root / name)):
        await state.get("k")


async def test_file_state_refuses_values_that_are_not_json(tmp_path: Path) -> None:
    state = FileState(tmp_path / "state")
    with pytest.raises(TypeError, match="JSON-compatible values or pyarrow Tables"):
        await state.set("k", object())
    assert await state.keys() == []


async def test_a_key_cannot_nest_under_a_file_key_with_a_suffix_name(tmp_path: Path) -> None:
    state = FileState(tmp_path / "state")
    await state.set("a", 1)  # a.json
    with pytest.raises(StateKeyError, match="a file of that name holds another key"):
        await state.set("a.json/b", 2)
    assert await state.get("a") == 1
