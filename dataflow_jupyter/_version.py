"""The package version, in one place (read by the registry's minRuntime check)."""

from __future__ import annotations

__version__ = "0.1.0"
