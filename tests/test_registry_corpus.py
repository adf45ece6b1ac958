"""A corpus of broken node folders: each yields exactly its problem; none stops the others."""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dataflow_jupyter.registry import (
    NodeLoadError,
    NodeRegistry,
    RegistryProblem,
    RegistryWarning,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dataflow_jupyter.node import DataFlowNode

CORPUS = Path(__file__).parent / "corpus" / "node_schemas"
_DOCUMENT = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
GENERATED: list[str] = _DOCUMENT["_generated"]
EXPECTED: dict[str, str | None] = {k: v for k, v in _DOCUMENT.items() if not k.startswith("_")}
BROKEN = sorted(case for case, fragment in EXPECTED.items() if fragment is not None)


def _schema(case: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": "corpus-" + case.replace("_", "-"),
        "version": "1.0.0",
        "category": "Corpus",
        "name": case,
        "ports": {"inputs": [{"name": "in"}], "outputs": [{"name": "out"}]},
        **fields,
    }


def _generate(corpus: Path) -> None:
    """The cases that are too big, too deep or too broken to keep in the repository."""
    huge = _schema("huge_description", description="x" * (2 << 20))
    deep = "[" * 100_000 + "]" * 100_000
    nested = json.dumps(_schema("deeply_nested_default", settings=[]))
    nested = nested.replace(
        '"settings": []', f'"settings": [{{"name": "d", "type": "json", "default": {deep}}}]'
    )
    syntax_error = (
        "from dataflow_jupyter.node import PureNode\n\nclass Broken(PureNode)\n    pass\n"
    )
    documents = {
        "huge_description": (json.dumps(huge), None),
        "deeply_nested_default": (nested, None),
        "node_py_syntax_error": (json.dumps(_schema("node_py_syntax_error")), syntax_error),
    }
    for case, (schema, node_py) in documents.items():
        folder = corpus / case
        folder.mkdir()
        (folder / "schema.json").write_text(schema, encoding="utf-8")
        if node_py is not None:
            (folder / "node.py").write_text(node_py, encoding="utf-8")
    # Special files: reading them must neither block (a FIFO) nor never end (/dev/zero).
    for case in ("schema_is_a_fifo", "schema_links_to_dev_zero"):
        (corpus / case).mkdir()
    os.mkfifo(corpus / "schema_is_a_fifo" / "schema.json")
    (corpus / "schema_links_to_dev_zero" / "schema.json").symlink_to("/dev/zero")
    assert sorted([*documents, "schema_is_a_fifo", "schema_links_to_dev_zero"]) == GENERATED


@dataclass
class Loaded:
    corpus: Path
    registry: NodeRegistry
    warned: list[str]  # every RegistryWarning's message, scan and load
    classes: dict[str, type[DataFlowNode]]  # folder name -> loaded class
    load_errors: dict[str, NodeLoadError]  # folder name -> why load() failed
    problems_after_scan: list[RegistryProblem]  # before any node.py was imported


def _scan_and_load(corpus: Path) -> Loaded:
    registry = NodeRegistry(
        paths=[corpus],
        include_builtin=True,
        include_env=False,
        include_cwd=False,
        include_entry_points=False,
    )
    loaded = Loaded(corpus, registry, [], {}, {}, list(registry.problems))
    for node_type in registry:  # force every spec and every node.py
        assert registry.spec(node_type.spec.id, node_type.spec.version) is node_type.spec
        assert node_type.path is not None
        try:
            loaded.classes[node_type.path.name] = node_type.load()
        except NodeLoadError as exc:
            loaded.load_errors[node_type.path.name] = exc
    registry.catalog_frame()
    return loaded


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    corpus = tmp_path_factory.mktemp("corpus") / "node_schemas"
    shutil.copytree(CORPUS, corpus)
    _generate(corpus)
    before = set(sys.modules)
    with pytest.warns(RegistryWarning) as record:
        result = _scan_and_load(corpus)
    result.warned = [str(w.message) for w in record if issubclass(w.category, RegistryWarning)]
    yield result
    for name in set(sys.modules) - before:
        if name.startswith("dataflow_jupyter_nodes."):
            del sys.modules[name]


def test_the_corpus_is_big_enough_and_fully_listed() -> None:
    on_disk = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert on_disk | set(GENERATED) == set(EXPECTED)
    assert len(BROKEN) >= 25


@pytest.mark.parametrize("case", BROKEN)
def test_each_case_yields_exactly_its_problem(loaded: Loaded, case: str) -> None:
    fragment = EXPECTED[case]
    assert fragment is not None
    folder = loaded.corpus / case
    mine = [p for p in loaded.registry.problems if p.path == folder]
    assert len(mine) == 1, f"{case}: {mine}"
    assert fragment in mine[0].reason
    assert any(str(folder) in text and fragment in text for text in loaded.warned)


def test_every_problem_is_one_of_the_cases_and_warned_once(loaded: Loaded) -> None:
    problem_folders = sorted(p.path.name for p in loaded.registry.problems)
    assert problem_folders == BROKEN
    assert all(p.path.parent == loaded.corpus for p in loaded.registry.problems)
    assert len(loaded.warned) == len(loaded.registry.problems)
    assert sorted(loaded.warned) == sorted(str(p) for p in loaded.registry.problems)


def test_node_py_failures_are_found_on_load_not_on_scan(loaded: Loaded) -> None:
    on_load = {name for name in BROKEN if name.startswith("node_py_")}
    assert set(loaded.load_errors) == on_load
    assert not {p.path.name for p in loaded.problems_after_scan} & on_load
    for name, error in loaded.load_errors.items():
        fragment = EXPECTED[name]
        assert fragment is not None
        assert fragment in str(error)
        assert str(loaded.corpus / name) in str(error), "NodeLoadError must name the folder"


def test_a_failed_load_fails_again_without_a_second_problem(loaded: Loaded) -> None:
    count = len(loaded.registry.problems)
    node_type = loaded.registry.get("corpus-node-py-import-error", "1.0.0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second RegistryWarning would raise here
        with pytest.raises(NodeLoadError, match="no_such_dependency_xyz"):
            node_type.load()
    assert len(loaded.registry.problems) == count


def test_duplicates_name_both_paths_and_the_first_one_wins(loaded: Loaded) -> None:
    reasons = {p.path.name: p.reason for p in loaded.registry.problems}
    original = loaded.corpus / "dup_a_original"
    assert str(original) in reasons["dup_b_duplicate"]
    assert loaded.registry.get("corpus-duplicate", "1.0.0").path == original
    inject = loaded.registry.get("inject", "1.0.0")
    assert inject.source == "builtin"
    assert inject.path is not None
    assert inject.path.parts[-2:] == ("Input", "Inject")
    assert str(inject.path) in reasons["duplicate_of_builtin"]


def test_the_good_folders_still_loaded(loaded: Loaded) -> None:
    builtin = NodeRegistry().ids()  # every built-in node, whatever the library holds today
    assert loaded.registry.ids() == sorted(
        ["corpus-duplicate", "corpus-schema-with-bom", *builtin]
        + [f"corpus-{name.replace('_', '-')}" for name in loaded.load_errors]
    )
    assert {"DebugLog", "Inject", "dup_a_original"} <= set(loaded.classes)
    inject = loaded.classes["Inject"]
    assert inject("src", {"count": 2}).settings["count"] == 2
    assert loaded.classes["DebugLog"]("dbg").spec.id == "debug-log"
    assert loaded.classes["dup_a_original"]("echo").spec.id == "corpus-duplicate"
    assert loaded.classes["schema_with_bom"]("bom").spec.id == "corpus-schema-with-bom"
