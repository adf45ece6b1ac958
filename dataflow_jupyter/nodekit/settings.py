"""Settings checks for node packs: what ``schema.json`` types cannot say, refused alike.

``NodeSpec`` checks each setting's declared type and fills in defaults before a node's
``__init__`` runs. What a type cannot say (a list of *distinct* column names, a setting that
is "a name or a list of names") is the node's to check, and a refusal is a ``ValueError``
whose message starts with ``settings_where(node)``:

    settings of <type id> <version> (node '<node id>'): '<setting>' must be ...; got ...

the prefix the graph checks use for declared types too, so a user reads one kind of message
whichever side found the problem. The value shown after ``got`` is cut at 80 characters.

Example (in a node's ``__init__``)::

    from dataflow_jupyter.nodekit.settings import column_names, settings_where

    where = settings_where(self)
    self.by = column_names(self.settings["by"], setting="by", where=where,
                           example='["species", "body_mass_g"]')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataflow_jupyter.node import DataFlowNode

__all__ = ["column_names", "settings_where"]


def settings_where(node: DataFlowNode) -> str:
    """How a settings error of ``node`` starts: ``settings of <id> <version> (node '<id>')``."""
    return f"settings of {node.spec.id} {node.version} (node {node.node_id!r})"


def column_names(
    value: Any, *, setting: str, where: str, example: str, one_name: bool = True
) -> list[str]:
    """The setting ``value`` as a non-empty list of distinct column names.

    With ``one_name`` a single name stands for a list of one (``"sym"`` is ``["sym"]``).
    Anything else is a ``ValueError`` starting with ``where`` and showing ``example``.
    """
    listed = [value] if one_name and isinstance(value, str) else value
    if (
        not isinstance(listed, list)
        or not listed
        or not all(isinstance(name, str) for name in listed)
        or len(set(listed)) != len(listed)
    ):
        what = "a column name or a non-empty list" if one_name else "a non-empty list"
        msg = (
            f"{where}: {setting!r} must be {what} of distinct column names, e.g. {example}; "
            f"got {value!r:.80}"
        )
        raise ValueError(msg)
    return listed
