"""Calling a node pack's code (importing a ``node.py``, an entry point) without being ended by it.

A node pack is trusted code: it runs with the user's rights, and nothing here sandboxes it
(``os._exit`` or a crash in C still end the process). What this guards against is a pack that
*ends the caller by accident or by habit*: ``sys.exit(0)`` in a module that doubles as a
script, ``raise KeyboardInterrupt``, an import that blocks on the network or sleeps.

Policy. The call runs in a worker thread; the caller waits for it. Whatever the call raises,
``BaseException`` included (``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit``), comes
back as ``PackCallError`` naming what was called, so the registry turns it into a
``RegistryProblem``. The user's own Ctrl-C is not the pack's: SIGINT is delivered to the main
thread, which is the one waiting, so its ``KeyboardInterrupt`` leaves ``call_pack_code``
untouched (in a notebook, interrupting the kernel still interrupts). With ``timeout`` (the
CLI sets one: ``DEFAULT_CLI_IMPORT_TIMEOUT``), a call still running after that many seconds
is reported as a problem and left behind in its daemon thread (Python cannot kill a thread);
the process goes on without that node type. Without ``timeout`` (the library's default, in
a notebook) the caller waits as long as the import takes, and Ctrl-C ends the wait.

A side effect: code that must run on the main thread at import (``signal.signal``) fails
there, and is reported like any other import error.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DEFAULT_CLI_IMPORT_TIMEOUT", "PackCallError", "call_pack_code"]

DEFAULT_CLI_IMPORT_TIMEOUT: Final = 30.0
_T = TypeVar("_T")


class PackCallError(Exception):
    """A node pack's code raised (anything, ``SystemExit`` too) or did not finish in time."""


def call_pack_code(call: Callable[[], _T], *, what: str, timeout: float | None = None) -> _T:
    """``call()`` run in a worker thread; anything it raises becomes ``PackCallError``."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - the point: nothing a pack raises escapes
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"dataflow pack: {what}"[:60], daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        msg = (
            f"{what} did not finish within {timeout:g} s (an import that sleeps, waits on the "
            "network or loops); it was left running and the node type is not available. Move "
            "slow work out of import time (into setup()), or raise DATAFLOW_IMPORT_TIMEOUT"
        )
        raise PackCallError(msg)
    if "error" in outcome:
        error = outcome["error"]
        assert isinstance(error, BaseException)
        detail = f": {error}" if str(error) else ""
        msg = f"{what} failed: {type(error).__name__}{detail}"
        if isinstance(error, SystemExit | KeyboardInterrupt):
            msg += " (a node pack may not end or interrupt the process; remove that call)"
        raise PackCallError(msg) from error
    return outcome["value"]  # type: ignore[return-value]
