"""The data root: the one folder a graph's nodes and state may read and write under.

A graph file is data someone may hand you; the paths it names (``read-file``'s ``path``,
``write-file``'s ``path``, ``config.stateStorage.path``) are resolved against a *data root*,
never against the whole file system.

Which root. The first of: the ``data_root`` the user's code passes (``GraphRuntime(...,
data_root=...)``), the ``DATAFLOW_DATA_ROOT`` environment
variable, the folder of the graph file (``Graph.load`` records it), the working folder (in a
notebook, the notebook's folder). Only code and configuration choose it: nothing in a graph
file can widen it. To let a graph reach further, pass a wider folder (``data_root="/"``
opens everything; do that only for graphs you wrote).

The rules (``DataRoot.resolve``). A relative path starts from the graph file's folder (else
the working folder) when that lies inside the root, else from the root; an absolute path is
accepted only when it lies inside the root. The path, once ``..`` is folded and every
symbolic link followed, must still lie inside the root (a link inside the root that points
inside it is fine). Writing (``open_write``) never follows a symbolic link at the file
itself, creates missing folders only inside the root, and refuses a path whose folder leaves
it. A refusal raises ``DataRootError`` (a ``PermissionError``, so nodes that turn an
``OSError`` into an error packet report it as one).

Special files. FIFOs, devices and sockets are refused *before* they are opened (``stat``, not
``open``: opening a FIFO blocks until a writer comes; ``/dev/zero`` never ends). Files are
opened non-blocking and checked again with ``fstat`` (the same file, still regular), so a
file swapped for a FIFO between the two looks is refused too. ``read_limited`` reads at most
``limit + 1`` bytes whatever ``st_size`` claims (``/proc`` files claim 0), for every loader
of a small document (graph files, ``schema.json``).

Not covered: a process that can write inside the root and races a folder rename against a
read (replacing a checked folder by a link after the check). The data root limits what a
*graph file* can reach, not what other local users can do.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

__all__ = [
    "DATA_ROOT_ENV",
    "DataRoot",
    "DataRootError",
    "FileTooLargeError",
    "SpecialFileError",
    "open_regular",
    "read_limited",
]

DATA_ROOT_ENV: Final = "DATAFLOW_DATA_ROOT"
_READ_FLAGS: Final = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_WRITE_FLAGS: Final = (
    os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
)


class DataRootError(PermissionError):
    """A path that leaves the data root, or a write through a symbolic link."""


class SpecialFileError(OSError):
    """A FIFO, device, socket or folder where a regular file was expected."""


class FileTooLargeError(OSError):
    """A file holding more bytes than its reader's limit."""


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISLNK, "symbolic link"),
    )
    return next((name for test, name in kinds if test(mode)), "special file")


def _refuse_special(path: str | os.PathLike[str], mode: int) -> None:
    if not stat.S_ISREG(mode):
        msg = (
            f"{os.fspath(path)!r} is a {_kind(mode)}, not a regular file; only regular files "
            "are read or written (a FIFO would block and a device never ends)"
        )
        raise SpecialFileError(msg)


