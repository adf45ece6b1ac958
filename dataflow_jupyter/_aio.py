"""The one way the package asks "is an asyncio loop running in this thread?" (the runtime
and the widget both need to know: in a notebook the kernel's loop runs, in a script none)."""

from __future__ import annotations

import asyncio

__all__ = ["running_loop"]


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running in this thread, or ``None`` in plain synchronous code."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
