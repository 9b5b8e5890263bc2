"""Ctrl-C where stopping halfway would do harm: deferred to the end of a block."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def whole() -> Iterator[None]:
    """Defer Ctrl-C (SIGINT) to the end of the block, in the main thread (signals reach no
    other; the review server waits for its action threads itself)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    before = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        if got:
            if callable(before):
                before(signal.SIGINT, None)
            elif before != signal.SIG_IGN:
                raise KeyboardInterrupt
