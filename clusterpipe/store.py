"""The output folder on disk: atomic writes, JSON shards, resume, lock, faces.jsonl."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .config import SHARD_FORMAT
from .errors import BusyError, StoreError
from .records import Face, VideoInfo, face_id

log = logging.getLogger("clusterpipe")

FACES_FILE = "faces.jsonl"
RUN_FILE = "run.json"
VECTORS_FILE = "vectors.npy"  # the extra encoder's vectors, row i = line i of faces.jsonl
SHARDS_DIR = "shards"
LOCK_FILE = ".clusterpipe.lock"


def _disk_error(path: Path, e: OSError) -> StoreError:
    if e.errno == errno.ENOSPC:
        return StoreError(
            f"{path}: no space left on the device; free some space and run again "
            "(finished shards are kept)"
        )
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR):
        return StoreError(f"{path}: cannot write here ({e.strerror}); choose another --out")
    return StoreError(f"{path}: write failed ({e.strerror or e})")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once, at import (os.umask can only be read by setting it, which is not thread-safe).
FILE_MODE = 0o666 & ~_umask()


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


def read_json(path: Path, what: str = "file", advice: str = "delete it") -> dict:
    """Read a JSON object; a clear StoreError (ending with `advice`) if it is damaged."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StoreError(f"{path}: damaged {what} ({e}); {advice}") from e
    except RecursionError:  # nested deeper than Python's parser recurses: not ours
        raise StoreError(f"{path}: damaged {what} (nested too deep); {advice}") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path}: damaged {what} (not a JSON object); {advice}")
    return data


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


class ShardStore:
    """JSON shards under OUT/shards/<video key>/<segment>.json for one settings fingerprint."""

    def __init__(self, out: Path, fingerprint: str) -> None:
        self.root = Path(out) / SHARDS_DIR
        self.fingerprint = fingerprint

    def prepare(self, fresh: bool, settings: dict) -> None:
        """Check that finished shards were made with the same settings, or wipe them (fresh)."""
        meta = self.root / "settings.json"
        if fresh and self.root.exists():
            shutil.rmtree(self.root)
        if meta.exists():
            old = read_json(meta, "shard settings", "run with --fresh")
            if old.get("fingerprint") != self.fingerprint:
                raise StoreError(
                    f"{self.root.parent} holds results computed with other encoding settings "
                    f"({_diff(old.get('settings', {}), settings)}); run with --fresh to start "
                    "over, or choose another --out"
                )
        else:
            write_json(meta, {"fingerprint": self.fingerprint, "settings": settings})

    def path(self, video_key: str, segment: int) -> Path:
        return self.root / video_key / f"{segment:06d}.json"

    def write(
        self,
        video_key: str,
        segment: int,
        frames: list[dict],
        faces: list[Face],
        crops: dict[str, dict] | None = None,
        vectors: dict | None = None,
    ) -> None:
        """Write one finished segment atomically (the JSON shard is the commit point)."""
        data = {
            "format": SHARD_FORMAT,
            "fingerprint": self.fingerprint,
            "video": video_key,
            "segment": segment,
            "frames": frames,
            "faces": [f.to_json() for f in faces],
            "crops": crops or {},
        }
        if vectors:
            data["vectors"] = vectors
        write_json(self.path(video_key, segment), data, readable=False)

    def write_segment(self, video: VideoInfo, segment: int, results: list) -> None:
        """Write the crops pack, then the shard, of a segment's (frame_index, time_s, result)."""
        frames, faces, crops, blobs, vectors = [], [], {}, [], []
        offset = 0
        for frame_index, time_s, res in sorted(results, key=lambda r: r[0]):
            frames.append(
                {
                    "frame_index": frame_index,
                    "time_s": time_s,
                    "size": list(res.small_size),
                    "sig": res.signature,
                }
            )
            marks = res.landmarks or [None] * len(res.boxes)
            scores = res.scores or [None] * len(res.boxes)
            for k, (box, enc, jpg, labels, m, sc) in enumerate(
                zip(res.boxes, res.encodings, res.crops, res.labels, marks, scores)
            ):
                fid = face_id(video.key, frame_index, k)
                face = Face(fid, video.path, frame_index, time_s, tuple(box), enc)
                face.landmarks, face.score = m, sc
                faces.append(face)
                crops[fid] = {"offset": offset, "length": len(jpg), "labels": labels}
                blobs.append(jpg)
                offset += len(jpg)
            if res.vectors is not None:
                vectors.append(np.asarray(res.vectors, np.float32))
        meta = None
        if vectors:
            stacked = np.concatenate(vectors).reshape(len(faces), -1)
            write_vectors(self.vectors_path(video.key, segment), stacked)
            meta = {"dim": int(stacked.shape[1])}
        with atomic_open(self.pack_path(video.key, segment), "wb") as f:
            for blob in blobs:
                f.write(blob)
        self.write(video.key, segment, frames, faces, crops, meta)

    def pack_path(self, video_key: str, segment: int) -> Path:
        return self.root / video_key / f"{segment:06d}.crops"

    def vectors_path(self, video_key: str, segment: int) -> Path:
        return self.root / video_key / f"{segment:06d}.vectors.npy"

    def read(self, path: Path) -> dict | None:
        """A finished shard, or None if it is damaged or from other settings (it is redone)."""
        try:
            data = read_json(path, "shard")
            if data.get("format") != SHARD_FORMAT or data.get("fingerprint") != self.fingerprint:
                return None
            data["faces"] = [Face.from_json(d) for d in data["faces"]]
            pack = path.with_suffix(".crops")
            _check_shard(path, data, pack.stat().st_size if pack.exists() else -1)
            data["pack"] = pack
            if "vectors" in data:
                for face, v in zip(data["faces"], self._vectors(path, data)):
                    face.vector = v
            return data
        except (StoreError, KeyError, TypeError, ValueError, AttributeError, OSError) as e:
            log.warning("%s: unreadable shard, it will be recomputed (%s)", path, e)
            return None

    @staticmethod
    def _vectors(path: Path, data: dict) -> np.ndarray:
        """The shard's sidecar vectors, checked against the shard (ValueError if they do not
        match it: the shard is then redone)."""
        dim = int(data["vectors"]["dim"])
        return read_vectors(path.with_suffix(".vectors.npy"), len(data["faces"]), dim)

    def done_segments(self, video_key: str) -> set[int]:
        """Segments of a video with a valid finished shard."""
        folder = self.root / video_key
        if not folder.is_dir():
            return set()
        done = set()
        for p in folder.glob("[0-9]*.json"):
            if self.read(p) is not None:
                done.add(int(p.stem))
        return done

    def merge(self, videos: Iterable[VideoInfo]) -> tuple[list[Face], dict[str, tuple], list]:
        """Every valid shard of these videos, in order: the faces; face id -> (crops pack,
        offset, length, YOLO labels); and (video path, frame index, signature) per sample."""
        faces: list[Face] = []
        crops: dict[str, tuple] = {}
        samples: list[tuple] = []
        for v in videos:
            for shard in self.iter_shards(v.key):
                faces += shard["faces"]
                samples += [(v.path, fr["frame_index"], fr.get("sig")) for fr in shard["frames"]]
                for fid, c in shard["crops"].items():
                    crops[fid] = (shard["pack"], c["offset"], c["length"], c["labels"])
        return faces, crops, samples

    def iter_shards(self, video_key: str) -> Iterator[dict]:
        """Valid shards of a video in segment order."""
        folder = self.root / video_key
        for p in sorted(folder.glob("[0-9]*.json")):
            data = self.read(p)
            if data is not None:
                yield data


