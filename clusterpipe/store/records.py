"""Records that flow between stages."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import StoreError

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in original video pixels


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about one video, plus a content key for ids."""

    path: str
    key: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    size_bytes: int


@dataclass
class VideoStats:
    """What reading one video saw (beside its VideoInfo in run.json's inputs): frames read, the
    last timestamp decoded, damaged frames skipped; whether it ended before the container said
    and how much was skipped; or why it failed."""

    frames_read: int | None = None  # None where the engine reads a video in overlapping parts
    last_time_s: float = 0.0
    damaged_frames: int = 0
    ended_early: bool = False
    skipped_s: float = 0.0
    error: str | None = None
    # Stretches (start, end in seconds) that could not be decoded, with frames read after them:
    # damage inside a video read in parts (Dask), each part seeking past the one before.
    gaps: tuple[tuple[float, float], ...] = ()

    @classmethod
    def read(cls, video: VideoInfo, frames_read: int | None, last_t: float, damaged: int):
        """The stats of a finished read, judged against what the container said: a read that
        stops short of it (by frames where counted, else by time) ended early."""
        if frames_read is not None and video.frame_count:
            early = frames_read < 0.98 * video.frame_count - 2
        else:
            fps = video.fps if video.fps > 0 else 30.0
            early = video.duration_s > 0 and last_t < 0.98 * video.duration_s - 2 / fps
        return cls(
            frames_read,
            round(last_t, 3),
            damaged,
            bool(early),
            round(max(0.0, video.duration_s - last_t), 3) if early else 0.0,
        )

    def to_json(self) -> dict:
        """run.json's fields (a failed read: only its error)."""
        if self.error is not None:
            return {"error": self.error}
        d: dict = {"last_time_s": self.last_time_s, "damaged_frames": self.damaged_frames}
        if self.frames_read is not None:
            d["frames_read"] = self.frames_read
        if self.ended_early:
            d.update(ended_early=True, skipped_s=self.skipped_s)
        if self.gaps:
            d["gaps"] = [list(g) for g in self.gaps]
        return d

    @classmethod
    def from_json(cls, d: dict) -> VideoStats:
        """From run.json (untrusted): ValueError unless every field is what to_json writes."""
        if "error" in d:
            if not isinstance(d["error"], str):
                raise ValueError("error is not a string")
            return cls(error=d["error"])
        frames = d.get("frames_read")
        return cls(
            None if frames is None else _int(frames, 0),
            _finite(d["last_time_s"]),
            _int(d.get("damaged_frames", 0), 0),
            d.get("ended_early", False) is True,
            _finite(d.get("skipped_s", 0.0)),
            gaps=_spans(d.get("gaps", [])),
        )

    def damage(self) -> str | None:
        """What was lost in reading, in a few words, or None."""
        said = []
        if self.ended_early:
            said.append(f"read up to {self.last_time_s:.1f} s, skipped {self.skipped_s:.1f} s")
        if self.gaps:
            spans = ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in self.gaps)
            said.append(f"could not decode {spans}")
        return "damaged or truncated: " + "; ".join(said) if said else None


def _spans(v: object) -> tuple[tuple[float, float], ...]:
    """[[start, end], ...] from run.json (untrusted): ValueError unless it is that."""
    if not isinstance(v, list) or not all(isinstance(g, list) and len(g) == 2 for g in v):
        raise ValueError("gaps is not a list of [start, end]")
    return tuple((_finite(a), _finite(b)) for a, b in v)


