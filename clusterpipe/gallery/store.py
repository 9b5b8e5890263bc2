"""A FAISS gallery of named faces: index in FAISS's own format plus a JSON sidecar."""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import IndexSettings
from ..errors import ClusterpipeError, GalleryError
from ..store.atomic import read_json, write_json
from ..store.folders import check_name
from ..store.lock import Lock
from . import index as gallery_index
from .files import (
    SIDECAR,
    checked_file,
    content_files,
    load_vectors,
    make_folders,
    remove_folders,
    remove_unsaved,
    save_npy,
    temp_files,
    write_content_named,
)
from .index import IndexPlan

log = logging.getLogger("clusterpipe")

# 2: the sidecar names the encoder (format 1 galleries are dlib's); 3: the exact vectors in a
# .npy beside the index, and the index's settings and plan (gallery_index.py)
GALLERY_FORMAT = 3
DIM = 128  # dlib's
# Same-person dlib distances sit mostly below 0.5; measured on the dev photos (README).
DEFAULT_THRESHOLD = 0.5
LOCK_WAIT_S = 60.0  # a promote waits this long for another promote into the same gallery


@dataclass(frozen=True)
class Match:
    """The best gallery match of one face: its name (or 'unknown') and distance."""

    name: str
    distance: float
    nearest: str


def _faiss():
    import faiss

    return faiss


def encoder_dim(encoder: str) -> int:
    """Vector size of a person space."""
    from ..encode.base import Encoder

    return DIM if encoder == "dlib" else Encoder.get(encoder).dim


def default_threshold(encoder: str) -> float:
    """Largest distance at which a face is named, per person space (dlib: 0.5)."""
    from ..encode.base import Encoder

    return DEFAULT_THRESHOLD if encoder == "dlib" else Encoder.get(encoder).eps


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Which sidecar is there: a commit renames a new file over it (new inode)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _settings(raw: Any) -> IndexSettings:
    """Index settings as recorded in gallery.json, each of its type."""
    kinds: dict[str, type | tuple[type, ...]] = {
        "index": str,
        "max_index_memory": str,
        "max_query_ms": (int, float),
    }
    if not isinstance(raw, dict) or any(
        k not in kinds or isinstance(v, bool) or not isinstance(v, kinds[k]) for k, v in raw.items()
    ):
        raise GalleryError(f"damaged index settings {str(raw)[:80]}")
    return IndexSettings(**raw)


def _read_index(
    folder: Path, named: tuple[str, str], plan: IndexPlan, n: int, dim: int, vectors
) -> tuple[Any, np.ndarray]:
    """The FAISS index the sidecar names (file, SHA-256), checked against the entries and the
    exact vectors; `vectors` None: a format 1-2 gallery, whose index holds them."""
    path = checked_file(folder, *named, "index")
    try:
        index = _faiss().read_index(str(path))
    except RuntimeError as e:
        raise GalleryError(f"{path}: not a FAISS index ({str(e).splitlines()[0]})") from e
    why = gallery_index.check_index(index, plan, n, dim, vectors is None)
    if why:
        raise GalleryError(f"{path}: {why}; promote your runs again")
    if vectors is None:  # format 1-2: the index holds the exact vectors
        vectors = np.zeros((0, dim), np.float32)
        if index.ntotal:
            vectors = index.reconstruct_n(0, index.ntotal)
    elif plan.exact and n:  # an exact index holds the vectors: a sample agrees
        rows = np.unique(np.linspace(0, n - 1, 64).astype(np.int64))
        if not np.array_equal(np.stack([index.reconstruct(int(r)) for r in rows]), vectors[rows]):
            raise GalleryError(
                f"{path}: its vectors are not the gallery's; promote your runs again"
            )
    return index, vectors


MAX_COMPONENT = 100.0  # dlib's and FaceNet's vectors are unit-scale: far beyond is damage


