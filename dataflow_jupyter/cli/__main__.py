"""``python -m dataflow_jupyter.cli``: the ``dataflow`` command."""

from __future__ import annotations

import sys

from dataflow_jupyter.cli import main

sys.exit(main())