def _open_checked(path: str | os.PathLike[str], flags: int, mode: int = 0o666) -> int:
    """``os.open`` non-blocking, then ``fstat``: the descriptor of a regular file, or raise."""
    fd = os.open(path, flags, mode)
    try:
        _refuse_special(path, os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """``path`` opened for binary reading; ``SpecialFileError`` for anything but a regular file.

    The file is checked with ``stat`` before it is opened and with ``fstat`` after.
    """
    _refuse_special(path, os.stat(path).st_mode)
    return os.fdopen(_open_checked(path, _READ_FLAGS), "rb")


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of regular file ``path``, at most ``limit``; ``FileTooLargeError`` beyond.

    Reads at most ``limit + 1`` bytes, so a file whose ``st_size`` lies (``/proc``, a file
    growing meanwhile) cannot make it read more.
    """
    with open_regular(path) as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        msg = f"{os.fspath(path)!r} holds more than {limit} bytes, the limit for this file"
        raise FileTooLargeError(msg)
    return data


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True, slots=True)
class DataRoot:
    """A folder that file paths are resolved against and must stay inside (module docstring)."""

    path: Path
    base: Path | None = None  # where relative paths start; inside ``path`` (else ``path``)

    def __post_init__(self) -> None:
        path = Path(os.path.realpath(self.path))
        base = path if self.base is None else Path(os.path.realpath(self.base))
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "base", base if _inside(str(base), str(path)) else path)

    @classmethod
    def choose(
        cls,
        explicit: str | os.PathLike[str] | DataRoot | None = None,
        graph_folder: str | os.PathLike[str] | None = None,
    ) -> DataRoot:
        """The root: ``explicit`` (code), else ``$DATAFLOW_DATA_ROOT``, the graph's folder, cwd."""
        if isinstance(explicit, DataRoot):
            return explicit
        base = Path.cwd() if graph_folder is None else Path(graph_folder)
        if explicit is not None:
            return cls(Path(explicit).expanduser(), base)
        configured = os.environ.get(DATA_ROOT_ENV)
        if configured:
            return cls(Path(configured).expanduser(), base)
        return cls(base)

    def _refuse(self, name: str | os.PathLike[str], where: str, why: str) -> DataRootError:
        msg = (
            f"{where}: path {os.fspath(name)!r} {why}; paths stay inside the data root "
            f"{str(self.path)!r}. Use a path inside it, or widen the root in code "
            f"(GraphRuntime(..., data_root=...)) or with {DATA_ROOT_ENV}; a graph file cannot"
        )
        return DataRootError(msg)

    def _lexical(self, name: str | os.PathLike[str], where: str) -> str:
        """``name`` joined to the root with ``..`` folded; refused if that leaves the root."""
        text = os.fspath(name)
        if not text or "\x00" in text:
            raise self._refuse(name, where, "is empty or holds a NUL character")
        joined = os.path.normpath(os.path.join(self.base or self.path, text))
        if not _inside(joined, str(self.path)):
            why = "is absolute and outside" if os.path.isabs(text) else "climbs out of"
            raise self._refuse(name, where, f"{why} the data root")
        return joined

    def _real_inside(self, path: str, name: str | os.PathLike[str], where: str) -> str:
        real = os.path.realpath(path)
        if not _inside(real, str(self.path)):
            raise self._refuse(name, where, f"leads through a symbolic link to {real!r}")
        return real

    def resolve(self, name: str | os.PathLike[str], *, where: str = "data root") -> Path:
        """The real path of ``name`` under the root (links followed); ``DataRootError`` if not."""
        return Path(self._real_inside(self._lexical(name, where), name, where))

    def open_read(self, name: str | os.PathLike[str], *, where: str = "data root") -> IO[bytes]:
        """``name`` under the root, opened for binary reading (regular files only)."""
        return open_regular(self.resolve(name, where=where))

    def make_dirs(self, name: str | os.PathLike[str], *, where: str = "data root") -> Path:
        """Folder ``name`` under the root, created with its missing parents, all inside it."""
        relative = os.path.relpath(self._lexical(name, where), self.path)  # from the root
        current = str(self.path)
        for part in [] if relative == os.curdir else relative.split(os.sep):
            step = os.path.join(current, part)
            with contextlib.suppress(FileExistsError):
                os.mkdir(step)
            current = self._real_inside(step, name, where)
            if not os.path.isdir(current):
                msg = f"{where}: {step!r} is not a folder; cannot create {os.fspath(name)!r}"
                raise NotADirectoryError(msg)
        return Path(current)

    def target(self, name: str | os.PathLike[str], *, where: str = "data root") -> Path:
        """Where writing ``name`` would go: its folder's real path under the root, its own name.

        Refuses a path whose last part is a symbolic link or a special file. Creates nothing.
        """
        lexical = self._lexical(name, where)
        folder, base = os.path.split(lexical)
        if not base or base in (os.curdir, os.pardir):
            raise self._refuse(name, where, "names a folder, not a file")
        path = os.path.join(self._real_inside(folder, name, where), base)
        with contextlib.suppress(FileNotFoundError):
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                why = "is a symbolic link (files are never written through one)"
                raise self._refuse(name, where, why)
            _refuse_special(path, mode)
        return Path(path)

    def open_write(
        self, name: str | os.PathLike[str], *, append: bool = False, where: str = "data root"
    ) -> IO[bytes]:
        """``name`` under the root opened for binary writing; missing folders created inside it.

        Truncates unless ``append``. Never follows a symbolic link at the file itself.
        """
        lexical = self._lexical(name, where)
        self.make_dirs(os.path.dirname(lexical), where=where)
        path = self.target(name, where=where)
        flags = _WRITE_FLAGS | (os.O_APPEND if append else os.O_TRUNC)
        try:
            fd = _open_checked(path, flags)
        except OSError as exc:
            if os.path.islink(path):  # swapped for a link since target() looked: O_NOFOLLOW
                raise self._refuse(name, where, "is a symbolic link") from exc
            raise
        return os.fdopen(fd, "ab" if append else "wb")