def _sane(folder: Path, x: np.ndarray) -> np.ndarray:
    """The gallery's vectors `x`, or GalleryError where they hold what no encoder gives."""
    if not gallery_index.within(x, MAX_COMPONENT):
        raise GalleryError(
            f"{folder}: the gallery's vectors hold values no encoder gives (not finite, or far "
            "out of range): damaged or tampered with; restore the gallery from a backup, or "
            "move it away and promote your runs into a new one"
        )
    return x


class Gallery:
    """People's face vectors in one person space (`encoder`); row i of the index and of the
    exact vectors is entries[i] of the sidecar."""

    def __init__(
        self,
        folder: Path,
        entries: list[dict],
        vectors: np.ndarray,
        encoder: str = "dlib",
        settings: IndexSettings | None = None,
        built: tuple[Any, IndexPlan] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.entries = entries
        self.encoder = encoder
        self.dim = encoder_dim(encoder)
        self.radius = default_threshold(encoder)  # the index is tuned for matches within it
        self.settings = settings or IndexSettings()
        self._vectors = vectors
        self.removed: list[str] = []  # names taken out with `gallery --remove`, until re-added
        self.rebuilt = False  # the index was rebuilt from the exact vectors on opening
        self.index, self.plan = built or gallery_index.build(vectors, self.settings, self.radius)

    @classmethod
    def open(
        cls, folder: str | Path, create: bool = False, encoder: str = "dlib", repair: bool = False
    ) -> Gallery:
        """Load a gallery; with create, an empty one for `encoder` if the folder has none; with
        repair, a damaged or missing index is rebuilt from the exact vectors (to be saved)."""
        for _ in range(3):
            before = _stamp(Path(folder) / SIDECAR)
            try:
                return cls._open(Path(folder), create, encoder, repair)
            except GalleryError:
                # A promote committed between reading the sidecar and its files (it removes
                # the files the new sidecar no longer names): read the new one.
                if _stamp(Path(folder) / SIDECAR) == before:
                    raise
        return cls._open(Path(folder), create, encoder, repair)

    @staticmethod
    def exists(folder: str | Path) -> bool:
        """Whether a folder holds a gallery (its sidecar; damaged or not)."""
        return os.path.lexists(Path(folder) / SIDECAR)

    @staticmethod
    def recorded_settings(folder: str | Path) -> IndexSettings:
        """The index settings a gallery records (the defaults for a new one), from its sidecar
        alone: no index or vectors file is read."""
        meta = Path(folder) / SIDECAR
        if not meta.exists():
            return IndexSettings()
        if not meta.is_file():
            raise GalleryError(f"{meta}: not a regular file; restore the gallery's sidecar")
        try:
            record = read_json(meta, "gallery sidecar", "restore it").get("index") or {}
            return _settings(record.get("settings") or {})
        except (ClusterpipeError, AttributeError, TypeError, ValueError, OverflowError) as e:
            raise GalleryError(f"{meta}: damaged gallery sidecar ({e}); restore it") from e

    @classmethod
    def _open(cls, folder: Path, create: bool, encoder: str, repair: bool) -> Gallery:
        meta = folder / SIDECAR
        if not meta.exists():
            if create:
                return cls(folder, [], np.zeros((0, encoder_dim(encoder)), np.float32), encoder)
            raise GalleryError(
                f"{folder}: no gallery here ({SIDECAR} missing); create one with "
                "`clusterpipe promote OUT --gallery DIR`"
            )
        if not meta.is_file():
            raise GalleryError(f"{meta}: not a regular file; restore the gallery's sidecar")
        try:
            data = read_json(
                meta,
                "gallery sidecar",
                "restore it from a backup or promote your runs into a new gallery",
            )
        except ClusterpipeError as e:
            raise GalleryError(str(e)) from e
        try:
            if type(data["format"]) is not int or data["format"] not in (1, 2, GALLERY_FORMAT):
                raise GalleryError(
                    f"{meta}: gallery format {data['format']} is not supported (written by "
                    "another clusterpipe version?); open it with that version, or upgrade"
                )
            encoder = str(data.get("encoder", "dlib"))
            try:
                dim = encoder_dim(encoder)
            except ClusterpipeError:
                raise GalleryError(f"{meta}: unknown encoder {encoder!r}") from None
            if data["dim"] != dim:
                raise GalleryError(
                    f"{meta}: {encoder} vectors have {dim} values, not {data['dim']}"
                )
            entries = list(data["entries"])
            removed = data.get("removed", [])
            if not isinstance(removed, list):
                raise TypeError("'removed' is not a list of names")
            removed = [check_name(n) for n in removed]
            for entry in entries:
                check_name(entry["name"])
                if not all(isinstance(entry.get(k), str) for k in ("run", "face_id")):
                    raise GalleryError(f"{meta}: damaged entry {str(entry)[:80]}; restore it")
            record = data.get("index") or {}
            settings = _settings(record.get("settings") or {})
            plan = IndexPlan.from_json(record.get("plan") or {})
            index_file = (str(data["index_file"]), str(data["index_sha256"]))
            vectors_path = None
            if data["format"] >= 3:
                vectors_path = checked_file(
                    folder, str(data["vectors_file"]), str(data["vectors_sha256"]), "vectors"
                )
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            raise GalleryError(f"{meta}: damaged gallery sidecar ({e}); restore it") from e
        except GalleryError:
            raise
        except ClusterpipeError as e:
            raise GalleryError(f"{meta}: damaged gallery sidecar ({e})") from e
        vectors = None if vectors_path is None else load_vectors(vectors_path, len(entries), dim)
        try:
            index, vectors = _read_index(folder, index_file, plan, len(entries), dim, vectors)
            gallery = cls(folder, entries, vectors, encoder, settings, (index, plan))
        except GalleryError as e:
            if vectors is None:
                raise
            if not repair:
                raise GalleryError(
                    f"{str(e).split(';')[0]}; promote a run into the gallery again (any run, "
                    "even one already in it) to rebuild its index from the exact vectors"
                ) from e
            # The exact vectors passed their SHA-256: the index is rebuilt from them.
            log.warning("%s; rebuilding it from the gallery's exact vectors", str(e).split(";")[0])
            gallery = cls(folder, entries, _sane(folder, vectors), encoder, settings)
            gallery.rebuilt = True
        gallery.removed = removed
        return gallery

    def vectors(self) -> np.ndarray:
        """All exact vectors, row-aligned with entries (memory-mapped from disk when saved)."""
        return self._vectors

    def replace(
        self,
        keep: np.ndarray,
        new_vectors: np.ndarray,
        new_entries: list[dict],
        settings: IndexSettings | None = None,
    ) -> None:
        """Keep the rows where `keep` is true, append new ones, rebuild the index (with
        `settings`, else the gallery's own)."""
        kept = _sane(self.folder, self.vectors()[keep])
        vectors = np.vstack(
            [kept, np.asarray(new_vectors, np.float32).reshape(-1, self.dim)]
        ).astype(np.float32, copy=False)
        self.entries = [e for e, k in zip(self.entries, keep) if k] + new_entries
        self.settings = settings or self.settings
        previous = None if self.plan.exact else (self.index, self.plan)
        self.index, self.plan = gallery_index.build(vectors, self.settings, self.radius, previous)
        self._vectors = vectors

    def save(self) -> None:
        """Write the index and the exact vectors under content names, then the sidecar (the
        commit point), then remove the files the sidecar no longer names."""
        faiss = _faiss()
        self.folder.mkdir(parents=True, exist_ok=True)
        before = content_files(self.folder)
        sidecar = _stamp(self.folder / SIDECAR)
        written: list[Path] = []
        try:
            index_file, index_sha = write_content_named(
                self.folder, "index", ".faiss", lambda p: faiss.write_index(self.index, str(p))
            )
            written.append(index_file)
            vectors_file, vectors_sha = write_content_named(
                self.folder, "vectors", ".npy", save_npy(self._vectors)
            )
            written.append(vectors_file)
            self._write_sidecar(index_file, index_sha, vectors_file, vectors_sha)
        except BaseException:
            if _stamp(self.folder / SIDECAR) == sidecar:  # not committed (else: stopped after)
                for path in set(written) - before:  # what this save wrote is nobody's
                    with contextlib.suppress(OSError):
                        path.unlink()
            raise
        left = content_files(self.folder) | temp_files(self.folder)  # and a killed save's
        for old in sorted(left - {index_file, vectors_file}):
            try:  # the gallery is saved: a file left over is only untidy
                old.unlink()
            except OSError as e:
                log.warning("%s: could not remove %s (%s)", self.folder, old.name, e)
        self._vectors = load_vectors(vectors_file, len(self.entries), self.dim)

    def _write_sidecar(
        self, index_file: Path, index_sha: str, vectors_file: Path, vectors_sha: str
    ) -> None:
        """The commit point: the sidecar names the index and vectors files just written."""
        write_json(
            self.folder / SIDECAR,
            {
                "format": GALLERY_FORMAT,
                "encoder": self.encoder,
                "dim": self.dim,
                "metric": "l2",
                "index_type": type(self.index).__name__,
                "index_file": index_file.name,
                "index_sha256": index_sha,
                "vectors_file": vectors_file.name,
                "vectors_sha256": vectors_sha,
                "index": {"settings": asdict(self.settings), "plan": self.plan.to_json()},
                "removed": self.removed,
                "entries": self.entries,
            },
        )

    def people(self) -> dict[str, int]:
        """Name -> number of faces, largest first."""
        return dict(Counter(e["name"] for e in self.entries).most_common())

    def identify(self, encodings: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
        """Nearest gallery face of each encoding, at its exact distance; 'unknown' beyond
        threshold."""
        encodings = np.ascontiguousarray(encodings, np.float32).reshape(-1, self.dim)
        if len(encodings) == 0:
            return []
        if self.index.ntotal == 0:
            return [Match("unknown", float("inf"), "") for _ in encodings]
        out = []
        for a in range(0, len(encodings), 4096):  # candidates of a batch at a time
            dist, idx = gallery_index.search(
                self.index, self.plan, self._vectors, encodings[a : a + 4096]
            )
            for d, i in zip(dist[:, 0], idx[:, 0]):
                name = self.entries[int(i)]["name"] if i >= 0 else ""
                d = float(d)
                out.append(Match(name if d <= threshold and name else "unknown", d, name))
        return out

    def require(self, encoder: str, what: str) -> None:
        """Refuse to mix person spaces: `what` was encoded with `encoder`."""
        if encoder != self.encoder:
            raise GalleryError(
                f"{self.folder} holds {self.encoder} vectors but {what} uses {encoder}; "
                f"a gallery holds one person space: use another --gallery for {encoder} runs, "
                f"or make them with `run --encoder {self.encoder}`"
            )


@contextlib.contextmanager
def locked(
    folder: str | Path, create: bool = False, encoder: str = "dlib", repair: bool = False
) -> Iterator[Gallery]:
    """Open a gallery under its lock, for read-modify-write."""
    folder = Path(folder)
    if not create and not (folder / SIDECAR).exists():
        Gallery.open(folder)  # raises the clear "no gallery here" error
    made = make_folders(folder) if create else []
    lock = Lock(folder, wait=LOCK_WAIT_S)
    try:
        lock.__enter__()
    except BaseException:
        remove_folders(made)  # not locked: the lock file, if any, is another command's
        raise
    try:
        yield Gallery.open(folder, create=create, encoder=encoder, repair=repair)
    except BaseException:
        remove_unsaved(folder, made)
        raise
    finally:
        lock.__exit__()
