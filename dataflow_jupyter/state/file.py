"""FileState: node state in a folder of files, each replaced atomically.

Layout: the key ``a/b/c`` is the file ``<root>/a/b/c.json`` (a JSON value) or
``<root>/a/b/c.arrow`` (a ``pyarrow.Table``, as an Arrow IPC file). Setting one kind removes
the other kind's file.

Durability guarantee: when ``await state.set(key, value)`` returns, the new value is on
disk and survives a crash of the process or of the machine (on a file system that honours
``fsync``). A write goes to a temporary file in the key's folder, which is flushed and
``fsync``-ed, then moved over the old file with ``os.replace`` (atomic on POSIX), and the
folder itself is ``fsync``-ed so the rename is durable too (as are folders the write had to
create). A reader therefore sees the old value or the new one, never a mix; a crash in the
middle leaves the old value intact. Only a stray ``.<name>.<random>.tmp`` file may remain,
which ``keys()`` ignores. When a key changes kind (JSON to table or back) the new file is
written before the old one is removed; should a crash fall between the two, ``get`` reads
the newer file. ``delete`` removes the files and ``fsync``-s the folder.

Safety: keys are checked by ``check_key`` (no ``..``, no absolute paths, no empty segments,
no NUL or backslash) and, in addition, the resolved path must lie inside the resolved root,
so a symbolic link cannot lead a key out of the folder (``StateKeyError``).

Concurrency: within one ``FileState`` operations are serialised by a lock. They run in worker
threads through ``asyncio.to_thread``, so a large Arrow table never blocks the event loop; a
cancelled call still completes its write or none of it. Several processes may share a
folder: each write is still atomic, the last one wins. Tables are read into memory (not
memory mapped), so a file changed behind our back can never crash the process. A corrupt
file raises ``StateCorruptError`` naming the file. JSON values round-trip as JSON does:
tuples come back as lists, non-string keys as strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

import pyarrow as pa

from dataflow_jupyter.state._keys import StateKeyError, check_key

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FileState", "StateCorruptError"]

_JSON: Final = ".json"
_ARROW: Final = ".arrow"
_TMP: Final = ".tmp"
_T = TypeVar("_T")


class StateCorruptError(ValueError):
    """A state file exists but cannot be read back (truncated, edited by hand, wrong format)."""


class FileState:
    """A ``StateAdapter`` in a folder: one file per key, replaced atomically and fsync-ed."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self._resolved_root = self.root.resolve()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<FileState {str(self.root)!r}>"

    async def get(self, key: str, default: Any = None) -> Any:
        return await asyncio.to_thread(self._locked, self._get_sync, key, default)

    async def set(self, key: str, value: Any) -> None:
        await asyncio.to_thread(self._locked, self._set_sync, key, value)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._locked, self._delete_sync, key)

    async def keys(self, prefix: str = "") -> list[str]:
        return await asyncio.to_thread(self._locked, self._keys_sync, prefix)

    async def close(self) -> None:
        return None  # no file stays open between calls

    # -- paths -------------------------------------------------------------------------------

    def _base(self, key: str) -> Path:
        """The key's path without extension; ``StateKeyError`` if it leaves the root."""
        base = self.root.joinpath(*check_key(key).split("/"))
        for path in (base.parent, _with_suffix(base, _JSON), _with_suffix(base, _ARROW)):
            self._check_inside(key, path)
        return base

    def _check_inside(self, key: str, path: Path) -> None:
        try:
            resolved = path.resolve()
        except (RuntimeError, OSError) as exc:  # a symlink loop: RuntimeError before 3.13
            msg = f"state key {key!r} cannot be resolved inside {self.root}: {exc}"
            raise StateKeyError(msg) from exc
        if not resolved.is_relative_to(self._resolved_root):
            msg = (
                f"state key {key!r} resolves to {resolved}, outside the state folder "
                f"{self._resolved_root} (through a symbolic link); refused"
            )
            raise StateKeyError(msg)

    # -- synchronous work, in a worker thread -------------------------------------------------

    def _locked(self, func: Callable[..., _T], *args: Any) -> _T:
        with self._lock:
            return func(*args)

    def _get_sync(self, key: str, default: Any) -> Any:
        base = self._base(key)
        json_file, arrow_file = _with_suffix(base, _JSON), _with_suffix(base, _ARROW)
        json_time, arrow_time = _mtime(json_file), _mtime(arrow_file)
        if json_time is None and arrow_time is None:
            return default
        if arrow_time is not None and (json_time is None or arrow_time > json_time):
            return _read_table(arrow_file)
        return _read_json(json_file)

    def _set_sync(self, key: str, value: Any) -> None:
        base = self._base(key)
        if isinstance(value, pa.Table):

            def write_table(stream: IO[bytes]) -> None:
                with pa.ipc.new_file(stream, value.schema) as writer:
                    writer.write_table(value)

            self._replace(base, _ARROW, write_table)
            return
        try:
            data = json.dumps(value).encode("utf-8")
        except (TypeError, ValueError) as exc:
            msg = (
                f"FileState stores JSON-compatible values or pyarrow Tables; the value for "
                f"{key!r} is {type(value).__name__}: {exc}. Convert it (for a RecordBatch use "
                "pa.Table.from_batches([batch]))"
            )
            raise TypeError(msg) from exc

        def write_json(stream: IO[bytes]) -> None:
            stream.write(data)

        self._replace(base, _JSON, write_json)

    def _replace(self, base: Path, suffix: str, write: Callable[[IO[bytes]], None]) -> None:
        folder = base.parent
        self._make_folders(folder)
        target = _with_suffix(base, suffix)
        fd, temp_name = tempfile.mkstemp(prefix=f".{base.name[:64]}.", suffix=_TMP, dir=folder)
        try:
            with open(fd, "wb") as stream:
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
        other = _with_suffix(base, _ARROW if suffix == _JSON else _JSON)
        with contextlib.suppress(FileNotFoundError):
            other.unlink()
        _fsync_dir(folder)

    def _make_folders(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents, fsync-ing each new entry's parent."""
        missing: list[Path] = []
        current = folder
        while not current.is_dir():
            missing.append(current)
            current = current.parent
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                if not path.is_dir():
                    msg = (
                        f"cannot store state under {path}: a file of that name holds another "
                        "key; rename one of the two keys"
                    )
                    raise StateKeyError(msg) from None
                continue
            _fsync_dir(path.parent)

    def _delete_sync(self, key: str) -> None:
        base = self._base(key)
        removed = False
        for suffix in (_JSON, _ARROW):
            try:
                _with_suffix(base, suffix).unlink()
                removed = True
            except FileNotFoundError:
                pass
        if not removed:
            return
        _fsync_dir(base.parent)
        folder = base.parent
        while folder != self.root:  # prune folders the deletion left empty
            try:
                folder.rmdir()
            except OSError:
                break
            _fsync_dir(folder.parent)
            folder = folder.parent

    def _keys_sync(self, prefix: str) -> list[str]:
        start = self.root
        folder_part = prefix.rpartition("/")[0]
        if folder_part:
            try:
                start = self.root.joinpath(*check_key(folder_part).split("/"))
            except StateKeyError:
                return []  # no key can start with an unsafe path
            if not start.is_dir() or not start.resolve().is_relative_to(self._resolved_root):
                return []
        found: set[str] = set()
        for dirpath, _dirnames, filenames in os.walk(start):  # does not follow links
            for filename in filenames:
                for suffix in (_JSON, _ARROW):
                    if not filename.endswith(suffix) or filename == suffix:
                        continue
                    path = Path(dirpath, filename)
                    if path.is_symlink() and not path.resolve().is_relative_to(self._resolved_root):
                        continue
                    key = path.relative_to(self.root).as_posix().removesuffix(suffix)
                    if key.startswith(prefix):
                        found.add(key)
        return sorted(found)


def _with_suffix(base: Path, suffix: str) -> Path:
    return base.with_name(base.name + suffix)


def _mtime(path: Path) -> int | None:
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return info.st_mtime_ns if stat.S_ISREG(info.st_mode) else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = (
            f"state file {path} is corrupt (not UTF-8 JSON: {exc}); delete it to reset the "
            "key or restore it from a backup"
        )
        raise StateCorruptError(msg) from exc


def _read_table(path: Path) -> pa.Table:
    try:
        with pa.OSFile(str(path), "rb") as source:
            return pa.ipc.open_file(source).read_all()
    except pa.ArrowInvalid as exc:
        msg = (
            f"state file {path} is corrupt (not an Arrow IPC file: {exc}); delete it to reset "
            "the key or restore it from a backup"
        )
        raise StateCorruptError(msg) from exc


def _fsync_dir(folder: Path) -> None:
    """Make renames, creations and removals in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
