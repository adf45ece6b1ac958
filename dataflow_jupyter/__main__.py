"""``python -m dataflow_jupyter``: the ``dataflow`` command (see ``dataflow_jupyter.cli``)."""

from __future__ import annotations

import sys

from dataflow_jupyter.cli import main

sys.exit(main())
