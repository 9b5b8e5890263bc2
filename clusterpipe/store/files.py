"""OUT/faces.jsonl and OUT/vectors.npy, written atomically and read back checked."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import StoreError
from .atomic import atomic_open, open_regular
from .records import Face


def read_vectors(path: Path, rows: int, dim: int) -> np.ndarray:
    """A float32 (rows, dim) .npy written by clusterpipe; ValueError if it is anything else."""
    with open_regular(path, binary=True) as f:
        vec = np.load(f, allow_pickle=False)
    if vec.dtype != np.float32 or vec.shape != (rows, dim) or not np.isfinite(vec).all():
        raise ValueError(f"{path.name}: not {rows}x{dim} finite float32 vectors")
    return vec


def write_vectors(path: Path, vectors: np.ndarray) -> None:
    """Write a float32 .npy atomically (no pickle)."""
    with atomic_open(path, "wb") as f:
        np.save(f, np.asarray(vectors, np.float32), allow_pickle=False)


def write_faces(path: Path, faces: Iterable[Face]) -> int:
    """Write faces.jsonl atomically, one face per line; return the count."""
    n = 0
    with atomic_open(path) as f:
        for face in faces:
            f.write(json.dumps(face.to_json(), separators=(",", ":")))
            f.write("\n")
            n += 1
    return n


def read_faces(path: Path) -> list[Face]:
    """Read faces.jsonl; a clear error naming the line if it is damaged."""
    faces = []
    line_of: dict[str, int] = {}  # face id -> its line: an id twice would mix two faces' files
    try:
        with open_regular(path) as f:
            for no, line in enumerate(f, 1):
                if line.strip():
                    try:
                        faces.append(Face.from_json(json.loads(line)))
                    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                        raise StoreError(f"{path}:{no}: damaged face record ({e})") from e
                    except RecursionError:  # nested deeper than the parser goes: not ours
                        msg = f"{path}:{no}: damaged face record (nested too deep)"
                        raise StoreError(msg) from None
                    first = line_of.setdefault(faces[-1].id, no)
                    if first != no:
                        fid = faces[-1].id
                        msg = f"{path}:{no}: damaged: face id {fid} is also on line {first}"
                        raise StoreError(msg)
    except FileNotFoundError:
        raise StoreError(f"{path}: not found; is this a clusterpipe output folder?") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"{path}: cannot be read ({e})") from e
    return faces
