"""Probe videos and sample frames at exact timestamps."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, not_utf8
from ..store.records import VideoInfo
from .decoders import Decoder
from .samples import MAX_SANE_FPS, ReadReport, Sample

__all__ = ["ReadReport", "Sample", "probe", "resize_to_fit", "sample_frames", "fit_size"]

log = logging.getLogger("clusterpipe")

VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".ts"}


def video_key(path: Path) -> str:
    """A stable, file-name-safe key: the stem plus a hash of size and head/tail bytes."""
    size = path.stat().st_size
    h = hashlib.sha1(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(65536))
        if size > 65536:
            f.seek(max(0, size - 65536))
            h.update(f.read(65536))
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("._")[:40] or "video"
    return f"{stem}-{h.hexdigest()[:8]}"


def _check_file(path: Path) -> None:
    shown = not_utf8(str(path))
    if shown is not None:  # OpenCV would crash on it
        raise InputError(f"{shown}: the file's name is not valid UTF-8; rename it")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, give a video file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (check its permissions)")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")


def probe(path: str | os.PathLike) -> VideoInfo:
    """Open a video and read its size, fps and length; raise InputError if it is not a video."""
    p = Path(path)
    _check_file(p)
    if cv2.haveImageReader(str(p)):
        raise InputError(f"{p}: is an image, not a video (identify takes images)")
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            if _mp4_without_index(p):
                raise InputError(
                    f"{p}: truncated or unfinished MP4: it has video data but no index (moov "
                    "box), so no frame can be located; the recording probably stopped early"
                )
            raise InputError(f"{p}: not a video OpenCV can open (unknown or damaged format)")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0:
            raise InputError(f"{p}: has no video stream (audio-only or damaged)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if not cap.grab():
            raise InputError(f"{p}: no frame could be decoded (damaged or unsupported codec)")
    finally:
        cap.release()
    if not (0 < fps <= MAX_SANE_FPS) or math.isnan(fps):
        log.warning("%s: container reports fps=%s; using frame timestamps only", p, fps)
        fps = 0.0
    if count < 0 or count > 10_000_000:
        count = 0
    duration = count / fps if fps and count else 0.0
    return VideoInfo(
        path=str(p.resolve()),
        key=video_key(p),
        width=width,
        height=height,
        fps=fps,
        frame_count=count,
        duration_s=round(duration, 3),
        size_bytes=p.stat().st_size,
    )


def _mp4_without_index(path: Path) -> bool:
    """True for an ISO-BMFF file whose top-level boxes hold 'mdat' but no 'moov'."""
    boxes: set[bytes] = set()
    size = path.stat().st_size
    with path.open("rb") as f:
        pos = 0
        while pos + 8 <= size and len(boxes) < 64:
            f.seek(pos)
            head = f.read(16)
            length, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")
            elif length == 0:
                length = size - pos
            if length < 8 or not kind.isascii():
                break
            boxes.add(kind)
            pos += length
    return b"mdat" in boxes and b"moov" not in boxes


def fit_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """Size that fits in max_width x max_height with the aspect kept; never enlarges."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_to_fit(image: np.ndarray, max_width: int, max_height: int) -> np.ndarray:
    """Shrink an image to fit the box, keeping its aspect ratio; never enlarges."""
    h, w = image.shape[:2]
    nw, nh = fit_size(w, h, max_width, max_height)
    if (nw, nh) == (w, h):
        return image
    return cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)


def sample_frames(
    path: str,
    fps: float = 1.0,
    report: ReadReport | None = None,
    keep: Callable[[float], bool] | None = None,
    start_s: float = 0.0,
    until: Callable[[float], bool] | None = None,
    decoder: str = "pyav",
) -> Iterator[Sample]:
    """Yield the first frame at or after each k/fps s (k = 0, 1, ...), decoding only those.

    Targets come from the stream's timestamps, not from counting frames, so a variable frame
    rate or a wrong container fps cannot make the sampling drift. `keep(time_s)` can veto the
    decoding of a sampled frame (resume skips finished segments). With `start_s` the stream is
    sought to SEEK_MARGIN_S before it and decoded forward to the exact targets from `start_s`
    on; `until(time_s)` ends the pass at the first frame it is true for (a segment's end).
    `decoder` names a decoders.Decoder ("pyav" or "opencv").
    """
    report = report if report is not None else ReadReport()
    return Decoder.get(decoder)().samples(path, fps, report, keep, start_s, until)