def _check_shard(path: Path, data: dict, pack_size: int) -> None:
    """ValueError unless a shard read back is one this store wrote for this file: its video and
    segment, sane frames, each face's id derived from them, crops inside the pack."""
    if data.get("video") != path.parent.name or data.get("segment") != int(path.stem):
        raise ValueError("it names another video or segment")
    for fr in data["frames"]:
        Face.from_json({**_PROBE, "frame_index": fr["frame_index"], "time_s": fr["time_s"]})
        size, sig = fr["size"], fr.get("sig")
        if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
            raise ValueError("a frame size is not two positive integers")
        if sig is not None and (
            len(sig) != SIGNATURE_LEN
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in sig)
        ):
            raise ValueError(f"a frame signature is not {SIGNATURE_LEN} finite numbers")
    crops = data["crops"]
    if not isinstance(crops, dict) or {f.id for f in data["faces"]} != set(crops):
        raise ValueError("its crops do not match its faces")
    for f in data["faces"]:
        if not f.id.startswith(f"{path.parent.name}-{f.frame_index:07d}-"):
            raise ValueError(f"face id {f.id!r} does not belong to this shard")
    end = 0
    for c in crops.values():
        off, n = c["offset"], c["length"]
        if not (isinstance(off, int) and isinstance(n, int) and 0 <= off and 0 <= n):
            raise ValueError("a crop offset or length is not a non-negative integer")
        if off + n > pack_size or not all(isinstance(x, str) for x in c["labels"]):
            raise ValueError("a crop lies outside its crops pack")
        end = max(end, off + n)
    if end != pack_size:
        raise ValueError("its crops pack is missing or incomplete")


# A valid face record, to check a frame's index and time with Face.from_json's rules.
_PROBE = {"id": "x-0000000-0", "video": "", "box": [0, 0, 1, 1], "encoding": [0.0] * 128}
SIGNATURE_LEN = 72


def _diff(old: dict, new: dict) -> str:
    keys = sorted(set(old) | set(new))
    parts = [f"{k}: {old.get(k)} -> {new.get(k)}" for k in keys if old.get(k) != new.get(k)]
    return ", ".join(parts) or "format changed"


def read_vectors(path: Path, rows: int, dim: int) -> np.ndarray:
    """A float32 (rows, dim) .npy written by clusterpipe; ValueError if it is anything else."""
    with open(path, "rb") as f:
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
    try:
        with open(path, encoding="utf-8") as f:
            for no, line in enumerate(f, 1):
                if line.strip():
                    try:
                        faces.append(Face.from_json(json.loads(line)))
                    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                        raise StoreError(f"{path}:{no}: damaged face record ({e})") from e
    except FileNotFoundError:
        raise StoreError(f"{path}: not found; is this a clusterpipe output folder?") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"{path}: cannot be read ({e})") from e
    return faces
