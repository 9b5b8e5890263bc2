"""A gallery's files on disk: content-named, fsynced before the sidecar names them, checked by
SHA-256 when read back, and taken away again when a first save never committed."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import GalleryError
from ..models import file_sha256
from ..store.atomic import FILE_MODE
from ..store.layout import LOCK_FILE

SIDECAR = "gallery.json"
CONTENT = ("index-*.faiss", "vectors-*.npy")  # the content-named files a sidecar names
# Exactly as write_content_named names them: a user's own `vectors-experiment1.npy` or
# `index-backup.faiss` beside them is not ours to remove.
_CONTENT_NAME = re.compile(r"(index-[0-9a-f]{12}\.faiss|vectors-[0-9a-f]{12}\.npy)")
_TEMP_NAME = re.compile(r"\.(index|vectors)\.[a-z0-9_]{8}\.tmp")  # mkstemp's, while written


def content_files(folder: Path) -> set[Path]:
    """The index and vectors files clusterpipe wrote in a gallery folder, named by the sidecar
    or not."""
    return {
        p for pattern in CONTENT for p in folder.glob(pattern) if _CONTENT_NAME.fullmatch(p.name)
    }


def temp_files(folder: Path) -> set[Path]:
    """Files a save was writing when it was killed (the caller holds the gallery's lock, so no
    save is writing one now)."""
    return {p for p in folder.glob(".*.tmp") if _TEMP_NAME.fullmatch(p.name)}


def checked_file(folder: Path, name: str, sha256: str, what: str) -> Path:
    """A file the sidecar names (`name`), present and with the SHA-256 it records."""
    path = folder / Path(name).name
    if not path.is_file():
        raise GalleryError(
            f"{path}: gallery {what} missing; restore it or rebuild the gallery by promoting "
            "your runs again"
        )
    if file_sha256(path) != sha256:
        raise GalleryError(
            f"{path}: {what} does not match its sidecar (damaged or tampered with); restore it "
            "or promote your runs again"
        )
    return path


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_content_named(
    folder: Path, prefix: str, suffix: str, write: Callable[[Path], None]
) -> tuple[Path, str]:
    """Write a file through write(path) under a fresh temporary name, then rename it to
    prefix-<sha256[:12]>suffix; return (path, sha256)."""
    # A fresh, unpredictable name created exclusively: a planted symlink cannot redirect it.
    fd, name = tempfile.mkstemp(prefix=f".{prefix}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        fsync(tmp)  # on disk before the sidecar, the commit point, names it
        sha = file_sha256(tmp)
        final = folder / f"{prefix}-{sha[:12]}{suffix}"
        os.replace(tmp, final)
        return final, sha
    except (RuntimeError, OSError) as e:
        raise GalleryError(f"{folder}: writing the gallery's {prefix} failed ({e})") from e
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def load_vectors(path: Path, n: int, dim: int) -> np.ndarray:
    """The exact vectors file, memory-mapped, checked to be n x dim float32."""
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise GalleryError(f"{path}: not a vectors file ({e}); promote your runs again") from e
    if vectors.dtype != np.float32 or vectors.shape != (n, dim):
        raise GalleryError(
            f"{path}: {vectors.dtype} {vectors.shape} vectors for {n} entries of {dim}; "
            "promote your runs again"
        )
    return vectors


def save_npy(array: np.ndarray) -> Callable[[Path], None]:
    """A writer of `array` as a float32 .npy file (no pickle)."""

    def write(path: Path) -> None:
        with open(path, "wb") as f:
            np.save(f, np.ascontiguousarray(array, np.float32), allow_pickle=False)

    return write


def make_folders(folder: Path) -> list[Path]:
    """Create `folder` and the folders above it that are missing; return those this call
    created, top first (a folder another process made meanwhile, or that `..` reaches, is not
    among them). Where a folder cannot be made, stop: the lock says why."""
    missing = []
    for p in [folder, *folder.parents]:
        if os.path.lexists(p):
            break
        missing.append(p)
    made = []
    for p in reversed(missing):
        try:
            p.mkdir()
        except FileExistsError:
            continue
        except OSError:
            break
        made.append(p)
    return made


def remove_unsaved(folder: Path, made: list[Path]) -> None:
    """Take away a gallery folder this command created (`made`: by make_folders) and never
    saved: its lock, the index or vectors files written before the failure, and the folders
    made for it. A folder that existed before is left as it is."""
    if os.path.lexists(folder / SIDECAR):
        return  # saved: a gallery now, whatever failed after
    # The lock last: once it is gone, a promote waiting for it may write here (store/lock.py).
    with contextlib.suppress(OSError):
        if folder in made:
            for path in sorted(content_files(folder) | temp_files(folder)):
                path.unlink()
            (folder / LOCK_FILE).unlink(missing_ok=True)
    remove_folders(made)


def remove_folders(made: list[Path]) -> None:
    """Remove the folders make_folders made, deepest first, while they are empty."""
    with contextlib.suppress(OSError):
        for p in reversed(made):
            p.rmdir()  # only ever an empty folder; stops at the first that is not
