"""OUT's lock: one command at a time changes a run's folder."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from ..errors import BusyError, StoreError
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

        deadline = time.monotonic() + self.wait
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                waited = f" (waited {self.wait:.0f} s)" if self.wait else ""
                raise BusyError(
                    f"{self.path.parent} is in use by another clusterpipe command{waited}; "
                    "wait for it to finish, or use another folder"
                ) from None
            if self._still_there(fd):
                break
            os.close(fd)  # its holder took the file away (a gallery never saved): lock anew
        try:  # who holds it, for a user who wonders
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError as e:  # not a regular file (planted), or the disk is full
            os.close(fd)
            raise _disk_error(self.path.parent, e) from e
        self._fd = fd
        return self

    @staticmethod
    def held(folder: Path) -> bool:
        """Whether a command holds this folder's lock now (read only: nothing is created)."""
        import fcntl

        try:
            fd = os.open(Path(folder) / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a lock file planted as a link must not truncate what it points to
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except IsADirectoryError:
            raise self._not_ours() from None
        except OSError as e:
            raise _disk_error(self.path.parent, e) from e
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._not_ours()
        return fd

    def _not_ours(self) -> StoreError:
        return StoreError(f"{self.path}: not a regular file (not clusterpipe's); remove it")

    def _still_there(self, fd: int) -> bool:
        """Whether the file locked is still the lock file's name (not unlinked meanwhile)."""
        try:
            st = os.stat(self.path, follow_symlinks=False)
        except OSError:
            return False
        mine = os.fstat(fd)
        return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock, even after kill -9
            self._fd = None
