"""Inspection for the canvas: which port to read, and a page of it as Arrow IPC bytes.

``where`` is ``"node.port"`` (an output port, or any port) or an edge id; an edge is read at
its target's input port (``"target.targetPort"``: what crossed the edge, together with what
other edges brought to the same port). Rows are ``frame_of(rt.packets(where))``, the same
DataFrame ``GraphEditor.inspect`` returns; a page is ``rows[offset:offset + limit]``, cut by
``frame_page`` so that an Arrow payload is sliced before it becomes pandas.

Arrow conversion never fails on odd payloads, column by column:

1. numeric, boolean, datetime and string columns convert as they are;
2. an ``object`` column whose values are nested (dict, list, tuple, set, ndarray) or of
   mixed kinds becomes text: JSON for each value (``default=str`` for what JSON cannot
   say), except strings, which stay as they are;
3. a column that still does not convert becomes ``str`` of each value (nulls stay null).

Column names become strings; duplicates are kept (Arrow allows them). A page for the canvas
puts the payload's columns first and the packet metadata last, named in the schema metadata
(``dataflow.metadata``), so the inspector shows the data and hides the metadata until asked.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dataflow_jupyter.runtime.frames import METADATA_COLUMNS, frame_of, frame_page

if TYPE_CHECKING:
    from dataflow_jupyter.packets import DataPacket
    from dataflow_jupyter.runtime import GraphRuntime
    from dataflow_jupyter.widget.protocol import InspectResultMessage

__all__ = ["answer_inspect", "frame_for", "frame_to_ipc", "resolve_where", "to_arrow"]

_NESTED = (dict, list, tuple, set, frozenset, np.ndarray)
_META_KEY = "dataflow.metadata"


def resolve_where(runtime: GraphRuntime, where: str) -> str:
    """``"node.port"`` as it is; an edge id as its target's ``"node.port"``."""
    if "." in where:
        return where
    for edge in runtime.graph.edges:
        if edge.id == where:
            return f"{edge.target}.{edge.target_port}"
    edges = ", ".join(edge.id for edge in runtime.graph.edges) or "none"
    msg = (
        f"{where!r} is neither 'node.port' nor an edge of graph {runtime.graph.id!r}; "
        f"edges: {edges}"
    )
    raise KeyError(msg)


def frame_for(runtime: GraphRuntime | None, where: str) -> pd.DataFrame:
    """The rows the inspector shows for ``where`` (see ``GraphEditor.inspect``)."""
    runtime = _ran(runtime)
    return frame_of(_packets(runtime, resolve_where(runtime, where)))


def _ran(runtime: GraphRuntime | None) -> GraphRuntime:
    if runtime is None:
        msg = "nothing has run in this editor yet: run the graph first (editor.run() or Run)"
        raise RuntimeError(msg)
    return runtime


def _packets(runtime: GraphRuntime, port: str) -> list[DataPacket]:
    try:
        return runtime.packets(port)
    except RuntimeError as exc:
        msg = f"graph {runtime.graph.id!r} has not run yet: run the graph first"
        raise RuntimeError(msg) from exc


def answer_inspect(
    runtime: GraphRuntime | None, message: dict[str, Any]
) -> tuple[InspectResultMessage, list[bytes]]:
    """The answer to an ``inspect`` message: ``inspect-result`` and its buffers.

    On any failure the answer carries the error text and no buffer.
    """
    node, port, edge = message["node"], message["port"], message["edge"]
    offset, limit = message["offset"], message["limit"]
    where = edge if edge is not None else f"{node}.{port}"
    answer: InspectResultMessage = {
        "type": "inspect-result",
        "request": message["request"],
        "where": where,
        "offset": offset,
        "total": 0,
        "error": None,
    }
    try:
        if edge is None and (node is None or port is None):
            msg = "inspect names an edge, or a node and a port"
            raise ValueError(msg)  # answered like every other failure
        ran = _ran(runtime)
        port = resolve_where(ran, where)
        page, total = frame_page(_packets(ran, port), offset, limit)
        answer["where"] = port
        payload = frame_to_ipc(*_payload_first(page))
        answer["total"] = total
    except Exception as exc:  # noqa: BLE001 - every failure is answered, with its text
        answer["error"] = _error_text(exc)
        return answer, []
    return answer, [payload]


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])  # str(KeyError) quotes its message
    return str(exc) or type(exc).__name__


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table, converting awkward columns (see the module docstring)."""
    arrays = [_column(frame.iloc[:, i]) for i in range(frame.shape[1])]
    names = [str(name) for name in frame.columns]
    if not arrays:
        return pa.table({})
    return pa.Table.from_arrays(arrays, names=names)


def _payload_first(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The page with the payload's columns first and the packet metadata last, and the names
    of those metadata columns (the canvas hides them until asked)."""
    meta_names = {*METADATA_COLUMNS, *(f"packet_{name}" for name in METADATA_COLUMNS)}
    columns = [str(c) for c in frame.columns]
    meta = [i for i, name in enumerate(columns) if name in meta_names]
    payload = [i for i in range(len(columns)) if i not in set(meta)]
    return frame.iloc[:, payload + meta], [columns[i] for i in meta]


def frame_to_ipc(frame: pd.DataFrame, metadata_columns: list[str] | None = None) -> bytes:
    """``frame`` as an Arrow IPC stream (what ``inspect-result`` carries in its buffer).

    ``metadata_columns`` are named in the schema's metadata (key ``dataflow.metadata``, a
    JSON list): the packet's own columns, which the inspector shows only on demand.
    """
    table = to_arrow(frame.reset_index(drop=True))
    if metadata_columns:
        table = table.replace_schema_metadata({_META_KEY: json.dumps(metadata_columns)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _column(series: pd.Series[Any]) -> pa.Array:
    if series.dtype == object and _needs_json(series):
        return pa.array([_json_text(v) for v in series], type=pa.string())
    try:
        return pa.array(series, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    try:
        return pa.array([_json_text(v) for v in series], type=pa.string())
    except (TypeError, ValueError):
        return pa.array([None if _is_null(v) else str(v) for v in series], type=pa.string())


def _needs_json(series: pd.Series[Any]) -> bool:
    kinds: set[type] = set()
    for value in series:
        if _is_null(value):
            continue
        if isinstance(value, _NESTED):
            return True
        kinds.add(_kind(value))
        if len(kinds) > 1:
            return True
    return False


def _kind(value: Any) -> type:
    if isinstance(value, bool | np.bool_):
        return bool
    if isinstance(value, int | float | np.number):
        return float  # ints and floats mix into a float column
    return type(value)


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _json_text(value: Any) -> str | None:
    if _is_null(value):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(_plain(value), default=str, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
