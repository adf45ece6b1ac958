"""``python -m dataflow_jupyter.schemas``: regenerate the shipped JSON Schemas."""

from __future__ import annotations

from dataflow_jupyter.schemas import write_schemas

for path in write_schemas():
    print(f"wrote {path}")
