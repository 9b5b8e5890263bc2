"""Atomic writes and checked JSON reads: a file clusterpipe writes appears whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreError


def _disk_error(path: Path, e: OSError) -> StoreError:
    if e.errno == errno.ENOSPC:
        return StoreError(
            f"{path}: no space left on the device; free some space and run again "
            "(work already written is kept)"
        )
    if e.errno == errno.EISDIR:
        return StoreError(f"{path}: is a folder where clusterpipe writes a file; move it away")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR):
        return StoreError(
            f"{path}: cannot write here ({e.strerror}); check its permissions or write elsewhere"
        )
    return StoreError(f"{path}: write failed ({e.strerror or e})")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once, at import (os.umask can only be read by setting it, which is not thread-safe).
_MASK = _umask()
FILE_MODE = 0o666 & ~_MASK
DIR_MODE = 0o777 & ~_MASK


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator:
    """Open a temp file beside `path`; on success fsync and rename it over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _disk_error(path, e) from e
    try:
        # mkstemp makes the file 0600; outputs are shared like any tool's: 0666 less umask.
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _disk_error(path, e) from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: object, readable: bool = True) -> None:
    """Write JSON atomically; indented for people, or compact for data only code reads."""
    # json.dumps without indent is CPython's C encoder; json.dump, or any indent, is the pure
    # Python one: ~10x slower on shards of 128-float encodings (bench/README.md).
    text = json.dumps(data, indent=1) if readable else json.dumps(data, separators=(",", ":"))
    with atomic_open(path) as f:
        f.write(text)


def open_regular(path: Path, binary: bool = False):
    """Open a file clusterpipe reads back, for reading; OSError unless it is a regular file (a
    FIFO planted in its place would block the reader forever; a folder fails later)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once, unread
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb") if binary else os.fdopen(fd, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def read_json(path: Path, what: str = "file", advice: str = "delete it") -> dict:
    """Read a JSON object; a clear StoreError (ending with `advice`) if it is damaged."""
    try:
        with open_regular(path) as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StoreError(f"{path}: damaged {what} ({e}); {advice}") from e
    except RecursionError:  # nested deeper than Python's parser recurses: not ours
        raise StoreError(f"{path}: damaged {what} (nested too deep); {advice}") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path}: damaged {what} (not a JSON object); {advice}")
    return data
