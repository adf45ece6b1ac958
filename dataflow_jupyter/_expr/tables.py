"""What an expression sees as ``value`` for a packet that carries an Arrow table."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa


class TableView:
    """What an expression sees as ``value`` for a table packet: read-only, nothing copied.

    ``len(value)`` and ``value.num_rows`` are the row count, ``value.columns`` the column
    names (a list), ``"price" in value`` whether the table has that column.
    """

    __slots__ = ("_table",)
    TABLES: ClassVar[tuple[type, ...]] = (pa.Table, pa.RecordBatch)
    ATTRIBUTES: ClassVar[frozenset[str]] = frozenset({"columns", "num_rows"})

    def __init__(self, table: pa.Table | pa.RecordBatch) -> None:
        self._table = table

    def __len__(self) -> int:
        return int(self._table.num_rows)

    def __contains__(self, name: object) -> bool:
        return name in self._table.column_names

    @property
    def num_rows(self) -> int:
        """The row count."""
        return int(self._table.num_rows)

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return list(self._table.column_names)

    def __repr__(self) -> str:
        return f"<table {self.num_rows} rows x {len(self._table.column_names)} columns>"
