"""The built-in node library's folder tree: where a node type lives says what it is.

The rule: the library is ``nodes/<Category>/<Folder>/`` holding ``schema.json`` and
``node.py``, and ``schema.json``'s ``category`` is ``<Category>``, the name of the folder
above the node folder. The registry keys node types by ``(id, version)`` from
``schema.json`` and never reads folder names, so only this test keeps the canvas palette
(grouped by ``category``) and the tree a contributor browses in agreement.

Folder names are Python identifiers, since mypy checks each ``node.py`` as the module
``nodes.<Category>.<Folder>.node`` (an older version sits beside the current one as e.g.
``Join_1_0_0``); and ``node.py`` imports from ``dataflow_jupyter`` only what node folders
may import (``docs/design.md`` §2).
"""

from __future__ import annotations

import ast
import json
from typing import TYPE_CHECKING

import pytest

from dataflow_jupyter.registry import builtin_nodes_path

if TYPE_CHECKING:
    from pathlib import Path

LIBRARY = builtin_nodes_path()
NODE_FOLDERS = sorted(schema.parent for schema in LIBRARY.rglob("schema.json"))
# What node folders may import from dataflow_jupyter, and the exceptions with their reason.
ALLOWED = ("node", "packets", "ports", "expressions", "nodekit")
EXCEPTIONS = {
    # python-function resolves a function reference with the very rule Graph.validate applies
    "python-function": ("coderef",),
}


def _spec(folder: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((folder / "schema.json").read_text("utf-8"))
    return data


def _ids(folder: Path) -> str:
    return folder.relative_to(LIBRARY).as_posix()


def test_the_library_is_found() -> None:
    assert len(NODE_FOLDERS) >= 20


@pytest.mark.parametrize("folder", NODE_FOLDERS, ids=_ids)
def test_a_node_folder_sits_in_the_folder_of_its_category(folder: Path) -> None:
    assert folder.parent.parent == LIBRARY, "nodes/<Category>/<Folder>/schema.json"
    assert _spec(folder)["category"] == folder.parent.name
    assert (folder / "node.py").is_file()


@pytest.mark.parametrize("folder", NODE_FOLDERS, ids=_ids)
def test_folder_names_are_identifiers(folder: Path) -> None:
    assert folder.name.isidentifier()
    assert folder.parent.name.isidentifier()


@pytest.mark.parametrize("folder", NODE_FOLDERS, ids=_ids)
def test_node_code_imports_only_what_node_folders_may(folder: Path) -> None:
    tree = ast.parse((folder / "node.py").read_text("utf-8"))
    named = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    named |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    ours = {name.split(".")[1] for name in named if name.startswith("dataflow_jupyter.")}
    ours |= {
        alias.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "dataflow_jupyter"
        for alias in n.names
    }
    allowed = {*ALLOWED, *EXCEPTIONS.get(str(_spec(folder)["id"]), ())}
    assert ours <= allowed, f"{_ids(folder)}/node.py imports {sorted(ours - allowed)}"
