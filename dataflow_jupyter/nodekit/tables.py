"""Table file formats for node packs: the one table of extensions that file nodes share.

``read-file`` and ``write-file`` (and any pack's file node) tell a file's format from its
extension with ``EXTENSIONS`` when their ``format`` setting is ``auto``:

======================  =========  ==========================================
extension               format     notes
======================  =========  ==========================================
``.csv``                csv
``.tsv``                csv        tab-separated; read only (the CSV writer
                                   writes commas, so ``auto`` refuses to write)
``.parquet``, ``.pq``   parquet
``.jsonl``, ``.ndjson`` jsonl      one JSON object per line
``.json``               jsonl      read and written as JSON lines
======================  =========  ==========================================

Extensions are compared in lower case. A file whose extension is not in the table needs an
explicit format; ``format_for`` says so in a ``ValueError`` starting with the caller's
``where`` (``nodekit.settings.settings_where``).

Example (in a node's ``__init__``)::

    from dataflow_jupyter.nodekit.tables import format_for

    self.format = format_for(self.path, self.settings["format"], where=where, writing=True)
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import PurePath

__all__ = ["EXTENSIONS", "FORMATS", "FileFormat", "csv_delimiter", "format_for"]

FORMATS: Final = ("csv", "parquet", "jsonl")
"""The formats a ``format`` setting names besides ``auto``."""


@dataclass(frozen=True, slots=True)
class FileFormat:
    """What an extension says about a file: its format, and how to read and write it."""

    name: str
    """One of ``FORMATS``."""
    delimiter: str = ","
    """CSV: the field separator the extension implies."""
    writable: bool = True
    """Whether ``auto`` may pick this format to write a file with this extension."""


EXTENSIONS: Final[Mapping[str, FileFormat]] = MappingProxyType(
    {
        ".csv": FileFormat("csv"),
        ".tsv": FileFormat("csv", delimiter="\t", writable=False),
        ".parquet": FileFormat("parquet"),
        ".pq": FileFormat("parquet"),
        ".jsonl": FileFormat("jsonl"),
        ".ndjson": FileFormat("jsonl"),
        ".json": FileFormat("jsonl"),
    }
)


def format_for(path: PurePath, setting: str, *, where: str, writing: bool = False) -> str:
    """The format of ``path``: ``setting`` itself unless it is ``auto``, else by extension.

    ``writing``: only extensions a writer may pick count. An extension that tells nothing is
    a ``ValueError`` starting with ``where``.
    """
    if setting != "auto":
        return setting
    suffix = path.suffix.lower()
    known = EXTENSIONS.get(suffix)
    if known is None or (writing and not known.writable):
        msg = (
            f"{where}: format 'auto' cannot tell the format of {str(path)!r} from its "
            f"extension {suffix or '(none)'!r}; set format to {', '.join(FORMATS[:-1])} or "
            f"{FORMATS[-1]}"
        )
        raise ValueError(msg)
    return known.name


def csv_delimiter(path: PurePath) -> str:
    """The field separator ``path``'s extension implies: a tab for ``.tsv``, else a comma."""
    known = EXTENSIONS.get(path.suffix.lower())
    return known.delimiter if known is not None else ","