@dataclass
class Face:
    """One detected face; `cluster` is -1 for noise until clustering assigns it."""

    id: str
    video: str
    frame_index: int
    time_s: float
    box: Box
    encoding: list[float] = field(repr=False)
    cluster: int = -1
    nearest: tuple[int, float] | None = None  # noise only: nearest cluster and its distance
    # 5 (x, y) in original pixels: left eye, right eye, nose, left and right mouth corner
    # (None where the detector gives none: hog, cnn).
    landmarks: list[list[float]] | None = None
    score: float | None = None  # the detector's confidence (None for older records)
    # The extra encoder's vector (EncodeSettings.encoder), kept in .npy sidecars, never in JSON.
    vector: object = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        """Plain-JSON form, one line of faces.jsonl."""
        d = {
            "id": self.id,
            "video": self.video,
            "frame_index": self.frame_index,
            "time_s": self.time_s,
            "box": list(self.box),
            "cluster": self.cluster,
            "encoding": self.encoding,
        }
        if self.nearest is not None:
            d["nearest_cluster"], d["nearest_distance"] = self.nearest
        if self.landmarks is not None:
            d["landmarks"] = self.landmarks
        if self.score is not None:
            d["score"] = self.score
        return d

    @classmethod
    def from_json(cls, d: dict) -> Face:
        """Inverse of to_json; ValueError (or KeyError/TypeError) on anything malformed: files
        read back are untrusted (wrong types, NaN/Infinity, ids that would form paths)."""
        if not isinstance(d, dict):
            raise TypeError("a face record must be a JSON object")
        box = tuple(_int(v) for v in d["box"])
        raw = d["encoding"]
        # Checked as a whole: a run's faces.jsonl holds 128 numbers per face, read on every
        # command (the review page reads 10,000s of faces).
        if len(box) != 4 or not isinstance(raw, list) or len(raw) != 128:
            raise ValueError("box must have 4 values and encoding 128")
        if not set(map(type, raw)) <= _NUMBER_TYPES:
            raise ValueError("the encoding holds something that is not a number")
        values = np.array(raw, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("the encoding holds a value that is not finite")
        enc = values.tolist()
        marks = d.get("landmarks")
        if marks is not None:
            marks = [[_finite(x), _finite(y)] for x, y in marks]
            if len(marks) != 5:
                raise ValueError("landmarks must be 5 points")
        fid = d["id"]
        if not isinstance(fid, str) or not SAFE_ID.match(fid):
            raise ValueError(f"face id {str(fid)[:40]!r} is not one clusterpipe makes")
        nearest = None
        if "nearest_cluster" in d:
            nearest = (_int(d["nearest_cluster"]), _finite(d["nearest_distance"]))
        score = d.get("score")
        return cls(
            id=fid,
            video=str(d["video"]),
            frame_index=_int(d["frame_index"], 0),
            time_s=_finite(d["time_s"]),
            box=box,
            encoding=enc,
            cluster=_int(d.get("cluster", -1), -1),
            nearest=nearest,
            landmarks=marks,
            score=_finite(score) if score is not None else None,
        )


# <video key>-<frame index, 7 digits>-<k>; the key is a file stem (no separators, no leading
# dot) plus a hash. Ids become crop file names, so nothing else is accepted from a file.
SAFE_ID = re.compile(r"^(?![.])[^/\\\x00]{1,200}-\d{7,}-\d+$")


_NUMBER_TYPES = {float, int}  # what JSON numbers parse to (bool, a subclass of int, is not)


def _finite(v) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{v!r} is not a number")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{v!r} is not a finite number")
    return f


def _int(v, lo: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{v!r} is not an integer")
    if lo is not None and v < lo:
        raise ValueError(f"{v} is below {lo}")
    return v


def face_id(video_key: str, frame_index: int, k: int) -> str:
    """Stable id of the k-th face (left to right) of a frame; safe in file names."""
    return f"{video_key}-{frame_index:07d}-{k}"


def person_space(faces: Sequence[Face], encoder: str) -> np.ndarray:
    """The vectors clustered and searched, (n, dim): dlib's encodings, or the extra encoder's."""
    rows: list
    if encoder == "dlib":
        rows = [f.encoding for f in faces]
    elif any(f.vector is None for f in faces):
        raise StoreError(f"some faces have no {encoder} vectors; run again with --fresh")
    else:
        rows = [np.asarray(f.vector) for f in faces]
    return np.array(rows, dtype=np.float64) if rows else np.zeros((0, 0))
