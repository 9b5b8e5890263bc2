"""A FAISS gallery of named faces: index in FAISS's own format plus a JSON sidecar."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ClusterpipeError, GalleryError
from .folders import check_name
from .store import FILE_MODE, Lock, read_json, write_json

log = logging.getLogger("clusterpipe")

SIDECAR = "gallery.json"
GALLERY_FORMAT = 2  # 2: the sidecar names the encoder (format 1 galleries are dlib's)
DIM = 128  # dlib's
# Exact search below this many vectors, HNSW above. Measured (bench/gallery.py): exact search
# of 1M faces costs 28 ms per single query (1.2 ms batched), less than encoding one face, while
# HNSW took 146 s to build and lost 4% of same-person matches at efSearch 128.
HNSW_MIN = 2_000_000
# efSearch 256 ships, twice the measured 128, for recall over speed; 256 itself is unmeasured.
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 256
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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def encoder_dim(encoder: str) -> int:
    """Vector size of a person space."""
    from .encoders import Encoder

    return DIM if encoder == "dlib" else Encoder.get(encoder).dim


def build_index(vectors: np.ndarray, dim: int = DIM) -> Any:
    """Exact L2 index for small galleries, HNSW for large ones."""
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    if len(vectors) >= HNSW_MIN:
        index = faiss.IndexHNSWFlat(dim, HNSW_M)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatL2(dim)
    if len(vectors):
        index.add(vectors)
    return index


class Gallery:
    """People's face vectors in one person space (`encoder`); row i of the index is entries[i]
    of the sidecar."""

    def __init__(self, folder: Path, index, entries: list[dict], encoder: str = "dlib") -> None:
        self.folder = Path(folder)
        self.index = index
        self.entries = entries
        self.encoder = encoder
        self.dim = encoder_dim(encoder)

    @classmethod
    def open(cls, folder: str | Path, create: bool = False, encoder: str = "dlib") -> Gallery:
        """Load a gallery; with create, an empty one for `encoder` if the folder has none."""
        folder = Path(folder)
        meta = folder / SIDECAR
        if not meta.exists():
            if create:
                dim = encoder_dim(encoder)
                return cls(folder, build_index(np.zeros((0, dim), np.float32), dim), [], encoder)
            raise GalleryError(
                f"{folder}: no gallery here ({SIDECAR} missing); create one with "
                "`clusterpipe promote OUT --gallery DIR`"
            )
        try:
            data = read_json(
                meta,
                "gallery sidecar",
                "restore it from a backup or promote your runs into a new gallery",
            )
        except ClusterpipeError as e:
            raise GalleryError(str(e)) from e
        try:
            if data["format"] not in (1, GALLERY_FORMAT):
                raise GalleryError(f"{meta}: gallery format {data['format']} is not supported")
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
            index_path = folder / Path(str(data["index_file"])).name
            expected_sha = str(data["index_sha256"])
            for entry in entries:
                check_name(entry["name"])
        except (KeyError, TypeError) as e:
            raise GalleryError(f"{meta}: damaged gallery sidecar ({e}); restore it") from e
        except ClusterpipeError as e:
            raise GalleryError(f"{meta}: damaged gallery sidecar ({e})") from e
        if not index_path.is_file():
            raise GalleryError(
                f"{index_path}: gallery index missing; restore it or rebuild the "
                "gallery by promoting your runs again"
            )
        if _sha256(index_path) != expected_sha:
            raise GalleryError(
                f"{index_path}: index does not match its sidecar (damaged or "
                "tampered with); restore it or promote your runs again"
            )
        try:
            index = _faiss().read_index(str(index_path))
        except RuntimeError as e:
            raise GalleryError(f"{index_path}: not a FAISS index ({str(e).splitlines()[0]})") from e
        if index.d != dim or index.ntotal != len(entries):
            raise GalleryError(
                f"{index_path}: {index.ntotal} vectors for {len(entries)} entries; "
                "promote your runs again"
            )
        return cls(folder, index, entries, encoder)

    def vectors(self) -> np.ndarray:
        """All vectors, row-aligned with entries."""
        if self.index.ntotal == 0:
            return np.zeros((0, self.dim), np.float32)
        return self.index.reconstruct_n(0, self.index.ntotal)

    def replace(self, keep: np.ndarray, new_vectors: np.ndarray, new_entries: list[dict]) -> None:
        """Keep the rows where `keep` is true, append new ones, rebuild the index."""
        vectors = np.vstack(
            [self.vectors()[keep], np.asarray(new_vectors, np.float32).reshape(-1, self.dim)]
        )
        self.entries = [e for e, k in zip(self.entries, keep) if k] + new_entries
        self.index = build_index(vectors, self.dim)

    def save(self) -> None:
        """Write the index under a content name, then the sidecar (the commit point)."""
        faiss = _faiss()
        self.folder.mkdir(parents=True, exist_ok=True)
        # A fresh, unpredictable name created exclusively: a planted symlink cannot redirect it.
        fd, name = tempfile.mkstemp(prefix=".index.", suffix=".tmp", dir=self.folder)
        os.close(fd)
        tmp = Path(name)
        try:
            faiss.write_index(self.index, str(tmp))
            os.chmod(tmp, FILE_MODE)
            sha = _sha256(tmp)
            final = self.folder / f"index-{sha[:12]}.faiss"
            os.replace(tmp, final)
        except RuntimeError as e:
            raise GalleryError(f"{self.folder}: writing the index failed ({e})") from e
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        write_json(
            self.folder / SIDECAR,
            {
                "format": GALLERY_FORMAT,
                "encoder": self.encoder,
                "dim": self.dim,
                "metric": "l2",
                "index_type": type(self.index).__name__,
                "index_file": final.name,
                "index_sha256": sha,
                "entries": self.entries,
            },
        )
        for old in self.folder.glob("index-*.faiss"):
            if old != final:
                old.unlink()

    def people(self) -> dict[str, int]:
        """Name -> number of faces, largest first."""
        return dict(Counter(e["name"] for e in self.entries).most_common())

    def identify(self, encodings: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[Match]:
        """Nearest gallery face of each encoding; 'unknown' beyond threshold."""
        encodings = np.ascontiguousarray(encodings, np.float32).reshape(-1, self.dim)
        if len(encodings) == 0:
            return []
        if self.index.ntotal == 0:
            return [Match("unknown", float("inf"), "") for _ in encodings]
        d2, idx = self.index.search(encodings, 1)
        out = []
        for dist2, i in zip(d2[:, 0], idx[:, 0]):
            name = self.entries[int(i)]["name"] if i >= 0 else ""
            dist = float(np.sqrt(max(0.0, float(dist2))))
            out.append(Match(name if dist <= threshold and name else "unknown", dist, name))
        return out

    def require(self, encoder: str, what: str) -> None:
        """Refuse to mix person spaces: `what` was encoded with `encoder`."""
        if encoder != self.encoder:
            raise GalleryError(
                f"{self.folder} holds {self.encoder} vectors but {what} uses {encoder}; "
                f"use --encoder {self.encoder}, or another gallery for {encoder}"
            )


@contextlib.contextmanager
def locked(folder: str | Path, create: bool = False, encoder: str = "dlib"):
    """Open a gallery under its lock, for read-modify-write."""
    folder = Path(folder)
    if not create and not (folder / SIDECAR).exists():
        Gallery.open(folder)  # raises the clear "no gallery here" error
    with Lock(folder, wait=LOCK_WAIT_S):
        yield Gallery.open(folder, create=create, encoder=encoder)
