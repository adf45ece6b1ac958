"""The data root (dataflow_jupyter.dataroot): paths stay inside it; special files are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataflow_jupyter.dataroot import (
    DATA_ROOT_ENV,
    DataRoot,
    DataRootError,
    FileTooLargeError,
    SpecialFileError,
    open_regular,
    read_limited,
)


@pytest.fixture
def root(tmp_path: Path) -> DataRoot:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.csv").write_text("a\n1\n")
    (tmp_path / "secret.txt").write_text("secret")
    return DataRoot(tmp_path / "data")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "pipe.csv"
    path.parent.mkdir(exist_ok=True)
    os.mkfifo(path)
    return path


def test_relative_and_absolute_paths_inside_the_root_resolve(root: DataRoot) -> None:
    assert root.resolve("in.csv") == root.path / "in.csv"
    assert root.resolve("sub/../in.csv") == root.path / "in.csv"
    assert root.resolve(str(root.path / "in.csv")) == root.path / "in.csv"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../secret.txt", "climbs out of the data root"),
        ("sub/../../secret.txt", "climbs out of the data root"),
        ("/etc/passwd", "is absolute and outside the data root"),
        ("", "is empty"),
        ("a\x00b", "NUL"),
    ],
)
def test_paths_that_leave_the_root_are_refused(root: DataRoot, name: str, why: str) -> None:
    with pytest.raises(DataRootError, match=why) as caught:
        root.resolve(name, where="read-file (node 'rd') setting 'path'")
    assert str(caught.value).startswith("read-file (node 'rd') setting 'path': path ")
    assert "DATAFLOW_DATA_ROOT" in str(caught.value)
    assert isinstance(caught.value, PermissionError)


def test_a_symlink_that_leaves_the_root_is_refused_one_inside_is_followed(
    root: DataRoot, tmp_path: Path
) -> None:
    (root.path / "out-link").symlink_to(tmp_path / "secret.txt")
    (root.path / "dir-link").symlink_to(tmp_path)
    (root.path / "in-link").symlink_to(root.path / "in.csv")
    with pytest.raises(DataRootError, match="through a symbolic link"):
        root.open_read("out-link")
    with pytest.raises(DataRootError, match="through a symbolic link"):
        root.open_read("dir-link/secret.txt")
    with root.open_read("in-link") as file:
        assert file.read() == b"a\n1\n"


def test_the_root_is_code_then_environment_then_graph_folder_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, env, graph, cwd = (tmp_path / n for n in ("code", "env", "graph", "cwd"))
    for folder in (code, env, graph, cwd):
        folder.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    assert DataRoot.choose().path == cwd
    assert DataRoot.choose(graph_folder=graph).path == graph
    monkeypatch.setenv(DATA_ROOT_ENV, str(env))
    assert DataRoot.choose(graph_folder=graph).path == env
    assert DataRoot.choose(code, graph_folder=graph).path == code
    assert DataRoot.choose(DataRoot(code)).path == code
    # Relative paths start from the graph's folder when it lies inside the root.
    inside = DataRoot.choose(tmp_path, graph_folder=graph)
    assert (inside.path, inside.base) == (tmp_path, graph)
    assert inside.resolve("x.csv") == graph / "x.csv"
    assert inside.resolve("../env/x.csv") == env / "x.csv"
    assert DataRoot.choose(code, graph_folder=graph).base == code


def test_make_dirs_creates_folders_inside_the_root_only(root: DataRoot, tmp_path: Path) -> None:
    assert root.make_dirs("a/b/c") == root.path / "a" / "b" / "c"
    assert (root.path / "a" / "b" / "c").is_dir()
    with pytest.raises(DataRootError):
        root.make_dirs("../made/here")
    assert not (tmp_path / "made").exists()
    (root.path / "away").symlink_to(tmp_path)
    with pytest.raises(DataRootError, match="through a symbolic link"):
        root.make_dirs("away/made")
    assert not (tmp_path / "made").exists()


def test_open_write_never_writes_through_a_symlink(root: DataRoot, tmp_path: Path) -> None:
    (root.path / "bashrc").symlink_to(tmp_path / "secret.txt")
    (root.path / "inside").symlink_to(root.path / "in.csv")
    for name in ("bashrc", "inside"):
        with pytest.raises(DataRootError, match="is a symbolic link"):
            root.open_write(name)
    assert (tmp_path / "secret.txt").read_text() == "secret"
    assert (root.path / "in.csv").read_text() == "a\n1\n"
    with pytest.raises(DataRootError):
        root.open_write("../../home/.bashrc")
    assert not (tmp_path.parent / "home").exists()


def test_open_write_creates_its_folders_and_appends_or_truncates(root: DataRoot) -> None:
    with root.open_write("new/dir/out.txt") as file:
        file.write(b"one\n")
    with root.open_write("new/dir/out.txt", append=True) as file:
        file.write(b"two\n")
    assert (root.path / "new" / "dir" / "out.txt").read_bytes() == b"one\ntwo\n"
    with root.open_write("new/dir/out.txt") as file:
        file.write(b"three\n")
    assert (root.path / "new" / "dir" / "out.txt").read_bytes() == b"three\n"


@pytest.mark.timeout(30)
def test_fifos_are_refused_before_they_are_opened(root: DataRoot, fifo: Path) -> None:
    """Opening a FIFO for reading blocks until a writer comes; this must not get that far."""
    with pytest.raises(SpecialFileError, match="is a FIFO"):
        root.open_read(fifo.name)
    with pytest.raises(SpecialFileError, match="is a FIFO"):
        root.open_write(fifo.name)
    with pytest.raises(SpecialFileError, match="is a FIFO"):
        read_limited(fifo, 100)


@pytest.mark.timeout(30)
def test_devices_and_links_to_them_are_refused(root: DataRoot, tmp_path: Path) -> None:
    with pytest.raises(SpecialFileError, match="is a character device"):
        read_limited("/dev/zero", 1 << 20)
    link = tmp_path / "schema.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(SpecialFileError, match="is a character device"):
        open_regular(link)
    with pytest.raises(SpecialFileError, match="is a folder"):
        read_limited(tmp_path, 10)


def test_read_limited_reads_at_most_the_limit_whatever_st_size_says(tmp_path: Path) -> None:
    proc = Path("/proc/self/status")  # st_size says 0; it holds a kilobyte or more
    assert proc.stat().st_size == 0
    with pytest.raises(FileTooLargeError, match="more than 16 bytes"):
        read_limited(proc, 16)
    small = tmp_path / "small"
    small.write_bytes(b"x" * 16)
    assert read_limited(small, 16) == b"x" * 16
    with pytest.raises(FileTooLargeError):
        read_limited(small, 15)
