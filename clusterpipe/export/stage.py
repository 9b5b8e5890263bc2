"""The hidden folder an export is written in beside DEST and renamed to DEST when complete. It
holds a lock while the export runs, so one that a killed export left behind (no process holds
its lock) is known to be stale and is removed by the next export to the same DEST."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import ClusterpipeError, StoreError
from ..store.atomic import DIR_MODE
from ..store.layout import LOCK_FILE
from ..store.lock import Lock

log = logging.getLogger("clusterpipe")
# Of DEST's name in its stage's ("." name "." 8 characters ".tmp"): names hold 255 bytes.
STAGE_NAME_BYTES = 200


def _stage_name(dest: Path) -> re.Pattern:
    # mkdtemp's names: the prefix, 8 characters of [a-z0-9_], the suffix
    return re.compile(rf"\.{re.escape(_short(dest))}\.[a-z0-9_]{{8}}\.tmp")


def _short(dest: Path) -> str:
    """DEST's name as far as a stage's name holds it (a name has 255 bytes at most)."""
    return os.fsdecode(os.fsencode(dest.name)[:STAGE_NAME_BYTES])


@contextlib.contextmanager
def staged(dest: Path) -> Iterator[Path]:
    """A fresh staging folder for DEST, locked while the export runs and removed if it fails;
    stale ones of killed exports to DEST are removed first."""
    sweep(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Ours alone: a fresh, unpredictable name (never a sibling the user may own).
        stage = Path(tempfile.mkdtemp(prefix=f".{_short(dest)}.", suffix=".tmp", dir=dest.parent))
        _like_dest(stage, dest)
    except OSError as e:
        raise StoreError(f"{dest}: export failed ({e.strerror or e})") from e
    try:
        with Lock(stage):
            yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def seal(stage: Path) -> None:
    """Take the lock file out of a finished stage (the lock stays held) before it becomes DEST."""
    (stage / LOCK_FILE).unlink(missing_ok=True)


def sweep(dest: Path) -> int:
    """Remove the staging folders of DEST that killed exports left (locked by no process)."""
    name = _stage_name(dest)
    try:
        found = [p for p in dest.parent.iterdir() if name.fullmatch(p.name)]
    except OSError:
        return 0
    gone = 0
    for p in found:
        try:
            if p.is_symlink() or not p.is_dir() or not (p / LOCK_FILE).is_file():
                continue  # not a stage of ours, or one being renamed to its DEST
            with Lock(p):
                shutil.rmtree(p)
        except (ClusterpipeError, OSError):
            continue  # still being written by a running export, or not ours to remove
        log.info("%s: removed, left by an export that was stopped", p)
        gone += 1
    return gone


def _like_dest(stage: Path, dest: Path) -> None:
    """The staging folder (mkdtemp's 0700) as DEST will be: the user's empty DEST's mode and
    group where there is one, else any new folder's (0777 less the umask)."""
    try:
        st = dest.stat()
    except FileNotFoundError:
        stage.chmod(DIR_MODE)
        return
    stage.chmod(stat.S_IMODE(st.st_mode))
    with contextlib.suppress(OSError):  # a group the user is not in: the mode is still right
        os.chown(stage, -1, st.st_gid)
