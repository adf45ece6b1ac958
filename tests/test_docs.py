"""What users read stays inside the repository: no pointer to the design notes' old home,
and every link of the README and of docs/ names a file of this repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Files other branches add (none now: wip/secfiles and wip/tables are merged).
# Once they are merged, this set must be emptied: the test then holds every link.
ADDED_BY_OTHER_BRANCHES: set[str] = set()
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def user_facing_files() -> list[Path]:
    patterns = ["*.md", "docs/**/*", "notebooks/*.ipynb", "dataflow_jupyter/**/*.py"]
    patterns += ["nodes/**/*.json", "nodes/**/*.py", "benchmarks/*.md", "pyproject.toml"]
    found = {path for pattern in patterns for path in REPO.glob(pattern) if path.is_file()}
    return sorted(path for path in found if path.suffix != ".png")


def test_nothing_points_to_a_folder_outside_the_repository() -> None:
    offending = [
        f"{path.relative_to(REPO)}: {needle}"
        for path in user_facing_files()
        for needle in ("../shared", "/shared/", "DESIGN.md")
        if needle in path.read_text(encoding="utf-8")
    ]
    assert offending == []


@pytest.mark.parametrize(
    "document", ["README.md", *sorted(p.name for p in (REPO / "docs").glob("*.md"))]
)
def test_every_link_names_a_file_of_the_repository(document: str) -> None:
    path = REPO / document if (REPO / document).is_file() else REPO / "docs" / document
    links = [
        link
        for link in _LINK.findall(path.read_text(encoding="utf-8"))
        if not re.match(r"[a-z]+:", link)  # http:, https:, mailto:
    ]
    missing = []
    for link in links:
        target = (path.parent / link).resolve()
        assert target.is_relative_to(REPO), f"{document} links outside the repository: {link}"
        relative = target.relative_to(REPO).as_posix()
        if not target.exists() and relative not in ADDED_BY_OTHER_BRANCHES:
            missing.append(link)
    assert missing == []


def test_the_readme_starts_with_what_it_is_a_picture_and_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first_section = readme.split("\n## ", 2)
    assert "visual dataflow environment" in first_section[0]
    assert "![" in first_section[0]
    assert first_section[1].startswith("Start")
    assert "make lab" in first_section[1]
    assert "make test" in first_section[1]
    assert "\n## Install into an existing JupyterLab" in readme
    assert "pip install ." in readme


def test_the_architecture_map_names_files_and_functions_that_exist() -> None:
    """docs/architecture.md names files (`runtime/_firing.py`) and what is in them
    (`runtime/_firing.py: Firings.drain_inline`): each file exists and defines each name."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = REPO / "dataflow_jupyter"
    missing: list[str] = []
    generic = {"schema.json", "node.py", ".dfgraph.json"}  # a kind of file, not one file
    for ref in re.findall(r"`([\w./-]+\.(?:py|tsx|ts|json))(?::\s*([\w.]+))?", text):
        name, symbol = ref
        if name in generic:
            continue
        path = next((base / name for base in (package, REPO) if (base / name).is_file()), None)
        if path is None:
            missing.append(name)
            continue
        source = path.read_text(encoding="utf-8")
        for part in symbol.split(".") if symbol else []:
            if not re.search(rf"\b(?:class|def|async def)\s+{part}\b|^{part}\b", source, re.M):
                missing.append(f"{name}: {part}")
    mentioned = re.findall(r"`([\w]+\.\w+)`", text)  # Class.method in the file named before
    assert mentioned  # the map names functions, not only files
    assert missing == []
