from __future__ import annotations

import types

import dataflow_jupyter


def test_all_is_the_sorted_list_of_public_names() -> None:
    public = sorted(
        name
        for name, value in vars(dataflow_jupyter).items()
        if (not name.startswith("_") or name == "__version__")
        and not isinstance(value, types.ModuleType)
    )
    assert dataflow_jupyter.__all__ == public


def test_every_public_name_is_documented() -> None:
    undocumented = [
        name
        for name in dataflow_jupyter.__all__
        if callable(getattr(dataflow_jupyter, name))
        and not (getattr(dataflow_jupyter, name).__doc__ or "").strip()
    ]
    assert undocumented == []


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert dataflow_jupyter.__version__ == version("dataflow-jupyter")
