"""JSON shards under OUT/shards: one per video segment, checked when read back, for resume."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..config import SHARD_FORMAT
from ..errors import StoreError
from .atomic import atomic_open, read_json, write_json
from .files import read_vectors, write_vectors
from .layout import SHARDS_DIR
from .records import Face, VideoInfo, VideoStats, face_id
from .runinfo import RunInfo, read_run_info

log = logging.getLogger("clusterpipe")
# What a store writes (sample.video.video_key names the folders), and atomic writes' temp files.
_VIDEO_KEY = re.compile(r"[A-Za-z0-9_.-]{1,40}-[0-9a-f]{8}")
_SHARD_FILE = re.compile(r"\.?[0-9]{6}\.(json|crops|vectors\.npy)(\.[A-Za-z0-9_]+\.tmp)?")


def segment_of(time_s: float, segment_seconds: float) -> int:
    """Index of the segment (--segment-seconds, the unit of shards) holding a timestamp."""
    return int(math.floor(time_s / segment_seconds + 1e-9))


class CropRef(NamedTuple):
    """Where a face's crop is: its shard's crops pack, offset and length; its YOLO labels."""

    pack: Path
    offset: int
    length: int
    labels: list[str]


class SampleRef(NamedTuple):
    """One sampled frame: its video's path, frame index and signature (tracks follow it)."""

    video: str
    frame_index: int
    sig: list[float] | None


@dataclass
class MergeResult:
    """Every finished shard of a run's videos: faces, crops by face id, samples in order."""

    faces: list[Face] = field(default_factory=list)
    crops: dict[str, CropRef] = field(default_factory=dict)
    samples: list[SampleRef] = field(default_factory=list)


class ShardStore:
    """JSON shards under OUT/shards/<video key>/<segment>.json for one settings fingerprint."""

    def __init__(self, out: Path, fingerprint: str) -> None:
        self.root = Path(out) / SHARDS_DIR
        self.fingerprint = fingerprint

    def prepare(self, fresh: bool, settings: dict) -> None:
        """Check that finished shards were made with the same settings, or wipe them (fresh)."""
        meta = self.root / "settings.json"
        if fresh and self.root.is_dir():
            self.wipe()
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

    def wipe(self) -> None:
        """Remove the shards and their settings (`--fresh`): only files named as this store
        names them, and their folders once empty; anything else the user put there stays."""
        for p in [self.root / "settings.json", *self.root.glob(".settings.json.*.tmp")]:
            p.unlink(missing_ok=True)
        for folder in self.root.iterdir():
            if not _VIDEO_KEY.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir():
                continue
            for f in folder.iterdir():
                if _SHARD_FILE.fullmatch(f.name) and not f.is_dir():
                    f.unlink()
            if not any(folder.iterdir()):
                folder.rmdir()

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

    def merge(self, videos: Iterable[VideoInfo]) -> MergeResult:
        """Every valid shard of these videos, in order."""
        merged = MergeResult()
        for v in videos:
            for shard in self.iter_shards(v.key):
                merged.faces += shard["faces"]
                merged.samples += [
                    SampleRef(v.path, fr["frame_index"], fr.get("sig")) for fr in shard["frames"]
                ]
                for fid, c in shard["crops"].items():
                    merged.crops[fid] = CropRef(
                        shard["pack"], c["offset"], c["length"], c["labels"]
                    )
        return merged

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


def load_samples(out: Path) -> list[SampleRef]:
    """(video path, frame_index, signature) of every sampled frame of a run, in time order."""
    info = read_run_info(Path(out))
    store = ShardStore(Path(out), info.shard_fingerprint)
    samples = []
    for v in info.inputs:
        if not v.video.key:
            continue
        for shard in store.iter_shards(v.video.key):
            samples += [
                SampleRef(v.video.path, fr["frame_index"], fr.get("sig")) for fr in shard["frames"]
            ]
    return samples


def read_before(
    key: str, done: Collection[int], previous: RunInfo | None, segment_seconds: float
) -> VideoStats | None:
    """The read stats of a video that an earlier run (its run.json) read to its end and whose
    every segment up to there has a finished shard (`done`): nothing of it needs a process."""
    for v in previous.inputs if previous else []:
        stats = v.read
        if v.video.key != key or stats is None or stats.ended_early or stats.error is not None:
            continue
        if stats.frames_read is None or stats.last_time_s < 0:
            return None  # read in overlapping parts (Dask): not known to be whole
        if set(range(segment_of(stats.last_time_s, segment_seconds) + 1)) <= set(done):
            return stats
    return None
