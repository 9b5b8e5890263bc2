"""OUT's lock: one command at a time changes a run's folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import BusyError
from .atomic import _disk_error
from .layout import LOCK_FILE


class Lock:
    """An exclusive lock on an output folder, so two runs never interleave shards. With `wait`,
    a command that only needs the folder briefly (promote) waits that long for it."""

    def __init__(self, folder: Path, wait: float = 0.0) -> None:
        self.path = Path(folder) / LOCK_FILE
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> Lock:
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a lock file planted as a link must not truncate what it points to
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise _disk_error(self.path.parent, e) from e
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                os.close(self._fd)
                self._fd = None
                waited = f" (waited {self.wait:.0f} s)" if self.wait else ""
                raise BusyError(
                    f"{self.path.parent} is in use by another clusterpipe command{waited}; "
                    "wait for it to finish, or use another folder"
                ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, str(os.getpid()).encode())
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock, even after kill -9
            self._fd = None
